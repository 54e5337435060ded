/** How long to wait before retrying a Replicate call. Pure functions, so they are unit-tested directly. */

/**
 * Reads how long a 429 asks us to wait: the `Retry-After` header (seconds or an HTTP date), else the
 * seconds in Replicate's detail ("Your rate limit resets in ~30s."). Null when neither says.
 */
export function rateLimitDelayMs(retryAfterHeader: string | null, detail: string | null, nowMs: number): number | null {
  if (retryAfterHeader !== null && retryAfterHeader.trim() !== '') {
    const text = retryAfterHeader.trim();
    if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
    const date = Date.parse(text);
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }
  if (detail) {
    const match = /resets in ~?\s*(\d+(?:\.\d+)?)\s*s/i.exec(detail) ?? /(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds)\b/i.exec(detail);
    if (match?.[1] !== undefined) return Math.round(Number(match[1]) * 1000);
  }
  return null;
}

/**
 * Delay after a 429. Never shorter than the server asked (retrying early only burns the budget);
 * up to 25% longer so clients that were throttled together do not come back together.
 */
export function rateLimitBackoffMs(askedMs: number | null, attempt: number, random: () => number): number {
  const base = askedMs ?? exponentialMs(attempt, 1000, 30_000);
  return Math.round(base * (1 + 0.25 * random()));
}

/** Delay before retrying a 5xx/network failure of an idempotent call: exponential with full jitter. */
export function errorBackoffMs(attempt: number, random: () => number, baseMs = 500, capMs = 10_000): number {
  // Half fixed, half random: full jitter could choose ~0 ms, which hammers a struggling server.
  const ceiling = exponentialMs(attempt, baseMs, capMs);
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

function exponentialMs(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}
