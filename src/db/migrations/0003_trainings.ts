import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('trainings')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('model_id', 'text', (c) => c.notNull().references('models.id').onDelete('cascade'))
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) => c.notNull())
    // What the user chose and what it became (see trainings/presets.ts).
    .addColumn('base_model', 'text', (c) => c.notNull())
    .addColumn('preset', 'text', (c) => c.notNull())
    .addColumn('resolution', 'integer', (c) => c.notNull())
    .addColumn('epochs', 'integer', (c) => c.notNull())
    .addColumn('steps', 'integer', (c) => c.notNull())
    .addColumn('image_count', 'integer', (c) => c.notNull())
    .addColumn('trigger_word', 'text', (c) => c.notNull())
    .addColumn('inputs', 'text', (c) => c.notNull())
    .addColumn('formula', 'text', (c) => c.notNull())
    .addColumn('estimate', 'text', (c) => c.notNull())
    .addColumn('retrain_of', 'text')
    // Where it runs.
    .addColumn('trainer', 'text', (c) => c.notNull())
    .addColumn('trainer_version', 'text')
    .addColumn('destination', 'text')
    .addColumn('dataset_key', 'text')
    .addColumn('dataset_url', 'text')
    .addColumn('remote_id', 'text', (c) => c.unique())
    .addColumn('remote_status', 'text')
    .addColumn('submit_attempted_at', 'text')
    .addColumn('cancel_requested_at', 'text')
    // Progress parsed from the trainer's log (only what is new each time).
    .addColumn('stage', 'text')
    .addColumn('progress_step', 'integer')
    .addColumn('progress_total', 'integer')
    .addColumn('progress_percent', 'double precision')
    .addColumn('it_per_second', 'double precision')
    .addColumn('trainer_eta_seconds', 'integer')
    .addColumn('loss', 'double precision')
    .addColumn('log_state', 'text')
    .addColumn('log_tail', 'text')
    // Outcome.
    .addColumn('failure_kind', 'text')
    .addColumn('failure_message', 'text')
    .addColumn('provider_error', 'text')
    .addColumn('output_version', 'text')
    .addColumn('weights_url', 'text')
    .addColumn('weights_key', 'text')
    .addColumn('weights_bytes', 'integer')
    .addColumn('predict_seconds', 'double precision')
    // Times.
    .addColumn('queued_at', 'text')
    .addColumn('started_at', 'text')
    .addColumn('training_started_at', 'text')
    .addColumn('completed_at', 'text')
    .addColumn('last_event_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('trainings_model_created').on('trainings').columns(['model_id', 'created_at']).execute();
  await db.schema.createIndex('trainings_status').on('trainings').column('status').execute();
  // One live training per model: a second Start Training while one runs is refused by the database itself.
  await sql`create unique index trainings_one_active_per_model on trainings (model_id) where status in ('queued', 'submitting', 'starting', 'processing')`.execute(db);

  await db.schema
    .createTable('training_loss')
    .addColumn('training_id', 'text', (c) => c.notNull().references('trainings.id').onDelete('cascade'))
    .addColumn('step', 'integer', (c) => c.notNull())
    .addColumn('loss', 'double precision', (c) => c.notNull())
    .addColumn('mean_loss', 'double precision', (c) => c.notNull())
    .addPrimaryKeyConstraint('training_loss_pk', ['training_id', 'step'])
    .execute();

  // Webhook ids already processed: Replicate retries the final webhook with the same id.
  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhook_deliveries_received').on('webhook_deliveries').column('received_at').execute();

  // Platform-wide facts learned from the provider (destination model, pinned trainer versions).
  await db.schema
    .createTable('provider_settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['provider_settings', 'webhook_deliveries', 'training_loss', 'trainings']) await db.schema.dropTable(t).execute();
}
