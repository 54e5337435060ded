import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../support/databases.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { insertModel, insertTraining } from '../support/factories.ts';
import { addDatasetImages } from '../support/dataset-factories.ts';
import { newId } from '../../src/shared/ids.ts';
import { OrphanBlobSweep } from '../../src/storage/orphan-sweep.ts';
import type { LocalBlobStorage } from '../../src/storage/local-storage.ts';
import type { GenerationStatus } from '../../src/db/schema.ts';
import { ORPHAN_SWEEP_KEY, orphanSweepJob, orphanSweepJobDefinition } from '../../src/storage/orphan-sweep-job.ts';
import { listJobs } from '../support/jobs.ts';

/**
 * Files are written before their rows, so a crash between the two leaves files no row owns
 * (found by the crash-safety test's "no orphan files" check). The sweep finds them by key layout
 * and deletes only those still unowned; the worker runs it at startup, together with the temp
 * files and sidecars a `put` cut short by a crash leaves in local storage.
 */
describe.each(DIALECTS)('orphan file sweep (%s)', (dialect) => {
  let t: TestApp;
  afterEach(async () => t?.close());

  const put = (key: string) => t.ctx.storage.put(key, Buffer.from(`bytes of ${key}`), { contentType: 'application/octet-stream' });
  const exists = async (key: string) => (await t.ctx.storage.stat(key)) !== null;

  async function insertGeneration(ownerId: string, modelId: string, trainingId: string, status: GenerationStatus) {
    const at = new Date().toISOString();
    const id = newId();
    await t.ctx.db.kysely
      .insertInto('generations')
      .values({
        id, owner_id: ownerId, model_id: modelId, training_id: trainingId, status, prompt: 'p', negative_prompt: null, params: '{}', input: '{}', batch_id: null,
        shared_at: null, remote_id: null, submit_attempted_at: null, error: null, created_at: at, updated_at: at, completed_at: status === 'queued' ? null : at,
      })
      .execute();
    return id;
  }
  const addOutput = (generationId: string, key: string) =>
    t.ctx.db.kysely.insertInto('generation_images').values({ generation_id: generationId, position: 0, blob_key: key, content_type: 'image/webp', bytes: 10, width: 1, height: 1 }).execute();

  async function scene() {
    const owner = await t.newUser();
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Sweep subject' });
    await addDatasetImages(t.ctx, owner, model.id, 2, 4242);
    const training = await insertTraining(t.ctx.db.kysely, owner.id, model.id);
    const trainingZip = `trainings/${training.id}/dataset.zip`;
    await put(trainingZip);
    const done = await insertGeneration(owner.id, model.id, training.id, 'succeeded');
    const doneOutput = `generations/${model.id}/${done}/0.webp`;
    await put(doneOutput);
    await addOutput(done, doneOutput);
    const running = await insertGeneration(owner.id, model.id, training.id, 'starting');
    const runningOutput = `generations/${model.id}/${running}/0.webp`; // its job copies it again
    await put(runningOutput);
    const failed = await insertGeneration(owner.id, model.id, training.id, 'failed');

    const owned = [trainingZip, doneOutput, runningOutput, 'elsewhere/not-ours.bin'];
    for await (const key of t.ctx.storage.list(`models/${model.id}/`)) owned.push(key);
    await put('elsewhere/not-ours.bin');
    const orphans = [
      `models/${model.id}/images/${'f'.repeat(64)}.jpg`, // stored, then the process died before the row
      `models/${model.id}/thumbs/${'f'.repeat(64)}.webp`,
      `generations/${model.id}/${failed}/0.webp`, // copied, then the generation ended without it
      `trainings/${newId()}/lora.safetensors`, // its training row is gone
    ];
    for (const key of orphans) await put(key);
    return { owned, orphans, failed };
  }

  it('finds files no row owns and deletes those still unowned, keeping a row that arrived meanwhile', async () => {
    t = await startTestApp(dialect);
    const { owned, orphans, failed } = await scene();
    expect(owned.filter((k) => k.includes('/images/'))).toHaveLength(2);
    const sweep = new OrphanBlobSweep(t.ctx.db.kysely, t.ctx.storage);

    const found = await sweep.findOrphans();
    expect(found.sort()).toEqual([...orphans].sort());

    // The failed generation's row for its file lands between finding and deleting.
    const late = orphans[2]!;
    await addOutput(failed, late);
    const deleted = await sweep.deleteUnowned(found);
    expect(deleted.sort()).toEqual(orphans.filter((k) => k !== late).sort());
    for (const key of deleted) expect(await exists(key), key).toBe(false);
    for (const key of [...owned, late]) expect(await exists(key), key).toBe(true);
  });

  it('runs when the worker starts: at once on SQLite (the only process), after a grace period on PostgreSQL', async () => {
    t = await startTestApp(dialect);
    const { owned, orphans } = await scene();
    // A put cut short: its temp file, and a content-type sidecar written before the blob's rename.
    const root = (t.ctx.storage as LocalBlobStorage).root;
    const leftovers = [join(root, 'trainings', 'x', '.tmp-0123456789abcdef'), join(root, '.meta', 'trainings', 'x', 'dataset.zip.json'), join(root, '.meta', 'trainings', 'x', '.tmp-fedcba9876543210')];
    for (const path of leftovers) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, 'partial');
    }
    await t.ctx.startWorker();
    for (const key of owned) expect(await exists(key), key).toBe(true);
    expect(existsSync(join(root, '.meta', `${owned[0]}.json`)), 'a sidecar with its blob').toBe(true);
    for (const key of orphans) expect(await exists(key), key).toBe(dialect === 'postgres');
    for (const path of leftovers) expect(existsSync(path), path).toBe(dialect === 'postgres');
    // On PostgreSQL one background job sweeps for the whole deployment, however many workers start.
    if (dialect === 'postgres') {
      const sweeps = await listJobs(t.ctx, 'storage.orphan-sweep');
      expect(sweeps.map((j) => j.state)).toEqual([expect.stringMatching(/^(queued|running)$/)]);
      // Another worker starting enqueues the same singleton: nothing new.
      expect(await t.ctx.jobs.enqueue(orphanSweepJob, {}, { singletonKey: ORPHAN_SWEEP_KEY })).toBeNull();
    }
  });

  it('the background sweep waits out the grace period, keeps what got a row meanwhile, and comes back later', async () => {
    t = await startTestApp(dialect);
    const { owned, orphans, failed } = await scene();
    const logged: unknown[] = [];
    const job = orphanSweepJobDefinition({ sweep: new OrphanBlobSweep(t.ctx.db.kysely, t.ctx.storage), graceMs: 300, everyMs: 3_600_000, logger: { info: (details) => logged.push(details) } });
    const late = orphans[2]!;
    const run = job.handler({}, { jobId: 'j', name: job.name, attempt: 1, maxAttempts: 5, signal: new AbortController().signal });
    // Its row lands during the grace period: kept.
    await addOutput(failed, late);
    expect(await run).toEqual({ rerunInMs: 3_600_000 });
    for (const key of orphans.filter((k) => k !== late)) expect(await exists(key), key).toBe(false);
    for (const key of [...owned, late]) expect(await exists(key), key).toBe(true);
    expect(logged).toEqual([expect.objectContaining({ count: orphans.length - 1 })]);
  });
});
