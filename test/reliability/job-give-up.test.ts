import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReplicateEmulator, type ReplicateEmulator } from '../support/replicate-emulator/index.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { insertModel, insertTraining } from '../support/factories.ts';
import { addDatasetImages } from '../support/dataset-factories.ts';
import { until } from '../support/until.ts';
import { listJobs } from '../support/jobs.ts';
import { submitTrainingJob, trackTrainingJob } from '../../src/trainings/training-jobs.ts';

/**
 * When Replicate stays unreachable longer than a training job's attempts last, the training must
 * still end well: one never sent fails with the reason (nothing was charged), one Replicate runs is
 * never abandoned (tracking goes on at the slowest pace). The jobs run with one attempt here, so
 * their last attempt is their first.
 */
describe('training jobs at their last attempt', () => {
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

  const jobOf = async (name: string, trainingId: string) => {
    const job = (await listJobs(t.ctx, name)).find((j) => (j.payload as { trainingId?: string }).trainingId === trainingId);
    if (!job) throw new Error(`no ${name} job for ${trainingId}`);
    return job;
  };
  const training = (id: string) => t.ctx.db.kysely.selectFrom('trainings').select(['status', 'failure_kind', 'failure_message', 'provider_error']).where('id', '=', id).executeTakeFirstOrThrow();

  it('a training never sent fails with the reason instead of staying queued', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Never sent', status: 'training' });
    await addDatasetImages(t.ctx, owner, model.id, 10, 31);
    const row = await insertTraining(t.ctx.db.kysely, owner.id, model.id, {
      status: 'queued', remote_id: null, remote_status: null, trainer_version: null, destination: null, stage: 'queued', completed_at: null, output_version: null,
      inputs: JSON.stringify({ steps: 100, trigger_word: 'NEVERSENT', resolution: '512' }), resolution: 512,
    });
    emu.addFault({ route: 'uploadFile', kind: '503', times: 50 });
    await t.ctx.jobs.enqueue(submitTrainingJob, { trainingId: row.id }, { maxAttempts: 1, singletonKey: `training-submit:${row.id}` });

    const ended = await until(() => training(row.id), (r) => r.status !== 'queued', 'the training to end');
    expect(ended).toMatchObject({ status: 'failed', failure_kind: 'provider' });
    expect(ended.failure_message).toMatch(/could not be sent to Replicate.*nothing was charged/);
    expect(ended.provider_error).toMatch(/503/);
    // Ended by its handler (which failed the training just before returning), not failed for good.
    expect((await until(() => jobOf('training.submit', row.id), (j) => j.state !== 'running', 'the submit job to be recorded as ended')).state).toBe('succeeded');
    expect(emu.requests.filter((r) => r.route === 'createTraining')).toHaveLength(0);
    emu.clearFaults();
  });

  it('a training Replicate runs is never abandoned: tracking goes on after the last attempt', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Still tracked', status: 'training' });
    const row = await insertTraining(t.ctx.db.kysely, owner.id, model.id, { status: 'processing', remote_status: 'processing', stage: 'training', completed_at: null, output_version: null });
    // Every attempt of the client (5 per call) fails.
    emu.addFault({ route: 'getTraining', kind: '500', times: 5 });
    const before = Date.now();
    await t.ctx.jobs.enqueue(trackTrainingJob, { trainingId: row.id }, { maxAttempts: 1, singletonKey: `training-track:${row.id}` });

    await until(() => emu.faults.pending(), (pending) => pending.length === 0, 'the failing polls');
    const job = await until(() => jobOf('training.track', row.id), (j) => j.state !== 'running' && Date.parse(j.runAfter) > before + 60_000, 'the job to be scheduled again');
    expect(job.state).toBe('queued');
    expect((await training(row.id)).status).toBe('processing');
  });
});
