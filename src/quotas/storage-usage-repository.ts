import { sql, SqliteAdapter, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

/**
 * What one user keeps in storage, summed from the size columns the services already record with
 * each file: training images, generated images and trained weights. (Thumbnails and the zip sent
 * to the trainer are derived from these and not counted.) A sum instead of a running tally: it
 * cannot drift when a row is deleted by a cascade.
 */
export class StorageUsageRepository {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Inside a transaction: waits for the owner's other quota-checked writes to commit, so two uploads
   * cannot both fit into the same free space. SQLite runs one transaction at a time already.
   */
  async lockOwner(trx: Kysely<Database>, ownerId: string): Promise<void> {
    if (!(trx.getExecutor().adapter instanceof SqliteAdapter)) await sql`select id from users where id = ${ownerId} for update`.execute(trx);
  }

  async usedBytes(ownerId: string, db: Kysely<Database> = this.#db): Promise<number> {
    return this.#sum(db, ownerId);
  }

  /** What every user together keeps in storage (an operator's total). */
  async totalUsedBytes(db: Kysely<Database> = this.#db): Promise<number> {
    return this.#sum(db, null);
  }

  /** The three sums, of one owner's files or (null) of everyone's. */
  async #sum(db: Kysely<Database>, ownerId: string | null): Promise<number> {
    const [images, generated, weights] = await Promise.all([
      db
        .selectFrom('dataset_images')
        .innerJoin('models', 'models.id', 'dataset_images.model_id')
        .select((eb) => eb.fn.sum<string | number | null>('dataset_images.bytes').as('n'))
        .$if(ownerId !== null, (q) => q.where('models.owner_id', '=', ownerId!))
        .executeTakeFirst(),
      db
        .selectFrom('generation_images')
        .innerJoin('generations', 'generations.id', 'generation_images.generation_id')
        .select((eb) => eb.fn.sum<string | number | null>('generation_images.bytes').as('n'))
        .$if(ownerId !== null, (q) => q.where('generations.owner_id', '=', ownerId!))
        .executeTakeFirst(),
      db
        .selectFrom('trainings')
        .select((eb) => eb.fn.sum<string | number | null>('weights_bytes').as('n'))
        .$if(ownerId !== null, (q) => q.where('owner_id', '=', ownerId!))
        .where('weights_key', 'is not', null)
        .executeTakeFirst(),
    ]);
    return [images, generated, weights].reduce((total, row) => total + Number(row?.n ?? 0), 0);
  }
}
