import type { Kysely, Selectable, Updateable } from 'kysely';
import type { Database, ModelsTable } from '../db/schema.ts';
import { bumpRevisions, readRevision } from '../db/collection-revisions.ts';

export type ModelRow = Selectable<ModelsTable> & { owner_display_name: string; image_count: number | string | bigint | null };

/** Revision keys of the two model collections a list can show. */
export const ownerModelsKey = (ownerId: string) => `models:owner:${ownerId}`;
export const PUBLIC_MODELS_KEY = 'models:public';

const affectedKeys = (ownerId: string, ...visibilities: Array<string | undefined>) => [
  ownerModelsKey(ownerId),
  ...(visibilities.includes('public') ? [PUBLIC_MODELS_KEY] : []),
];

export class ModelRepository {
  private readonly db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.db = db;
  }

  private selectWithOwner(db: Kysely<Database> = this.db) {
    return db
      .selectFrom('models')
      .innerJoin('users', 'users.id', 'models.owner_id')
      .selectAll('models')
      .select('users.display_name as owner_display_name')
      // For the dashboard's "dataset needs attention / ready to train" states; an indexed count.
      .select((eb) => eb.selectFrom('dataset_images').select(eb.fn.countAll().as('n')).whereRef('dataset_images.model_id', '=', 'models.id').as('image_count'));
  }

  async insert(row: Selectable<ModelsTable>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('models').values(row).execute();
      await bumpRevisions(trx, affectedKeys(row.owner_id, row.visibility));
    });
  }

  findById(id: string): Promise<ModelRow | undefined> {
    return this.selectWithOwner().where('models.id', '=', id).executeTakeFirst();
  }

  /**
   * Keyset pagination on (created_at, id), newest first: stable under concurrent inserts,
   * and every page costs the same however deep it is.
   */
  list(filter: { ownerId?: string; visibility?: 'public' }, page: { limit: number; after?: { createdAt: string; id: string } }) {
    let q = this.selectWithOwner();
    if (filter.ownerId) q = q.where('models.owner_id', '=', filter.ownerId);
    if (filter.visibility) q = q.where('models.visibility', '=', filter.visibility);
    const after = page.after;
    if (after) {
      q = q.where((eb) =>
        eb.or([
          eb('models.created_at', '<', after.createdAt),
          eb.and([eb('models.created_at', '=', after.createdAt), eb('models.id', '<', after.id)]),
        ]),
      );
    }
    return q.orderBy('models.created_at', 'desc').orderBy('models.id', 'desc').limit(page.limit).execute();
  }

  /** Changes whenever anything a list of this collection shows changes. */
  revision(filter: { ownerId: string } | { visibility: 'public' }): Promise<number> {
    return readRevision(this.db, 'ownerId' in filter ? ownerModelsKey(filter.ownerId) : PUBLIC_MODELS_KEY);
  }

  async update(id: string, changes: Updateable<ModelsTable>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('models').select(['owner_id', 'visibility']).where('id', '=', id).executeTakeFirst();
      if (!before) return;
      await trx.updateTable('models').set(changes).where('id', '=', id).execute();
      await bumpRevisions(trx, affectedKeys(before.owner_id, before.visibility, changes.visibility));
    });
  }

  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('models').select(['owner_id', 'visibility']).where('id', '=', id).executeTakeFirst();
      if (!before) return false;
      await trx.deleteFrom('models').where('id', '=', id).execute();
      await bumpRevisions(trx, affectedKeys(before.owner_id, before.visibility));
      return true;
    });
  }
}
