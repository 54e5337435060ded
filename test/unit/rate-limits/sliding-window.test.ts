import { describe, expect, it } from 'vitest';
import { MemoryWindowCounter, msUntilAllowed, slidingCount, slidingWindowStore } from '../../../src/rate-limits/sliding-window.ts';

const MINUTE = 60_000;

describe('sliding-window rate limits', () => {
  it('weighs the previous window by how much of it still overlaps', () => {
    const counts = { current: 2, previous: 10, windowStartMs: 10 * MINUTE };
    expect(slidingCount(counts, MINUTE, 10 * MINUTE)).toBe(12);
    expect(slidingCount(counts, MINUTE, 10 * MINUTE + 15_000)).toBe(9.5);
    expect(slidingCount(counts, MINUTE, 11 * MINUTE)).toBe(2);
  });

  it('says how long until one more request fits', () => {
    // 10 per minute; 10 last minute, 2 so far: the previous window must fade to 7 (at 18 s).
    expect(msUntilAllowed({ current: 2, previous: 10, windowStartMs: 0 }, MINUTE, 10, 0)).toBeCloseTo(18_000, -1);
    expect(msUntilAllowed({ current: 2, previous: 10, windowStartMs: 0 }, MINUTE, 10, 40_000)).toBe(0);
    // This window is full: only in the next one, once this window's weight allows one more (at 66 s).
    expect(msUntilAllowed({ current: 10, previous: 0, windowStartMs: 0 }, MINUTE, 10, 20_000)).toBeCloseTo(46_000, -1);
  });

  it('refuses a burst across a window boundary that a fixed window would let through twice', async () => {
    const clock = { now: 10 * MINUTE - 1_000 };
    const Store = slidingWindowStore(new MemoryWindowCounter(), () => clock.now);
    const store = new Store();
    const incr = (key: string) => new Promise<{ current: number; ttl: number }>((resolve, reject) => store.incr(key, (err, res) => (err ? reject(err) : resolve(res!)), MINUTE, 5));
    // The whole allowance in the last second of one window…
    for (let i = 1; i <= 5; i++) expect((await incr('k')).current).toBe(i);
    expect((await incr('k')).current).toBeGreaterThan(5);
    // …and two seconds later, in the next window: still refused (a fixed window would allow 5 more), with a wait to honour.
    clock.now += 2_000;
    const next = await incr('k');
    expect(next.current).toBeGreaterThan(5);
    expect(next.ttl).toBeGreaterThan(0);
    // Honouring the wait, the next request fits.
    clock.now += next.ttl;
    expect((await incr('k2-other-key')).current).toBe(1);
    expect((await incr('k')).current).toBeLessThanOrEqual(5);
  });

  it('keeps callers apart', async () => {
    const Store = slidingWindowStore(new MemoryWindowCounter(), () => 0);
    const store = new Store();
    const incr = (key: string) => new Promise<number>((resolve) => store.incr(key, (_err, res) => resolve(res!.current), MINUTE, 1));
    expect(await incr('a')).toBe(1);
    expect(await incr('b')).toBe(1);
    expect(await incr('a')).toBe(2);
  });
});
