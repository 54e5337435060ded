import type { Kysely, Selectable, Updateable } from 'kysely';
import type { Database, ModelsTable } from '../db/schema.ts';

export type ModelRow = Selectable<ModelsTable> & { owner_display_name: string };

export class ModelRepository {
  private readonly db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.db = db;
  }

  private selectWithOwner() {
    return this.db
      .selectFrom('models')
      .innerJoin('users', 'users.id', 'models.owner_id')
      .selectAll('models')
      .select('users.display_name as owner_display_name');
  }

  async insert(row: Selectable<ModelsTable>): Promise<void> {
    await this.db.insertInto('models').values(row).execute();
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

  async update(id: string, changes: Updateable<ModelsTable>): Promise<void> {
    await this.db.updateTable('models').set(changes).where('id', '=', id).execute();
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('models').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
