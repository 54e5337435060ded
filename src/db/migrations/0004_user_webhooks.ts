import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // One outgoing webhook per user: where to tell their scripts that a training ended.
  await db.schema
    .createTable('user_webhooks')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    // The signing secret must be readable to sign; it is shown to the user once, when created.
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_delivery_at', 'text')
    .addColumn('last_delivery_status', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('user_webhooks').execute();
}
