import { describe, expect, it } from 'vitest';
import { errorBackoffMs, rateLimitBackoffMs, rateLimitDelayMs } from '../../../src/providers/replicate/backoff.ts';
import { isTerminalStatus } from '../../../src/providers/replicate/types.ts';

describe('Replicate backoff', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads Retry-After as seconds or as an HTTP date, else the seconds in the detail', () => {
    expect(rateLimitDelayMs('7', null, now)).toBe(7000);
    expect(rateLimitDelayMs('1.5', 'resets in ~30s', now)).toBe(1500);
    expect(rateLimitDelayMs('Thu, 01 Jan 2026 00:00:12 GMT', null, now)).toBe(12_000);
    expect(rateLimitDelayMs(null, 'Request was throttled. Your rate limit resets in ~30s.', now)).toBe(30_000);
    expect(rateLimitDelayMs('', 'Request was throttled. Expected available in 4 seconds.', now)).toBe(4000);
    expect(rateLimitDelayMs(null, 'Request was throttled.', now)).toBeNull();
  });

  it('never waits less than asked after a 429, and at most a quarter more', () => {
    expect(rateLimitBackoffMs(30_000, 1, () => 0)).toBe(30_000);
    expect(rateLimitBackoffMs(30_000, 1, () => 0.999_999)).toBeLessThanOrEqual(37_500);
    expect(rateLimitBackoffMs(null, 3, () => 0)).toBe(4000);
  });

  it('grows the error backoff exponentially up to a cap, with jitter in the upper half', () => {
    expect(errorBackoffMs(1, () => 0)).toBe(250);
    expect(errorBackoffMs(1, () => 0.999_999)).toBeLessThanOrEqual(500);
    expect(errorBackoffMs(3, () => 0)).toBe(1000);
    expect(errorBackoffMs(20, () => 0.999_999)).toBeLessThanOrEqual(10_000);
  });

  it('treats succeeded, failed, canceled and aborted as terminal', () => {
    expect(['succeeded', 'failed', 'canceled', 'aborted'].every(isTerminalStatus)).toBe(true);
    expect(['starting', 'processing', 'queued', ''].some(isTerminalStatus)).toBe(false);
  });
});
