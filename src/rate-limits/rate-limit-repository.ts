import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

export interface WindowCount {
  /** Requests counted in the current window, this one included. */
  hits: number;
  /** When the window ends (epoch ms). */
  resetAtMs: number;
}

/** Fixed-window counters in the database, so every web process counts against the same limit. */
export class RateLimitRepository {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Counts one request for `key`; a window that has ended starts again at 1. One statement, so concurrent hits never lose a count. */
  async hit(key: string, windowMs: number, nowMs: number): Promise<WindowCount> {
    const resetAt = nowMs + windowMs;
    const row = await this.#db
      .insertInto('rate_limit_counters')
      .values({ key, hits: 1, reset_at_ms: resetAt })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          // Both expressions read the row as it was before this update.
          hits: sql`case when rate_limit_counters.reset_at_ms <= ${nowMs} then 1 else rate_limit_counters.hits + 1 end`,
          reset_at_ms: sql`case when rate_limit_counters.reset_at_ms <= ${nowMs} then ${resetAt} else rate_limit_counters.reset_at_ms end`,
        }),
      )
      .returning(['hits', 'reset_at_ms'])
      .executeTakeFirstOrThrow();
    return { hits: Number(row.hits), resetAtMs: Number(row.reset_at_ms) };
  }

  /** The current window's count without counting (0 when none is open). */
  async peek(key: string, nowMs: number): Promise<WindowCount> {
    const row = await this.#db.selectFrom('rate_limit_counters').select(['hits', 'reset_at_ms']).where('key', '=', key).executeTakeFirst();
    if (!row || Number(row.reset_at_ms) <= nowMs) return { hits: 0, resetAtMs: nowMs };
    return { hits: Number(row.hits), resetAtMs: Number(row.reset_at_ms) };
  }

  /** Drops windows that ended before `beforeMs`. */
  async deleteExpired(beforeMs: number): Promise<number> {
    const result = await this.#db.deleteFrom('rate_limit_counters').where('reset_at_ms', '<', beforeMs).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
