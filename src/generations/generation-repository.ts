import type { Kysely, Selectable, Transaction, Updateable } from 'kysely';
import type { Database, GenerationImagesTable, GenerationsTable, GenerationStatus, GenerationUsageTable, PromptRecipesTable } from '../db/schema.ts';

export type GenerationRow = Selectable<GenerationsTable>;
export type GenerationImageRow = Selectable<GenerationImagesTable>;
export type RecipeRow = Selectable<PromptRecipesTable>;
export type UsageRow = Selectable<GenerationUsageTable>;
type Executor = Kysely<Database> | Transaction<Database>;

export const ACTIVE_STATUSES: readonly GenerationStatus[] = ['queued', 'submitting', 'starting', 'processing'];

export class GenerationRepository {
  readonly db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.db = db;
  }

  async insert(row: GenerationRow, executor: Executor = this.db): Promise<void> {
    await executor.insertInto('generations').values(row).execute();
  }

  findById(id: string): Promise<GenerationRow | undefined> {
    return this.db.selectFrom('generations').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** The model's usable trained version: its latest succeeded training whose weights we hold. */
  readyTraining(modelId: string) {
    return this.db
      .selectFrom('trainings')
      .select(['id', 'base_model', 'output_version', 'trigger_word'])
      .where('model_id', '=', modelId)
      .where('status', '=', 'succeeded')
      .where('weights_key', 'is not', null)
      .where('output_version', 'is not', null)
      .orderBy('completed_at', 'desc')
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
  }

  async versionOf(trainingId: string): Promise<string | null> {
    const row = await this.db.selectFrom('trainings').select('output_version').where('id', '=', trainingId).executeTakeFirst();
    return row?.output_version ?? null;
  }

  images(ids: string[]): Promise<GenerationImageRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('generation_images').selectAll().where('generation_id', 'in', ids).orderBy('generation_id').orderBy('position').execute();
  }

  /** Shared, finished generations of a model, newest first (the model's showcase). */
  listShared(modelId: string, limit: number): Promise<GenerationRow[]> {
    return this.db.selectFrom('generations').selectAll().where('model_id', '=', modelId).where('shared_at', 'is not', null).where('status', '=', 'succeeded').orderBy('shared_at', 'desc').limit(limit).execute();
  }

  async setShared(id: string, sharedAt: string | null): Promise<void> {
    await this.db.updateTable('generations').set({ shared_at: sharedAt }).where('id', '=', id).execute();
  }

  listForOwner(ownerId: string, filter: { modelId?: string | undefined; batchId?: string | undefined }, page: { limit: number; after?: { createdAt: string; id: string } | undefined }) {
    let q = this.db.selectFrom('generations').selectAll().where('owner_id', '=', ownerId);
    if (filter.modelId) q = q.where('model_id', '=', filter.modelId);
    if (filter.batchId) q = q.where('batch_id', '=', filter.batchId);
    const after = page.after;
    if (after) q = q.where((eb) => eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]));
    return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
  }

  /**
   * Serializes quota checks per user: a no-op write on the user's row takes its row lock in
   * PostgreSQL and the write lock in SQLite, so two requests cannot both pass a check for the last slot.
   */
  async lockOwner(ownerId: string, trx: Transaction<Database>): Promise<void> {
    await trx.updateTable('users').set((eb) => ({ id: eb.ref('id') })).where('id', '=', ownerId).execute();
  }

  async activeCount(ownerId: string, executor: Executor = this.db): Promise<number> {
    const row = await executor.selectFrom('generations').select((eb) => eb.fn.countAll<number>().as('n')).where('owner_id', '=', ownerId).where('status', 'in', ACTIVE_STATUSES).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Usage rows in the quota window, oldest first (after pruning the owner's expired ones). */
  async usageSince(ownerId: string, since: string, executor: Executor = this.db): Promise<UsageRow[]> {
    await executor.deleteFrom('generation_usage').where('owner_id', '=', ownerId).where('created_at', '<', since).execute();
    return executor.selectFrom('generation_usage').selectAll().where('owner_id', '=', ownerId).orderBy('created_at').execute();
  }

  async recordUsage(row: UsageRow, executor: Executor = this.db): Promise<void> {
    await executor.insertInto('generation_usage').values(row).execute();
  }

  async updateIfStatus(id: string, expected: GenerationStatus | readonly GenerationStatus[], changes: Updateable<GenerationsTable>, executor: Executor = this.db): Promise<boolean> {
    const statuses = typeof expected === 'string' ? [expected] : [...expected];
    const r = await executor.updateTable('generations').set(changes).where('id', '=', id).where('status', 'in', statuses).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async addImage(row: GenerationImageRow, executor: Executor = this.db): Promise<void> {
    await executor.insertInto('generation_images').values(row).onConflict((oc) => oc.columns(['generation_id', 'position']).doNothing()).execute();
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('generations').where('id', '=', id).execute();
  }

  listUnfinished(): Promise<Array<{ id: string }>> {
    return this.db.selectFrom('generations').select('id').where('status', 'in', ACTIVE_STATUSES).execute();
  }

  recipes(ownerId: string, modelId: string): Promise<RecipeRow[]> {
    return this.db.selectFrom('prompt_recipes').selectAll().where('owner_id', '=', ownerId).where('model_id', '=', modelId).orderBy('updated_at', 'desc').orderBy('id').execute();
  }

  findRecipe(id: string): Promise<RecipeRow | undefined> {
    return this.db.selectFrom('prompt_recipes').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async insertRecipe(row: RecipeRow): Promise<void> {
    await this.db.insertInto('prompt_recipes').values(row).execute();
  }

  async updateRecipe(id: string, changes: Updateable<PromptRecipesTable>): Promise<void> {
    await this.db.updateTable('prompt_recipes').set(changes).where('id', '=', id).execute();
  }

  async deleteRecipe(id: string): Promise<void> {
    await this.db.deleteFrom('prompt_recipes').where('id', '=', id).execute();
  }
}
