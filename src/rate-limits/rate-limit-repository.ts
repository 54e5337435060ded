import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { countsAt, windowStart, type WindowCounter, type WindowCounts } from './sliding-window.ts';

/** Sliding-window counters in the database, so every web process counts against the same limit. */
export class RateLimitRepository implements WindowCounter {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Counts one request for `key`. One statement, so concurrent hits never lose a count: a row of
   * this window counts on, a row of the window before becomes `prev_hits`, an older one starts over.
   */
  async hit(key: string, windowMs: number, nowMs: number): Promise<WindowCounts> {
    const start = windowStart(nowMs, windowMs);
    const end = start + windowMs;
    const row = await this.#db
      .insertInto('rate_limit_counters')
      .values({ key, hits: 1, prev_hits: 0, reset_at_ms: end })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          // Every expression reads the row as it was before this update.
          prev_hits: sql`case when rate_limit_counters.reset_at_ms = ${end} then rate_limit_counters.prev_hits when rate_limit_counters.reset_at_ms = ${start} then rate_limit_counters.hits else 0 end`,
          hits: sql`case when rate_limit_counters.reset_at_ms = ${end} then rate_limit_counters.hits + 1 else 1 end`,
          reset_at_ms: sql`${end}`,
        }),
      )
      .returning(['hits', 'prev_hits'])
      .executeTakeFirstOrThrow();
    return { current: Number(row.hits), previous: Number(row.prev_hits), windowStartMs: start };
  }

  /** The counts as of `nowMs` without counting. */
  async peek(key: string, windowMs: number, nowMs: number): Promise<WindowCounts> {
    const row = await this.#db.selectFrom('rate_limit_counters').select(['hits', 'prev_hits', 'reset_at_ms']).where('key', '=', key).executeTakeFirst();
    // reset_at_ms is when the stored window ends.
    return countsAt(row && { current: Number(row.hits), previous: Number(row.prev_hits), windowStartMs: Number(row.reset_at_ms) - windowMs }, windowMs, nowMs);
  }

  /** Drops counters whose current window ended before `beforeMs` (pass now minus the longest window: the previous window still counts). */
  async deleteExpired(beforeMs: number): Promise<number> {
    const result = await this.#db.deleteFrom('rate_limit_counters').where('reset_at_ms', '<', beforeMs).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
