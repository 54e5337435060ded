import type { Kysely, Selectable, Transaction, Updateable } from 'kysely';
import type { Database, TrainingsTable } from '../db/schema.ts';
import type { TrainingStatus } from './state-machine.ts';

export type TrainingRow = Selectable<TrainingsTable>;
type Executor = Kysely<Database> | Transaction<Database>;

export class TrainingRepository {
  readonly db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.db = db;
  }

  async insert(row: TrainingRow, executor: Executor = this.db): Promise<void> {
    await executor.insertInto('trainings').values(row).execute();
  }

  findById(id: string, executor: Executor = this.db): Promise<TrainingRow | undefined> {
    return executor.selectFrom('trainings').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findByRemoteId(remoteId: string): Promise<TrainingRow | undefined> {
    return this.db.selectFrom('trainings').selectAll().where('remote_id', '=', remoteId).executeTakeFirst();
  }

  findSubmittingByDatasetUrl(url: string): Promise<TrainingRow | undefined> {
    return this.db.selectFrom('trainings').selectAll().where('dataset_url', '=', url).where('remote_id', 'is', null).executeTakeFirst();
  }

  async idsForModel(modelId: string): Promise<string[]> {
    return (await this.db.selectFrom('trainings').select('id').where('model_id', '=', modelId).execute()).map((r) => r.id);
  }

  listForModel(modelId: string, limit = 50): Promise<TrainingRow[]> {
    return this.db.selectFrom('trainings').selectAll().where('model_id', '=', modelId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  /** Serializes one owner's "start training" decisions (the per-user cap) until the transaction ends. */
  async lockOwner(ownerId: string, trx: Transaction<Database>): Promise<void> {
    await trx.updateTable('users').set((eb) => ({ id: eb.ref('id') })).where('id', '=', ownerId).execute();
  }

  /** The owner's trainings that have not ended, with their model's name (for the per-user cap's message). */
  listActiveForOwner(ownerId: string, executor: Executor = this.db): Promise<Array<{ id: string; model_id: string; model_name: string }>> {
    return executor
      .selectFrom('trainings')
      .innerJoin('models', 'models.id', 'trainings.model_id')
      .select(['trainings.id', 'trainings.model_id', 'models.name as model_name'])
      .where('trainings.owner_id', '=', ownerId)
      .where('trainings.status', 'in', ['queued', 'submitting', 'starting', 'processing'])
      .orderBy('trainings.created_at')
      .orderBy('models.name')
      .execute();
  }

  /** Trainings that still need a worker's attention: still running, or succeeded with weights neither copied nor given up on (no failure message). */
  listUnfinished(): Promise<Pick<TrainingRow, 'id' | 'status'>[]> {
    return this.db
      .selectFrom('trainings')
      .select(['id', 'status'])
      .where((eb) =>
        eb.or([
          eb('status', 'in', ['queued', 'submitting', 'starting', 'processing']),
          eb.and([eb('status', '=', 'succeeded'), eb('weights_key', 'is', null), eb('failure_message', 'is', null)]),
        ]),
      )
      .execute();
  }

  /**
   * Compare-and-set: applies `changes` only while the row still has status `expected` (and, when
   * given, the log parser state `logState` it was computed from). Returns false when another writer
   * changed them first (the caller re-reads and re-decides).
   */
  async updateIfStatus(id: string, expected: TrainingStatus, changes: Updateable<TrainingsTable>, executor: Executor = this.db, logState?: string | null): Promise<boolean> {
    const result = await executor
      .updateTable('trainings')
      .set(changes)
      .where('id', '=', id)
      .where('status', '=', expected)
      .$if(logState !== undefined, (q) => (logState === null ? q.where('log_state', 'is', null) : q.where('log_state', '=', logState!)))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** For fields no status decision depends on (progress, bookkeeping). Never changes status. */
  async patch(id: string, changes: Omit<Updateable<TrainingsTable>, 'status'>, executor: Executor = this.db): Promise<void> {
    await executor.updateTable('trainings').set(changes).where('id', '=', id).execute();
  }

  async appendLoss(trainingId: string, samples: { step: number; loss: number; meanLoss: number }[], replace: boolean, executor: Executor = this.db): Promise<void> {
    if (replace) await executor.deleteFrom('training_loss').where('training_id', '=', trainingId).execute();
    if (samples.length === 0) return;
    await executor
      .insertInto('training_loss')
      .values(samples.map((s) => ({ training_id: trainingId, step: s.step, loss: s.loss, mean_loss: s.meanLoss })))
      .onConflict((oc) => oc.columns(['training_id', 'step']).doNothing())
      .execute();
  }

  lossSeries(trainingId: string) {
    return this.db.selectFrom('training_loss').select(['step', 'loss', 'mean_loss']).where('training_id', '=', trainingId).orderBy('step').execute();
  }

  /** Records a webhook id; false when it was already seen (a retry or a replay). */
  async recordWebhookDelivery(id: string, at: string): Promise<boolean> {
    const result = await this.db.insertInto('webhook_deliveries').values({ id, received_at: at }).onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  async forgetWebhookDelivery(id: string): Promise<void> {
    await this.db.deleteFrom('webhook_deliveries').where('id', '=', id).execute();
  }

  async pruneWebhookDeliveries(before: string): Promise<void> {
    await this.db.deleteFrom('webhook_deliveries').where('received_at', '<', before).execute();
  }

  async getSetting(key: string): Promise<string | undefined> {
    return (await this.db.selectFrom('provider_settings').select('value').where('key', '=', key).executeTakeFirst())?.value;
  }

  async putSetting(key: string, value: string, at: string): Promise<void> {
    await this.db
      .insertInto('provider_settings')
      .values({ key, value, updated_at: at })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: at }))
      .execute();
  }

  /** Speed and overhead of finished runs, for the estimate (see estimate.ts). */
  finishedRunStats(baseModel: string, resolution: number, limit = 20) {
    return this.db
      .selectFrom('trainings')
      .select(['steps', 'it_per_second', 'started_at', 'completed_at', 'predict_seconds'])
      .where('base_model', '=', baseModel)
      .where('resolution', '=', resolution)
      .where('status', '=', 'succeeded')
      .where('it_per_second', 'is not', null)
      .orderBy('completed_at', 'desc')
      .limit(limit)
      .execute();
  }
}
