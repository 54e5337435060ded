import type { RateLimitRepository } from './rate-limit-repository.ts';

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
 * A @fastify/rate-limit store over the database's counters, so N web processes behind a proxy
 * enforce one limit instead of N. Plain fixed windows: the plugin's `continueExceeding` and
 * `exponentialBackoff` options are not used by this platform and not supported here.
 */
export function sharedRateLimitStore(repo: RateLimitRepository, now: () => number = Date.now): RateLimitStoreClass {
  return class SharedRateLimitStore {
    incr(key: string, callback: Callback, timeWindowMs: number): void {
      const nowMs = now();
      repo.hit(key, timeWindowMs, nowMs).then(
        (w) => callback(null, { current: w.hits, ttl: Math.max(0, w.resetAtMs - nowMs) }),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    }
    read(key: string, callback: Callback): void {
      const nowMs = now();
      repo.peek(key, nowMs).then(
        (w) => callback(null, { current: w.hits, ttl: Math.max(0, w.resetAtMs - nowMs) }),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    }
    child(): SharedRateLimitStore {
      return new SharedRateLimitStore();
    }
  };
}
