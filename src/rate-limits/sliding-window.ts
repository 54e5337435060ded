/**
 * Sliding-window rate limiting, approximated from two fixed windows (the current one and the one
 * before, both aligned to multiples of the window length so every process agrees on them): the
 * previous window's count is weighted by how much of it still overlaps the last `windowMs`.
 * A fixed window lets a caller spend its whole allowance at the end of one window and again at the
 * start of the next (twice the limit in a moment); this does not, and needs two numbers per key.
 */
export interface WindowCounts {
  /** Hits in the current window, this one included. */
  current: number;
  /** Hits in the window before. */
  previous: number;
  /** When the current window started (epoch ms, a multiple of the window length). */
  windowStartMs: number;
}

export const windowStart = (nowMs: number, windowMs: number) => Math.floor(nowMs / windowMs) * windowMs;

/** The estimated hits in the last `windowMs`. */
export function slidingCount(counts: WindowCounts, windowMs: number, nowMs: number): number {
  const overlap = Math.max(0, 1 - (nowMs - counts.windowStartMs) / windowMs);
  return counts.previous * overlap + counts.current;
}

/**
 * Milliseconds until one more request would be allowed (0 when it would be now). Past hits only
 * age out: the previous window's weight falls to 0 at the end of the current one, and then the
 * current window becomes the previous one.
 */
export function msUntilAllowed(counts: WindowCounts, windowMs: number, max: number, nowMs: number): number {
  const end = counts.windowStartMs + windowMs;
  if (counts.current < max) {
    if (counts.previous === 0 || slidingCount(counts, windowMs, nowMs) + 1 <= max) return 0;
    // previous × (1 − (t − start)/W) + current + 1 ≤ max
    const t = counts.windowStartMs + windowMs * (1 - (max - 1 - counts.current) / counts.previous);
    return Math.max(0, Math.ceil(Math.min(t, end) - nowMs));
  }
  // Only in the next window: current × (1 − (t − end)/W) + 1 ≤ max
  const t = end + windowMs * (1 - (max - 1) / counts.current);
  return Math.max(1, Math.ceil(t - nowMs));
}

/**
 * A key's stored counts as seen at `nowMs`: unchanged within their window; one window later the
 * current count becomes `previous`; later still (or never stored) nothing counts.
 */
export function countsAt(stored: WindowCounts | undefined, windowMs: number, nowMs: number): WindowCounts {
  const start = windowStart(nowMs, windowMs);
  if (!stored || stored.windowStartMs < start - windowMs) return { current: 0, previous: 0, windowStartMs: start };
  if (stored.windowStartMs === start) return { current: stored.current, previous: stored.previous, windowStartMs: start };
  return { current: 0, previous: stored.current, windowStartMs: start };
}

/** What a counter backend does: count one hit (one atomic step) or read without counting. */
export interface WindowCounter {
  hit(key: string, windowMs: number, nowMs: number): Promise<WindowCounts>;
  peek(key: string, windowMs: number, nowMs: number): Promise<WindowCounts>;
}

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;

/** The shape @fastify/rate-limit instantiates with `new Store(globalOptions)` and derives per route with `child()`. */
export interface RateLimitStoreClass {
  new (options?: unknown): {
    incr(key: string, callback: Callback, timeWindowMs: number, max: number): void;
    read(key: string, callback: Callback, timeWindowMs: number, max: number): void;
    child(routeOptions: unknown): unknown;
  };
}

/**
 * A @fastify/rate-limit store counting sliding windows in `counter`: in memory for the embedded
 * process, in the database when several web processes must enforce one limit. The plugin refuses
 * when `current` exceeds the limit and reports `ttl` as the time to wait (Retry-After).
 */
export function slidingWindowStore(counter: WindowCounter, now: () => number = Date.now): RateLimitStoreClass {
  const answer = (counts: WindowCounts, windowMs: number, max: number, nowMs: number) => {
    const current = Math.ceil(slidingCount(counts, windowMs, nowMs) - 1e-9);
    // Refused: how long until the next request fits; allowed: when this window ends (for the headers).
    const ttl = current > max ? msUntilAllowed(counts, windowMs, max, nowMs) : counts.windowStartMs + windowMs - nowMs;
    return { current, ttl: Math.max(0, ttl) };
  };
  const settle = (promise: Promise<WindowCounts>, callback: Callback, windowMs: number, max: number, nowMs: number) =>
    promise.then(
      (counts) => callback(null, answer(counts, windowMs, max, nowMs)),
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
    );
  return class SlidingWindowStore {
    incr(key: string, callback: Callback, timeWindowMs: number, max: number): void {
      const nowMs = now();
      void settle(counter.hit(key, timeWindowMs, nowMs), callback, timeWindowMs, max, nowMs);
    }
    read(key: string, callback: Callback, timeWindowMs: number, max: number): void {
      const nowMs = now();
      void settle(counter.peek(key, timeWindowMs, nowMs), callback, timeWindowMs, max, nowMs);
    }
    child(): SlidingWindowStore {
      return new SlidingWindowStore();
    }
  };
}

/** Counters of the embedded process (one process: nothing to share). Forgotten two windows after their last hit. */
export class MemoryWindowCounter implements WindowCounter {
  readonly #entries = new Map<string, WindowCounts & { windowMs: number }>();
  #lastSweepMs = 0;

  async hit(key: string, windowMs: number, nowMs: number): Promise<WindowCounts> {
    this.#sweep(nowMs);
    const counts = this.#advance(key, windowMs, nowMs);
    counts.current += 1;
    this.#entries.set(key, { ...counts, windowMs });
    return counts;
  }

  async peek(key: string, windowMs: number, nowMs: number): Promise<WindowCounts> {
    return this.#advance(key, windowMs, nowMs);
  }

  /** The key's counts as of `nowMs`: a later window shifts the current count into `previous`. */
  #advance(key: string, windowMs: number, nowMs: number): WindowCounts {
    return countsAt(this.#entries.get(key), windowMs, nowMs);
  }

  #sweep(nowMs: number): void {
    if (nowMs - this.#lastSweepMs < 60_000) return;
    this.#lastSweepMs = nowMs;
    for (const [key, e] of this.#entries) if (e.windowStartMs + 2 * e.windowMs <= nowMs) this.#entries.delete(key);
  }
}
