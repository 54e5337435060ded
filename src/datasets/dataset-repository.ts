import type { Kysely, Selectable } from 'kysely';
import type { Database, DatasetImagesTable, ModelDatasetsTable } from '../db/schema.ts';
import { bumpRevisions } from '../db/collection-revisions.ts';
import { ownerModelsKey, PUBLIC_MODELS_KEY } from '../models/model-repository.ts';

export type DatasetImageRow = Selectable<DatasetImagesTable>;

export class DatasetRepository {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Model lists show each model's image count: any change to it invalidates the cached lists. */
  async #touchModelLists(db: Kysely<Database>, modelId: string): Promise<void> {
    const model = await db.selectFrom('models').select(['owner_id', 'visibility']).where('id', '=', modelId).executeTakeFirst();
    if (model) await bumpRevisions(db, [ownerModelsKey(model.owner_id), ...(model.visibility === 'public' ? [PUBLIC_MODELS_KEY] : [])]);
  }

  /**
   * Inserts unless the same content is already in this model's dataset; returns the row either way.
   * `admit` runs in the inserting transaction first and may refuse the row (returning why).
   */
  async insertOrFind(row: DatasetImageRow, admit?: (trx: Kysely<Database>) => Promise<string | null>): Promise<{ row: DatasetImageRow; created: boolean } | { refused: string }> {
    const inserted = await this.#db.transaction().execute(async (trx) => {
      if (admit && !(await this.findBySha(row.model_id, row.sha256, trx))) {
        const refused = await admit(trx);
        if (refused !== null) return { refused };
      }
      const id = await trx
        .insertInto('dataset_images')
        .values(row)
        .onConflict((oc) => oc.columns(['model_id', 'sha256']).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (id) await this.#touchModelLists(trx, row.model_id);
      return id;
    });
    if (inserted && 'refused' in inserted) return inserted;
    if (inserted) return { row, created: true };
    const existing = await this.findBySha(row.model_id, row.sha256);
    if (!existing) throw new Error('An image conflicted on content but cannot be found.');
    return { row: existing, created: false };
  }

  findBySha(modelId: string, sha256: string, db: Kysely<Database> = this.#db): Promise<DatasetImageRow | undefined> {
    return db.selectFrom('dataset_images').selectAll().where('model_id', '=', modelId).where('sha256', '=', sha256).executeTakeFirst();
  }

  findImage(modelId: string, imageId: string): Promise<DatasetImageRow | undefined> {
    return this.#db.selectFrom('dataset_images').selectAll().where('model_id', '=', modelId).where('id', '=', imageId).executeTakeFirst();
  }

  listImages(modelId: string): Promise<DatasetImageRow[]> {
    return this.#db.selectFrom('dataset_images').selectAll().where('model_id', '=', modelId).orderBy('created_at').orderBy('id').execute();
  }

  async countImages(modelId: string, db: Kysely<Database> = this.#db): Promise<number> {
    const row = await db.selectFrom('dataset_images').select((eb) => eb.fn.countAll<number>().as('n')).where('model_id', '=', modelId).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async deleteImage(modelId: string, imageId: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const r = await trx.deleteFrom('dataset_images').where('model_id', '=', modelId).where('id', '=', imageId).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) return false;
      await this.#touchModelLists(trx, modelId);
      return true;
    });
  }

  /** Whether any row still points at a blob (content-addressed keys can be shared by a re-upload). */
  async isKeyUsed(modelId: string, sha256: string): Promise<boolean> {
    return (await this.findBySha(modelId, sha256)) !== undefined;
  }

  async setCaption(modelId: string, imageId: string, caption: string): Promise<boolean> {
    const r = await this.#db.updateTable('dataset_images').set({ caption }).where('model_id', '=', modelId).where('id', '=', imageId).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  getSettings(modelId: string): Promise<Selectable<ModelDatasetsTable> | undefined> {
    return this.#db.selectFrom('model_datasets').selectAll().where('model_id', '=', modelId).executeTakeFirst();
  }

  async putSettings(row: Selectable<ModelDatasetsTable>): Promise<void> {
    await this.#db
      .insertInto('model_datasets')
      .values(row)
      .onConflict((oc) => oc.column('model_id').doUpdateSet({ trigger_word: row.trigger_word, caption_prefix: row.caption_prefix, updated_at: row.updated_at }))
      .execute();
  }
}
