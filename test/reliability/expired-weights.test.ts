import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReplicateEmulator, type ReplicateEmulator } from '../support/replicate-emulator/index.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { insertModel, insertTraining } from '../support/factories.ts';
import { addDatasetImages } from '../support/dataset-factories.ts';
import { until } from '../support/until.ts';
import { listJobs } from '../support/jobs.ts';

/**
 * Replicate's delivery links expire. When the platform was down while a training finished (or its
 * first copy attempts failed for long enough), the weights can no longer be downloaded: retrying
 * for hours cannot bring them back, and the model must not show "Training" forever.
 */
describe('weights that expired before they were copied', () => {
  let emu: ReplicateEmulator;
  let t: TestApp;
  let owner: { id: string; token: string };

  beforeAll(async () => {
    emu = await startReplicateEmulator({ speed: 2, bootMs: 60 });
    t = await startTestApp('sqlite', { ...emu.platformEnv(), TRAINING_POLL_SECONDS: '0.05' }, { worker: true });
    owner = await t.newUser();
  });
  afterAll(async () => {
    await t?.close();
    await emu?.close();
  });

  it('ends the copy at once with a reason, and the model leaves "training"', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Expired weights' });
    await addDatasetImages(t.ctx, owner, model.id, 10, 777);
    // The first download of the weights finds the link already expired.
    const held = emu.pause('download', 'before', (r) => r.path.endsWith('/trained_model.tar'));
    const res = await t.request({ method: 'POST', url: `/api/models/${model.id}/trainings`, as: owner, payload: { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 } });
    expect(res.statusCode, res.body).toBe(201);
    const trainingId = res.json().training.id as string;
    await held.reached;
    emu.expireDeliveries();
    held.release();

    const modelStatus = async () => (await t.request({ method: 'GET', url: `/api/models/${model.id}`, as: owner })).json().model.status as string;
    // Within seconds, not after 20 retries spread over hours.
    await until(modelStatus, (status) => status !== 'training', 'the model to leave "training"', 15_000);
    const row = await t.ctx.db.kysely.selectFrom('trainings').select(['status', 'weights_key', 'failure_message', 'stage']).where('id', '=', trainingId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'succeeded', weights_key: null, stage: 'finished' });
    expect(row.failure_message).toMatch(/expired|no longer/i);
    expect((await listJobs(t.ctx, 'training.finalize')).map((j) => j.state)).toEqual(['succeeded']);
    // Nothing to generate with: the model needs a new training.
    expect(await modelStatus()).not.toBe('ready');
    // The training says why, so its page can offer to train again instead of "copying" forever.
    const view = (await t.request({ method: 'GET', url: `/api/trainings/${trainingId}`, as: owner })).json().training;
    expect(view).toMatchObject({ status: 'succeeded', weightsAvailable: false, failure: null });
    expect(view.weightsNotice).toMatch(/expired|no longer/i);
  });

  it('gives up the copy when its job runs out of attempts, with the last error as the reason', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Copy never worked', status: 'training' });
    const training = await insertTraining(t.ctx.db.kysely, owner.id, model.id, { weights_url: `${emu.url}/delivery/x/trained_model.tar`, stage: 'uploading' });
    await t.ctx.trainings.giveUpFinalize(training.id, new Error('Downloading the trained weights failed with HTTP 503.'));
    const row = await t.ctx.db.kysely.selectFrom('trainings').select(['status', 'stage', 'failure_message']).where('id', '=', training.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'succeeded', stage: 'finished' });
    expect(row.failure_message).toMatch(/HTTP 503.*Train the model again/);
    const status = (await t.request({ method: 'GET', url: `/api/models/${model.id}`, as: owner })).json().model.status;
    expect(status).not.toBe('training');
  });
});
