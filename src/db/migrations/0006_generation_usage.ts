import type { Kysely } from 'kysely';

/**
 * The hourly generation quota counts what was started, not what still exists: deleting a
 * generation must not hand its share of the hour back. One row per create call (a comparison of N
 * scales is one row counting N); rows older than the window are pruned as users generate.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('generation_usage')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('count', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('generation_usage_owner_created').on('generation_usage').columns(['owner_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('generation_usage').execute();
}
