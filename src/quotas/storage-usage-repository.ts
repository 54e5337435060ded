import type { Kysely } from 'kysely';
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

  async usedBytes(ownerId: string): Promise<number> {
    const [images, generated, weights] = await Promise.all([
      this.#db
        .selectFrom('dataset_images')
        .innerJoin('models', 'models.id', 'dataset_images.model_id')
        .select((eb) => eb.fn.sum<string | number | null>('dataset_images.bytes').as('n'))
        .where('models.owner_id', '=', ownerId)
        .executeTakeFirst(),
      this.#db
        .selectFrom('generation_images')
        .innerJoin('generations', 'generations.id', 'generation_images.generation_id')
        .select((eb) => eb.fn.sum<string | number | null>('generation_images.bytes').as('n'))
        .where('generations.owner_id', '=', ownerId)
        .executeTakeFirst(),
      this.#db
        .selectFrom('trainings')
        .select((eb) => eb.fn.sum<string | number | null>('weights_bytes').as('n'))
        .where('owner_id', '=', ownerId)
        .where('weights_key', 'is not', null)
        .executeTakeFirst(),
    ]);
    return [images, generated, weights].reduce((total, row) => total + Number(row?.n ?? 0), 0);
  }
}
