import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // Fixed-window counters shared by every web process (PostgreSQL deployments); one row per
  // limit and caller, reset in place when its window has passed.
  await db.schema
    .createTable('rate_limit_counters')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .addColumn('reset_at_ms', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('rate_limit_counters_reset').on('rate_limit_counters').column('reset_at_ms').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('rate_limit_counters').execute();
}
