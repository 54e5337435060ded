import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // One public link per generation (the generation is the key). Deleting the generation, or its
  // model (which cascades to its generations), deletes the link, so the old URL answers 404.
  // The token is kept as issued, not hashed: the owner copies the link again from the gallery
  // (see docs/decisions.md, "Share links keep their token").
  await db.schema
    .createTable('generation_links')
    .addColumn('generation_id', 'text', (c) => c.primaryKey().references('generations.id').onDelete('cascade'))
    .addColumn('token', 'text', (c) => c.notNull().unique())
    // 0 or 1: whether the public page shows the prompt (off unless the owner chose it).
    .addColumn('include_prompt', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('generation_links').execute();
}
