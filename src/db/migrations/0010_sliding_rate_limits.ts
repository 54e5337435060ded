import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // Sliding windows: each counter also keeps the previous window's count. `reset_at_ms` is now the
  // end of the current window, aligned to a multiple of its length.
  await db.schema.alterTable('rate_limit_counters').addColumn('prev_hits', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rate_limit_counters').dropColumn('prev_hits').execute();
}
