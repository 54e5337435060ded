import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // Null: private to its author. Set: shown to everyone who can see the model (its showcase).
  await db.schema.alterTable('generations').addColumn('shared_at', 'text').execute();
  await db.schema.createIndex('generations_model_shared').on('generations').columns(['model_id', 'shared_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('generations_model_shared').execute();
  await db.schema.alterTable('generations').dropColumn('shared_at').execute();
}
