import type { Kysely, Selectable, Transaction, Updateable } from 'kysely';
import type { Database, GenerationImagesTable, GenerationsTable, GenerationStatus, PromptRecipesTable } from '../db/schema.ts';

export type GenerationRow = Selectable<GenerationsTable>;
export type GenerationImageRow = Selectable<GenerationImagesTable>;
export type RecipeRow = Selectable<PromptRecipesTable>;
type Executor = Kysely<Database> | Transaction<Database>;

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

  images(ids: string[]): Promise<GenerationImageRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('generation_images').selectAll().where('generation_id', 'in', ids).orderBy('generation_id').orderBy('position').execute();
  }

  listForOwner(ownerId: string, filter: { modelId?: string | undefined; batchId?: string | undefined }, page: { limit: number; after?: { createdAt: string; id: string } | undefined }) {
    let q = this.db.selectFrom('generations').selectAll().where('owner_id', '=', ownerId);
    if (filter.modelId) q = q.where('model_id', '=', filter.modelId);
    if (filter.batchId) q = q.where('batch_id', '=', filter.batchId);
    const after = page.after;
    if (after) q = q.where((eb) => eb.or([eb('created_at', '<', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)])]));
    return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute();
  }

  /** Active generations and those created since `since`, for the quota. */
  async usage(ownerId: string, since: string): Promise<{ active: number; recent: number }> {
    const row = await this.db
      .selectFrom('generations')
      .select((eb) => [
        eb.fn.sum<number>(eb.case().when('status', 'in', ['queued', 'submitting', 'starting', 'processing']).then(1).else(0).end()).as('active'),
        eb.fn.sum<number>(eb.case().when('created_at', '>=', since).then(1).else(0).end()).as('recent'),
      ])
      .where('owner_id', '=', ownerId)
      .executeTakeFirst();
    return { active: Number(row?.active ?? 0), recent: Number(row?.recent ?? 0) };
  }

  async updateIfStatus(id: string, expected: GenerationStatus, changes: Updateable<GenerationsTable>, executor: Executor = this.db): Promise<boolean> {
    const r = await executor.updateTable('generations').set(changes).where('id', '=', id).where('status', '=', expected).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async addImage(row: GenerationImageRow, executor: Executor = this.db): Promise<void> {
    await executor.insertInto('generation_images').values(row).onConflict((oc) => oc.columns(['generation_id', 'position']).doNothing()).execute();
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('generations').where('id', '=', id).execute();
  }

  listUnfinished(): Promise<Array<{ id: string }>> {
    return this.db.selectFrom('generations').select('id').where('status', 'in', ['queued', 'submitting', 'starting', 'processing']).execute();
  }

  recipes(ownerId: string, modelId: string): Promise<RecipeRow[]> {
    return this.db.selectFrom('prompt_recipes').selectAll().where('owner_id', '=', ownerId).where('model_id', '=', modelId).orderBy('updated_at', 'desc').execute();
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
