import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { ACTIVE_STATUSES } from '../generations/generation-repository.ts';
import type { BlobStorage } from './storage.ts';

/** Keys checked per query: well under every dialect's bound-parameter limit. */
const BATCH = 400;

/**
 * Finds and removes blobs no row owns. Files are written before their rows (a row must never
 * point at a missing file), so a crash between the two leaves a file behind: a dataset image and
 * its thumbnail, or a generated image whose generation then ended without it. Training folders
 * outlive a deleted model's rows, too.
 *
 * Ownership, by key layout:
 * - `models/<model>/images/…`, `models/<model>/thumbs/…`: a `dataset_images` row names the key;
 * - `generations/<model>/<generation>/…`: a `generation_images` row names the key, or the
 *   generation is still running (its job copies the outputs again);
 * - `trainings/<training>/…`: the training row exists (zip, manifest, weights).
 * Anything else is left alone.
 */
export class OrphanBlobSweep {
  readonly #db: Kysely<Database>;
  readonly #storage: BlobStorage;

  constructor(db: Kysely<Database>, storage: BlobStorage) {
    this.#db = db;
    this.#storage = storage;
  }

  /** Keys that no row owns right now. */
  async findOrphans(): Promise<string[]> {
    const orphans: string[] = [];
    for (const prefix of ['models/', 'generations/', 'trainings/']) {
      let batch: string[] = [];
      for await (const key of this.#storage.list(prefix)) {
        batch.push(key);
        if (batch.length === BATCH) {
          orphans.push(...(await this.#unowned(batch)));
          batch = [];
        }
      }
      if (batch.length) orphans.push(...(await this.#unowned(batch)));
    }
    return orphans;
  }

  /**
   * Deletes those of `keys` that are still unowned (a row may have arrived since they were found).
   * Returns the deleted keys.
   */
  async deleteUnowned(keys: readonly string[]): Promise<string[]> {
    const deleted: string[] = [];
    for (let i = 0; i < keys.length; i += BATCH) {
      for (const key of await this.#unowned(keys.slice(i, i + BATCH))) {
        await this.#storage.delete(key);
        deleted.push(key);
      }
    }
    return deleted;
  }

  async #unowned(keys: readonly string[]): Promise<string[]> {
    const owned = new Set<string>();

    const datasetKeys = keys.filter((k) => /^models\/[^/]+\/(images|thumbs)\//.test(k));
    if (datasetKeys.length) {
      const rows = await this.#db
        .selectFrom('dataset_images')
        .select(['image_key', 'thumb_key'])
        .where((eb) => eb.or([eb('image_key', 'in', datasetKeys), eb('thumb_key', 'in', datasetKeys)]))
        .execute();
      for (const r of rows) owned.add(r.image_key).add(r.thumb_key);
    }

    const outputKeys = keys.filter((k) => /^generations\/[^/]+\/[^/]+\//.test(k));
    if (outputKeys.length) {
      const rows = await this.#db.selectFrom('generation_images').select('blob_key').where('blob_key', 'in', outputKeys).execute();
      for (const r of rows) owned.add(r.blob_key);
      const ids = [...new Set(outputKeys.map((k) => k.split('/')[2]!))];
      const running = await this.#db.selectFrom('generations').select('id').where('id', 'in', ids).where('status', 'in', ACTIVE_STATUSES).execute();
      const runningIds = new Set(running.map((r) => r.id));
      for (const k of outputKeys) if (runningIds.has(k.split('/')[2]!)) owned.add(k);
    }

    const trainingKeys = keys.filter((k) => /^trainings\/[^/]+\//.test(k));
    if (trainingKeys.length) {
      const ids = [...new Set(trainingKeys.map((k) => k.split('/')[1]!))];
      const existing = new Set((await this.#db.selectFrom('trainings').select('id').where('id', 'in', ids).execute()).map((r) => r.id));
      for (const k of trainingKeys) if (existing.has(k.split('/')[1]!)) owned.add(k);
    }

    const swept = new Set([...datasetKeys, ...outputKeys, ...trainingKeys]);
    return keys.filter((k) => swept.has(k) && !owned.has(k));
  }
}
