import { describe, expect, it } from 'vitest';
import { reconnectDelayMs } from '../../../web/src/live/reconnect.ts';

describe('live-event stream reconnect delay', () => {
  it('doubles from about a second to at most a minute, drawn from the upper half of each step', () => {
    expect([1, 2, 3, 4].map((n) => reconnectDelayMs(n, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect([1, 2, 3].map((n) => reconnectDelayMs(n, () => 0))).toEqual([500, 1_000, 2_000]);
    expect(reconnectDelayMs(30, () => 1)).toBe(60_000);
    expect(reconnectDelayMs(30, () => 0)).toBe(30_000);
  });
});
