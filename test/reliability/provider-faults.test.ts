import { afterAll, describe, expect, it } from 'vitest';
import { startReplicateEmulator, type RecordedRequest, type ReplicateEmulator } from '../support/replicate-emulator/index.ts';
import { freePort } from '../support/server-process.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { insertModel } from '../support/factories.ts';
import { addDatasetImages } from '../support/dataset-factories.ts';
import { until } from '../support/until.ts';
import { listJobs } from '../support/jobs.ts';
import { newId } from '../../src/shared/ids.ts';

/**
 * Replicate misbehaving on one call in five: 429s with Retry-After, 500/502/503, hangs past the
 * client's timeout, dropped connections, creates that happen but whose answer is lost, and dropped
 * webhooks. Through the real platform (SQLite, in-process worker, webhooks on a real port), 50
 * trainings and 100 generations run at once and must all end in the state Replicate itself reports:
 * no training created twice, none failed because a poll failed, every output stored.
 *
 * Replay with FAULT_SEED=<seed printed at the start>.
 */

const SEED = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 1e9));
const USERS = 5;
const MODELS_PER_USER = 10;
const GENERATIONS = 100;
const SCRIPTED_TRAINING_FAILURES = 5;
const SCRIPTED_PREDICTION_FAILURES = 5;
const TERMINAL = ['succeeded', 'failed', 'canceled'];
/** What the platform must end with, given the state Replicate reports. */
const EXPECTED_LOCAL: Record<string, string> = { succeeded: 'succeeded', failed: 'failed', canceled: 'canceled', aborted: 'failed' };

describe('provider faults: one Replicate call in five fails', () => {
  let emu: ReplicateEmulator;
  let t: TestApp;

  afterAll(async () => {
    await t?.close();
    await emu?.close();
  });

  it('50 trainings and 100 generations end as Replicate says, each training created once, every output stored', async () => {
    const started = Date.now();
    console.log(`provider-faults seed: ${SEED} (replay with FAULT_SEED=${SEED})`);
    emu = await startReplicateEmulator({
      speed: 1.5,
      bootMs: 100,
      predictionMs: 200,
      outputScale: 0.05,
      seed: SEED,
      failureRate: 0.2,
      randomFaults: {
        mix: { '429': 3, '500': 2, '502': 1, '503': 1, timeout: 2, reset: 2 },
        webhookDropRate: 0.1,
        afterHandlingShare: 0.3,
        includeDownloads: true,
        retryAfterSeconds: 1,
      },
    });
    const port = await freePort();
    t = await startTestApp(
      'sqlite',
      {
        REPLICATE_API_TOKEN: emu.token,
        REPLICATE_BASE_URL: emu.baseUrl,
        REPLICATE_DESTINATION: 'theway/loras',
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        REPLICATE_WEBHOOKS: 'true',
        // Hangs cost this much per attempt (creates with `Prefer: wait` take 15 s at least).
        REPLICATE_TIMEOUT_SECONDS: '2',
        TRAINING_POLL_SECONDS: '0.1',
        JOB_CONCURRENCY: '32',
        TRAINING_MAX_CONCURRENT: '100',
        TRAINING_RATE_LIMIT_PER_HOUR: '100000',
        TRAINING_IP_RATE_LIMIT_PER_HOUR: '100000',
        GENERATION_MAX_CONCURRENT: '100',
        GENERATION_MAX_PER_HOUR: '10000',
        GENERATION_RATE_LIMIT_PER_MIN: '100000',
        GENERATION_IP_RATE_LIMIT_PER_MIN: '100000',
      },
      { worker: true },
    );
    await t.app.listen({ host: '127.0.0.1', port }); // Replicate's webhooks need a real port
    const db = t.ctx.db.kysely;

    // ─── 50 models with ready datasets (one processed set, copied) ───────────────────────
    const users = await Promise.all(Array.from({ length: USERS }, () => t.newUser()));
    const models: Array<{ id: string; owner: (typeof users)[number] }> = [];
    for (const [u, owner] of users.entries()) {
      for (let m = 0; m < MODELS_PER_USER; m++) {
        const model = await insertModel(db, owner.id, { name: `Fault subject ${u} ${m}` });
        models.push({ id: model.id, owner });
      }
    }
    const template = models[0]!;
    await addDatasetImages(t.ctx, template.owner, template.id, 10, SEED % 10_000);
    for (const model of models.slice(1)) await copyDataset(t, template.id, model.id);

    // ─── 50 trainings at once ───────────────────────────────────────────────────────────
    for (let i = 0; i < SCRIPTED_TRAINING_FAILURES; i++) emu.scriptNextTraining({ outcome: 'fail', error: 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB' });
    const starts = await Promise.all(
      models.map((m) => t.request({ method: 'POST', url: `/api/models/${m.id}/trainings`, as: m.owner, payload: { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 } })),
    );
    for (const res of starts) expect(res.statusCode, res.body).toBe(201);

    const trainings = await until(
      () => db.selectFrom('trainings').select(['id', 'model_id', 'status', 'remote_id', 'dataset_url', 'weights_key', 'failure_message']).execute(),
      (rows) => rows.length === models.length && rows.every((r) => TERMINAL.includes(r.status) && (r.status !== 'succeeded' || r.weights_key !== null)),
      'every training to end (with its weights copied when it succeeded)',
      150_000,
    );

    // Created once each, and ended as Replicate says (a failed poll never fails a training).
    const creates = emu.trainingCreatesByDataset();
    expect(emu.trainingIds()).toHaveLength(models.length);
    for (const row of trainings) {
      expect(row.dataset_url && creates.get(row.dataset_url), `creates for training ${row.id}`).toBe(1);
      const remote = emu.training(row.remote_id ?? '')!;
      expect(remote, `the emulator's training for ${row.id}`).toBeDefined();
      expect(remote.input.input_images).toBe(row.dataset_url);
      expect(row.status, `${row.id}: ${row.failure_message}`).toBe(EXPECTED_LOCAL[remote.status]);
    }
    expect(trainings.filter((r) => r.status === 'failed')).toHaveLength(SCRIPTED_TRAINING_FAILURES);

    // ─── 100 generations at once, spread over the ready models ─────────────────────────
    for (let i = 0; i < SCRIPTED_PREDICTION_FAILURES; i++) emu.scriptNextPrediction({ outcome: 'fail', error: 'CUDA error: an illegal memory access was encountered' });
    const ready = trainings.filter((r) => r.status === 'succeeded').map((r) => models.find((m) => m.id === r.model_id)!);
    const requests = Array.from({ length: GENERATIONS }, (_, i) => ({ model: ready[i % ready.length]!, numOutputs: 1 + (i % 2) }));
    const created = await Promise.all(
      requests.map(({ model, numOutputs }, i) => t.request({ method: 'POST', url: `/api/models/${model.id}/generations`, as: model.owner, payload: { prompt: `a photo in the rain, take ${i}`, numOutputs } })),
    );
    for (const res of created) expect(res.statusCode, res.body).toBe(201);
    const generationIds = created.map((res) => res.json().generation.id as string);

    const generations = await until(
      () => db.selectFrom('generations').select(['id', 'status', 'remote_id', 'params', 'error']).where('id', 'in', generationIds).execute(),
      (rows) => rows.length === GENERATIONS && rows.every((r) => TERMINAL.includes(r.status)),
      'every generation to end',
      120_000,
    );
    const images = await db.selectFrom('generation_images').select(['generation_id', 'blob_key']).where('generation_id', 'in', generationIds).execute();
    for (const g of generations) {
      const remote = emu.prediction(g.remote_id ?? '');
      expect(remote, `the prediction of generation ${g.id} (${g.error})`).toBeDefined();
      expect(g.status, `${g.id}: ${g.error}`).toBe(EXPECTED_LOCAL[remote!.status]);
      const stored = images.filter((i) => i.generation_id === g.id);
      expect(stored, `outputs of ${g.id}`).toHaveLength(g.status === 'succeeded' ? (JSON.parse(g.params) as { numOutputs: number }).numOutputs : 0);
      for (const image of stored) expect(await t.ctx.storage.stat(image.blob_key), image.blob_key).not.toBeNull();
    }

    // Nothing left running, nothing given up on. (A job is recorded as ended just after its handler
    // returns, and a tracker woken by a webhook's end runs once more: allow them a moment.)
    const unfinishedJobs = async () => (await listJobs(t.ctx)).filter((j) => ['queued', 'running', 'failed'].includes(j.state)).map((j) => ({ name: j.name, state: j.state, lastError: j.lastError }));
    expect(await until(unfinishedJobs, (jobs) => jobs.length === 0, 'no job left queued, running or failed', 30_000)).toEqual([]);

    // ─── the report ─────────────────────────────────────────────────────────────────────
    const faults = emu.faultCounts();
    const resent = resentAfterFault(emu.requests);
    const byRoute: Record<string, number> = {};
    for (const r of emu.requests) byRoute[r.route ?? 'other'] = (byRoute[r.route ?? 'other'] ?? 0) + 1;
    console.log(
      `provider-faults: seed ${SEED}, sqlite, ${Math.round((Date.now() - started) / 1000)} s; ${emu.requests.length} API calls (${JSON.stringify(byRoute)}); ` +
        `faults injected ${emu.injectedFaults.length}: ${JSON.stringify(faults)}; faulted calls sent again: ${resent.resent} of ${resent.faulted}; ` +
        `trainings ${trainings.length} (created ${emu.trainingIds().length}, failed as scripted ${SCRIPTED_TRAINING_FAILURES}); ` +
        `generations ${GENERATIONS} → predictions created ${emu.predictionIds().length}; webhooks sent ${emu.webhooks.length}, dropped ${emu.webhooks.filter((w) => w.dropped).length}`,
    );
    // Plausible retrying: faults were met (the test means something) and most faulted calls were sent again.
    expect(emu.injectedFaults.length).toBeGreaterThan(100);
    for (const kind of ['429', '500', '502', '503', 'timeout', 'reset', 'drop-webhook']) expect(Object.keys(faults).some((k) => k.startsWith(kind)), kind).toBe(true);
    expect(resent.resent).toBeGreaterThan(resent.faulted * 0.8);
  }, 240_000);
});

/** Copies a processed dataset (rows and files) to another model: fast setup for many models. */
async function copyDataset(t: TestApp, from: string, to: string): Promise<void> {
  const rows = await t.ctx.db.kysely.selectFrom('dataset_images').selectAll().where('model_id', '=', from).execute();
  for (const row of rows) {
    const imageKey = row.image_key.replace(from, to);
    const thumbKey = row.thumb_key.replace(from, to);
    await t.ctx.storage.put(imageKey, await readAll(t, row.image_key), { contentType: 'image/jpeg' });
    await t.ctx.storage.put(thumbKey, await readAll(t, row.thumb_key), { contentType: 'image/webp' });
    await t.ctx.db.kysely.insertInto('dataset_images').values({ ...row, id: newId(), model_id: to, image_key: imageKey, thumb_key: thumbKey }).execute();
  }
}

async function readAll(t: TestApp, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await t.ctx.storage.get(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Faulted API calls (429, 5xx, hung or reset) and how many of them were sent again later (same
 * method and path): the client's retries of reads and 429s, and job retries of the rest.
 */
function resentAfterFault(requests: readonly RecordedRequest[]): { faulted: number; resent: number } {
  const seenLater = new Set<string>();
  let faulted = 0;
  let resent = 0;
  for (let i = requests.length - 1; i >= 0; i--) {
    const r = requests[i]!;
    const key = `${r.method} ${r.path}`;
    if (r.status === 0 || r.status === 429 || r.status >= 500) {
      faulted++;
      if (seenLater.has(key)) resent++;
    }
    seenLater.add(key);
  }
  return { faulted, resent };
}
