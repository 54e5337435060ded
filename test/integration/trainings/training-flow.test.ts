import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startReplicateEmulator, type ReplicateEmulator } from '../../support/replicate-emulator/index.ts';
import { until } from '../../support/until.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel } from '../../support/factories.ts';
import { addDatasetImages } from '../../support/dataset-factories.ts';
import { listJobs } from '../../support/jobs.ts';
import { signWebhook } from '../../../src/providers/replicate/webhook-signature.ts';


const settings = { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 };

describe('training on Replicate (emulator), polling only', () => {
  let emu: ReplicateEmulator;
  let t: TestApp;
  let owner: { id: string; token: string };

  beforeAll(async () => {
    emu = await startReplicateEmulator({ speed: 2, bootMs: 60 });
    t = await startTestApp('sqlite', { ...emu.platformEnv(), TRAINING_POLL_SECONDS: '0.03' }, { worker: true });
    owner = await t.newUser();
  });
  afterAll(async () => {
    await t.close();
    await emu.close();
  });
  afterEach(() => emu.clearFaults());

  const readyModel = async (name: string, images = 10) => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name });
    await addDatasetImages(t.ctx, owner, model.id, images, Math.floor(Math.random() * 1e6));
    return model;
  };
  const start = async (modelId: string, body: Record<string, unknown> = settings) => {
    const res = await t.request({ method: 'POST', url: `/api/models/${modelId}/trainings`, as: owner, payload: body });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().training as { id: string; status: string };
  };
  const get = async (id: string) => (await t.request({ method: 'GET', url: `/api/trainings/${id}`, as: owner })).json().training;

  it('plans before paying: steps formula, duration and cost; blocks with too few images', async () => {
    const few = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Few images' });
    await addDatasetImages(t.ctx, owner, few.id, 3, 900);
    const blocked = await t.request({ method: 'POST', url: `/api/models/${few.id}/training-plan`, as: owner, payload: settings });
    expect(blocked.json()).toMatchObject({ canStart: false });
    expect(blocked.json().blockers[0]).toMatch(/at least 10 images/);
    expect((await t.request({ method: 'POST', url: `/api/models/${few.id}/trainings`, as: owner, payload: settings })).statusCode).toBe(409);
    const sd15 = await t.request({ method: 'POST', url: `/api/models/${few.id}/training-plan`, as: owner, payload: { ...settings, baseModel: 'sd15' } });
    expect(sd15.json().blockers.join(' ')).toMatch(/No cloud trainer for Stable Diffusion 1.5/);
    const options = (await t.request({ method: 'GET', url: `/api/models/${few.id}/training-options`, as: owner })).json();
    expect(options.baseModels.find((b: { id: string }) => b.id === 'sd21')).toMatchObject({ available: false });
    expect(options.baseModels.find((b: { id: string }) => b.id === 'flux-dev')).toMatchObject({ available: true });
  });

  it('submits once, tracks progress from the logs, copies the weights, and the model becomes ready', async () => {
    const model = await readyModel('Rex the dog');
    const before = emu.trainingIds().length;
    const training = await start(model.id);
    expect(training.status).toBe('queued');
    const done = await until(() => get(training.id), (tr) => tr.status === 'succeeded' && tr.weightsAvailable, 'success with weights');
    expect(emu.trainingIds().length - before).toBe(1);
    const remote = emu.training(emu.trainingIds().at(-1)!)!;
    expect(remote.input).toMatchObject({ trigger_word: 'REXDOG', steps: 250, resolution: '512' });
    expect(done.progress.percent).toBe(100);
    expect(done.progress.stage).toBe('finished');
    expect(done.outputVersion).toMatch(/^theway\/loras:[0-9a-f]{64}$/);
    const loss = (await t.request({ method: 'GET', url: `/api/trainings/${training.id}/loss`, as: owner })).json().points;
    expect(loss.length).toBeGreaterThan(5);
    const weights = await t.request({ method: 'GET', url: `/api/trainings/${training.id}/weights`, as: owner });
    expect(weights.statusCode).toBe(200);
    expect(weights.headers['content-disposition']).toMatch(/Rex-the-dog\.safetensors/);
    const headerLength = Number(weights.rawPayload.readBigUInt64LE(0));
    expect(JSON.parse(weights.rawPayload.subarray(8, 8 + headerLength).toString())).toHaveProperty('lora_unet.weight');
    const m = (await t.request({ method: 'GET', url: `/api/models/${model.id}`, as: owner })).json().model;
    expect(m.status).toBe('ready');
    expect((await t.request({ method: 'GET', url: `/api/trainings/${training.id}/logs`, as: owner })).json().tail).toMatch(/flux_train_replicate/);
  });

  it("deleting a model removes its trainings' zips and weights from storage", async () => {
    const model = await readyModel('Short-lived');
    const training = await start(model.id);
    await until(() => get(training.id), (tr) => tr.status === 'succeeded' && tr.weightsAvailable, 'success with weights');
    const keys = async () => {
      const found: string[] = [];
      for await (const k of t.ctx.storage.list(`trainings/${training.id}/`)) found.push(k);
      return found.sort();
    };
    expect(await keys()).toEqual(expect.arrayContaining([`trainings/${training.id}/dataset.zip`, `trainings/${training.id}/lora.safetensors`]));
    expect((await t.request({ method: 'DELETE', url: `/api/models/${model.id}`, as: owner })).statusCode).toBe(204);
    expect(await keys()).toEqual([]);
  });

  it('refuses a second training while one runs', async () => {
    const model = await readyModel('Busy');
    emu.scriptNextTraining({ outcome: 'stall' });
    const first = await start(model.id);
    await until(() => get(first.id), (tr) => tr.status === 'starting', 'submitted');
    const second = await t.request({ method: 'POST', url: `/api/models/${model.id}/trainings`, as: owner, payload: settings });
    expect(second.statusCode).toBe(409);
    expect(second.json().error.message).toMatch(/already training/);
    await t.request({ method: 'POST', url: `/api/trainings/${first.id}/cancel`, as: owner });
    await until(() => get(first.id), (tr) => tr.status === 'canceled', 'canceled');
  });

  it('cancels a running training on Replicate (stops billing)', async () => {
    const model = await readyModel('Cancel me');
    emu.scriptNextTraining({ outcome: 'stall' });
    const training = await start(model.id);
    await until(() => get(training.id), (tr) => tr.status === 'starting', 'submitted');
    const res = await t.request({ method: 'POST', url: `/api/trainings/${training.id}/cancel`, as: owner });
    expect(res.statusCode).toBe(200);
    expect(res.json().training.cancelRequested).toBe(true);
    const done = await until(() => get(training.id), (tr) => tr.status === 'canceled', 'canceled');
    expect(done.failure.kind).toBe('canceled');
    expect(emu.requests.some((r) => r.route === 'cancelTraining' && r.status === 200)).toBe(true);
    expect((await t.request({ method: 'POST', url: `/api/trainings/${training.id}/cancel`, as: owner })).statusCode).toBe(409);
  });

  it('explains a failure the trainer reports, and the model shows it', async () => {
    const model = await readyModel('Will fail');
    emu.scriptNextTraining({ outcome: 'fail', error: 'Failed to create trained image after successful training run.' });
    const training = await start(model.id);
    const failed = await until(() => get(training.id), (tr) => tr.status === 'failed', 'failure');
    expect(failed.failure).toMatchObject({ kind: 'provider' });
    expect(failed.failure.nextStep).toMatch(/same settings/);
    expect((await t.request({ method: 'GET', url: `/api/models/${model.id}`, as: owner })).json().model.status).toBe('failed');
  });

  it('treats aborted as the end: failed with a reason', async () => {
    const model = await readyModel('Aborted');
    emu.scriptNextTraining({ outcome: 'abort' });
    const training = await start(model.id);
    const failed = await until(() => get(training.id), (tr) => tr.status === 'failed', 'aborted → failed');
    expect(failed.failure.kind).toBe('provider');
  });

  it('rides out 429s and 500s on reads and never creates twice when a create answer is lost', async () => {
    const model = await readyModel('Flaky provider');
    const before = emu.trainingIds().length;
    // The create is carried out, but its answer is lost: the outcome is unknown to the platform.
    emu.addFault({ route: 'createTraining', kind: '500', afterHandling: true });
    emu.addFault({ route: 'getTraining', kind: '500', times: 2 });
    emu.addFault({ route: 'getTraining', kind: '429', retryAfter: 0, times: 2 });
    const training = await start(model.id);
    const done = await until(() => get(training.id), (tr) => tr.status === 'succeeded' || tr.status === 'failed', 'the end despite faults');
    expect(done.failure).toBeNull();
    expect(done.status).toBe('succeeded');
    expect(emu.trainingIds().length - before).toBe(1);
    expect(emu.requests.filter((r) => r.route === 'listTrainings').length).toBeGreaterThan(0);
  });

  it('a succeeded training whose weights copy was lost with its job is picked up again (housekeeping resumes it)', async () => {
    const model = await readyModel('Stranded weights');
    const training = await start(model.id);
    await until(() => get(training.id), (tr) => tr.status === 'succeeded' && tr.weightsAvailable, 'success with weights');
    // As if the copy job's last attempt died with its worker: succeeded, nothing copied, no job left.
    await t.ctx.db.kysely.updateTable('trainings').set({ weights_key: null, weights_bytes: null, stage: 'uploading' }).where('id', '=', training.id).execute();
    await t.ctx.storage.delete(`trainings/${training.id}/lora.safetensors`);
    expect((await get(training.id)).weightsAvailable).toBe(false);
    await t.ctx.trainings.resumeUnfinished();
    const done = await until(() => get(training.id), (tr) => tr.weightsAvailable, 'the weights copied again');
    expect(done.status).toBe('succeeded');
    expect((await t.request({ method: 'GET', url: `/api/trainings/${training.id}/weights`, as: owner })).statusCode).toBe(200);
    // Given up on (a failure message): left alone.
    await t.ctx.db.kysely.updateTable('trainings').set({ weights_key: null, failure_message: 'The trained weights could not be copied.' }).where('id', '=', training.id).execute();
    await t.ctx.trainings.resumeUnfinished();
    const copies = (await listJobs(t.ctx, 'training.finalize')).filter((j) => (j.payload as { trainingId: string }).trainingId === training.id);
    expect(copies.filter((j) => j.state === 'queued' || j.state === 'running')).toEqual([]);
  });

  it('a submit run that lost its job (aborted) stops before the create call; the run that took over creates it once', async () => {
    const model = await readyModel('Lost lease');
    const before = emu.trainingIds().length;
    await t.ctx.jobs.stop({ timeoutMs: 1000 });
    try {
      const training = await start(model.id);
      await expect(t.ctx.trainings.runSubmit(training.id, AbortSignal.abort())).rejects.toThrow();
      expect(emu.trainingIds().length - before).toBe(0);
      await t.ctx.jobs.start({ concurrency: 4 });
      await until(() => get(training.id), (tr) => tr.status === 'succeeded', 'the training created by the next run');
      expect(emu.trainingIds().length - before).toBe(1);
    } finally {
      await t.ctx.jobs.start({ concurrency: 4 });
    }
  });

  it('a restarted worker resumes a training submitted by the previous one, and never submits twice', async () => {
    const model = await readyModel('Restart');
    emu.scriptNextTraining({ outcome: 'succeed' });
    const before = emu.trainingIds().length;
    await t.ctx.jobs.stop({ timeoutMs: 1000 });
    const training = await start(model.id);
    // Simulate a crash right after the create call reached Replicate but before we stored its id.
    await t.ctx.trainings.runSubmit(training.id).catch(() => undefined);
    const row = await t.ctx.db.kysely.selectFrom('trainings').select(['status', 'remote_id']).where('id', '=', training.id).executeTakeFirstOrThrow();
    expect(row.status).not.toBe('queued');
    await t.ctx.db.kysely.updateTable('trainings').set({ status: 'submitting', remote_id: null }).where('id', '=', training.id).execute();
    await t.ctx.db.kysely.updateTable('jobs').set({ state: 'queued', locked_by: null }).where('state', '=', 'running').execute();
    await t.ctx.jobs.start({ concurrency: 4 });
    await t.ctx.trainings.resumeUnfinished();
    await until(() => get(training.id), (tr) => tr.status === 'succeeded', 'resumed training');
    expect(emu.trainingIds().length - before).toBe(1);
  });
});

describe('training webhooks', () => {
  let emu: ReplicateEmulator;
  let t: TestApp;
  let owner: { id: string; token: string };
  let base: string;

  beforeAll(async () => {
    // Slower than the polling suite so several throttled `logs` webhooks fit into the run.
    emu = await startReplicateEmulator({ speed: 1, bootMs: 60 });
    // The platform must know its public URL before it starts: reserve a port first.
    const probe = await startTestApp('sqlite');
    const reserved = await probe.app.listen({ port: 0, host: '127.0.0.1' });
    const port = new URL(reserved).port;
    await probe.close();
    t = await startTestApp('sqlite', { ...emu.platformEnv(), PUBLIC_URL: `http://127.0.0.1:${port}`, TRAINING_POLL_SECONDS: '30' }, { worker: true });
    base = await t.app.listen({ port: Number(port), host: '127.0.0.1' });
    owner = await t.newUser();
  });
  afterAll(async () => {
    await t.close();
    await emu.close();
  });

  it('learns the start and the end by signed webhooks (polling slowed to 30 s), without subscribing to logs', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Hooked' });
    await addDatasetImages(t.ctx, owner, model.id, 10, 4000);
    const res = await fetch(`${base}/api/models/${model.id}/trainings`, { method: 'POST', headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' }, body: JSON.stringify(settings) });
    const { training } = (await res.json()) as { training: { id: string } };
    const done = await until(async () => (await t.request({ method: 'GET', url: `/api/trainings/${training.id}`, as: owner })).json().training, (tr) => tr.status === 'succeeded' && tr.weightsAvailable, 'webhook-driven success');
    expect(done.progress.percent).toBe(100);
    const remoteId = emu.trainingIds().at(-1)!;
    const delivered = emu.webhooks.filter((w) => w.trainingId === remoteId);
    expect(delivered.filter((w) => w.event === 'completed').map((w) => w.responseStatus)).toContain(200);
    expect(delivered.filter((w) => w.event === 'start').map((w) => w.responseStatus)).toContain(200);
    // The whole log with every `logs` event, twice a second: progress comes from polling instead.
    expect(delivered.filter((w) => w.event === 'logs')).toEqual([]);
    expect(emu.training(remoteId)?.events).toEqual(['start', 'completed']);
    // The tracker asleep until its next poll (30 s here) is woken and ends now.
    await until(() => listJobs(t.ctx, 'training.track'), (jobs) => jobs.every((j) => j.state === 'succeeded'), 'the tracker to finish', 15_000);
  });

  it('rejects forged, tampered and stale webhooks, and answers a replay as a duplicate', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Hook checks' });
    await addDatasetImages(t.ctx, owner, model.id, 10, 5000);
    emu.scriptNextTraining({ outcome: 'stall' });
    const { training } = (await (await fetch(`${base}/api/models/${model.id}/trainings`, { method: 'POST', headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' }, body: JSON.stringify(settings) })).json()) as { training: { id: string } };
    const row = await until(() => t.ctx.db.kysely.selectFrom('trainings').selectAll().where('id', '=', training.id).executeTakeFirstOrThrow(), (r) => r.remote_id !== null, 'remote id');
    const body = JSON.stringify({ id: row.remote_id, status: 'processing', input: {}, logs: 'flux_train_replicate:  10%|█         | 100/1000 [01:23<12:34,  1.19it/s, lr: 4.0e-04 loss: 3.652e-01]\n', created_at: new Date().toISOString() });
    const now = Math.floor(Date.now() / 1000);
    const post = (headers: Record<string, string>, payload = body) => fetch(`${base}/api/webhooks/replicate`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload });
    const good = signWebhook({ secret: emu.webhookSecret, webhookId: 'msg_test_1', timestampSeconds: now, rawBody: body });
    const forged = signWebhook({ secret: `whsec_${Buffer.from('x'.repeat(24)).toString('base64')}`, webhookId: 'msg_test_2', timestampSeconds: now, rawBody: body });
    const stale = signWebhook({ secret: emu.webhookSecret, webhookId: 'msg_test_3', timestampSeconds: now - 600, rawBody: body });
    expect((await post({ ...forged })).status).toBe(401);
    expect((await post({ ...good }, body.replace('processing', 'succeeded'))).status).toBe(401);
    expect((await post({ ...stale })).status).toBe(401);
    const unchanged = await t.ctx.db.kysely.selectFrom('trainings').select(['status', 'progress_step']).where('id', '=', training.id).executeTakeFirstOrThrow();
    expect(unchanged.progress_step).toBeNull();
    const first = await post({ ...good });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ outcome: 'applied' });
    const replay = await post({ ...good });
    expect(await replay.json()).toEqual({ outcome: 'duplicate' });
    const after = await t.ctx.db.kysely.selectFrom('trainings').select(['status', 'progress_step', 'loss']).where('id', '=', training.id).executeTakeFirstOrThrow();
    expect(after).toMatchObject({ status: 'processing', progress_step: 100, loss: 0.3652 });
    const unknown = JSON.stringify({ id: 'nosuchtraining', status: 'processing', input: {} });
    expect((await post(signWebhook({ secret: emu.webhookSecret, webhookId: 'msg_test_4', timestampSeconds: now, rawBody: unknown }) as unknown as Record<string, string>, unknown)).status).toBe(404);
    await t.request({ method: 'POST', url: `/api/trainings/${training.id}/cancel`, as: owner });
  });
});
