import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('dataset_images')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('model_id', 'text', (c) => c.notNull().references('models.id').onDelete('cascade'))
    // sha256 of the uploaded bytes: a repeated or retried upload finds its row instead of adding one.
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('original_name', 'text', (c) => c.notNull())
    .addColumn('image_key', 'text', (c) => c.notNull())
    .addColumn('thumb_key', 'text', (c) => c.notNull())
    .addColumn('width', 'integer', (c) => c.notNull())
    .addColumn('height', 'integer', (c) => c.notNull())
    .addColumn('format', 'text', (c) => c.notNull())
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('had_alpha', 'integer', (c) => c.notNull())
    .addColumn('metrics', 'text', (c) => c.notNull())
    .addColumn('perceptual_hash', 'text', (c) => c.notNull())
    .addColumn('caption', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('dataset_images_model_sha', ['model_id', 'sha256'])
    .execute();
  await db.schema.createIndex('dataset_images_model_created').on('dataset_images').columns(['model_id', 'created_at']).execute();

  await db.schema
    .createTable('model_datasets')
    .addColumn('model_id', 'text', (c) => c.primaryKey().references('models.id').onDelete('cascade'))
    .addColumn('trigger_word', 'text')
    .addColumn('caption_prefix', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('model_datasets').execute();
  await db.schema.dropTable('dataset_images').execute();
}
