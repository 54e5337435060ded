import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel, insertTraining, insertUser } from '../../support/factories.ts';
import { PgBossJobQueue } from '../../../src/jobs/pg-boss-queue.ts';

/** Marks a job failed for good in whichever store the app's queue uses, as a last failed attempt leaves it. */
async function failJob(t: TestApp, id: string, message: string): Promise<void> {
  if (t.ctx.jobs instanceof PgBossJobQueue) {
    await sql`update pgboss.job set state = 'failed', retry_count = retry_limit, started_on = now(), completed_on = now(), output = ${JSON.stringify({ message })}::jsonb where id = ${id}`.execute(t.ctx.db.kysely);
  } else {
    await t.ctx.db.kysely.updateTable('jobs').set((eb) => ({ state: 'failed', attempts: eb.ref('max_attempts'), last_error: message, updated_at: new Date().toISOString() })).where('id', '=', id).execute();
  }
}

describe.each(DIALECTS)('admin view (%s)', (dialect) => {
  let t: TestApp;
  let admin: { id: string; token: string };
  let alice: { id: string; email: string; token: string };

  beforeEach(async () => {
    t = await startTestApp(dialect);
    const user = await insertUser(t.ctx.db.kysely, { role: 'admin' });
    admin = { id: user.id, token: (await t.ctx.accounts.createApiToken(user.id, { name: 'admin' })).secret };
    alice = await t.newUser();
  });
  afterEach(() => t.close());

  const get = (url: string, as: { token: string } = admin) => t.request({ method: 'GET', url, as });

  it('gives an overview: users, models, trainings by status, generations of the last 24 h, storage across users, jobs', async () => {
    const model = await insertModel(t.ctx.db.kysely, alice.id);
    await insertTraining(t.ctx.db.kysely, alice.id, model.id, { weights_key: 'trainings/x/lora.safetensors', weights_bytes: 1_000 });
    await insertTraining(t.ctx.db.kysely, alice.id, model.id, { status: 'processing', weights_key: null });
    const bob = await t.newUser();
    const bobModel = await insertModel(t.ctx.db.kysely, bob.id);
    await insertTraining(t.ctx.db.kysely, bob.id, bobModel.id, { weights_key: 'trainings/y/lora.safetensors', weights_bytes: 234 });
    const training = (await t.ctx.db.kysely.selectFrom('trainings').select('id').where('owner_id', '=', bob.id).executeTakeFirstOrThrow()).id;
    const generation = async (createdAt: string, status: 'succeeded' | 'failed') => {
      await t.ctx.db.kysely.insertInto('generations').values({ id: crypto.randomUUID(), owner_id: bob.id, model_id: bobModel.id, training_id: training, status, prompt: 'p', negative_prompt: null, params: '{}', input: '{}', shared_at: null, batch_id: null, remote_id: null, submit_attempted_at: null, error: null, created_at: createdAt, updated_at: createdAt, completed_at: createdAt }).execute();
    };
    await generation(new Date().toISOString(), 'succeeded');
    await generation(new Date().toISOString(), 'failed');
    await generation(new Date(Date.now() - 2 * 24 * 3600_000).toISOString(), 'succeeded');
    await t.ctx.jobs.enqueue('notify.test', { userId: bob.id, eventId: 'e1' }, { delayMs: 3_600_000 });

    const res = await get('/api/admin/overview');
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.users).toBe(3);
    expect(body.models).toBe(2);
    expect(body.trainingsByStatus).toEqual([{ status: 'processing', count: 1 }, { status: 'succeeded', count: 2 }]);
    expect(body.generationsLast24hByStatus).toEqual([{ status: 'failed', count: 1 }, { status: 'succeeded', count: 1 }]);
    expect(body.storageUsedBytes).toBe(1_234);
    expect(body.jobs).toEqual([{ name: 'notify.test', state: 'queued', count: 1 }]);
  });

  it('lists failed jobs with their error and whose training they are about; filters by state and name', async () => {
    const model = await insertModel(t.ctx.db.kysely, alice.id, { name: 'Rex the dog' });
    const training = await insertTraining(t.ctx.db.kysely, alice.id, model.id, { status: 'failed', weights_key: null });
    const failed = (await t.ctx.jobs.enqueue('training.submit', { trainingId: training.id }, { delayMs: 3_600_000 }))!;
    await failJob(t, failed, 'Replicate said 422: destination model missing');
    const queued = (await t.ctx.jobs.enqueue('notify.test', { userId: alice.id, eventId: 'e1' }, { delayMs: 3_600_000 }))!;

    const res = await get('/api/admin/jobs?state=failed');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().jobs).toEqual([
      expect.objectContaining({
        id: failed, name: 'training.submit', state: 'failed', lastError: 'Replicate said 422: destination model missing',
        subject: { kind: 'training', id: training.id, ownerEmail: alice.email, modelId: model.id, modelName: 'Rex the dog' },
      }),
    ]);
    const [job] = res.json().jobs;
    expect(job.attempts).toBe(job.maxAttempts);
    const waiting = (await get('/api/admin/jobs?state=queued')).json().jobs;
    expect(waiting.map((j: { id: string }) => j.id)).toEqual([queued]);
    expect(waiting[0].subject).toEqual({ kind: 'user', id: alice.id, ownerEmail: alice.email, modelId: null, modelName: null });
    expect((await get('/api/admin/jobs?name=notify.test')).json().jobs.map((j: { id: string }) => j.id)).toEqual([queued]);
    expect((await get('/api/admin/jobs?limit=1')).json().jobs).toHaveLength(1);
    expect((await get('/api/admin/jobs')).json().jobs).toHaveLength(2);

    const bad = await get('/api/admin/jobs?state=stuck');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/queued, running or failed/);
    expect((await get('/api/admin/jobs?limit=5000')).statusCode).toBe(400);
  });

  it('retries a failed job (attempts start over), and says why it will not retry one that is not failed', async () => {
    const model = await insertModel(t.ctx.db.kysely, alice.id);
    const training = await insertTraining(t.ctx.db.kysely, alice.id, model.id, { status: 'failed', weights_key: null });
    const id = (await t.ctx.jobs.enqueue('training.submit', { trainingId: training.id }, { delayMs: 3_600_000, singletonKey: `training:${training.id}` }))!;

    const early = await t.request({ method: 'POST', url: `/api/admin/jobs/${id}/retry`, as: admin });
    expect(early.statusCode).toBe(409);
    expect(early.json().error.message).toMatch(/Only a failed job can be retried; this one is queued/);

    await failJob(t, id, 'boom');
    const res = await t.request({ method: 'POST', url: `/api/admin/jobs/${id}/retry`, as: admin });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().job).toMatchObject({ id, state: 'queued', attempts: 0, subject: { kind: 'training', id: training.id } });
    expect((await t.ctx.jobs.getJob(id))?.state).toBe('queued');

    // Failed again while the same training got a new job: retrying the old one would run two.
    await failJob(t, id, 'boom again');
    expect(await t.ctx.jobs.enqueue('training.submit', { trainingId: training.id }, { delayMs: 3_600_000, singletonKey: `training:${training.id}` })).not.toBeNull();
    const twin = await t.request({ method: 'POST', url: `/api/admin/jobs/${id}/retry`, as: admin });
    expect(twin.statusCode).toBe(409);
    expect(twin.json().error.message).toMatch(/Another job for the same thing is queued or running/);

    const missing = await t.request({ method: 'POST', url: `/api/admin/jobs/${crypto.randomUUID()}/retry`, as: admin });
    expect(missing.statusCode).toBe(404);
    // A normal user cannot retry anything: the route does not exist for them.
    await failJob(t, id, 'boom');
    const denied = await t.request({ method: 'POST', url: `/api/admin/jobs/${id}/retry`, as: alice });
    expect(denied.statusCode).toBe(404);
    expect((await t.ctx.jobs.getJob(id))?.state).toBe('failed');
  });

  it('lists trainings across users: active, failed or all, with owner, model, progress and estimated cost', async () => {
    const bob = await t.newUser();
    const aliceModel = await insertModel(t.ctx.db.kysely, alice.id, { name: 'Alice style' });
    const bobModel = await insertModel(t.ctx.db.kysely, bob.id, { name: 'Bob face' });
    const running = await insertTraining(t.ctx.db.kysely, alice.id, aliceModel.id, { status: 'processing', stage: 'training', progress_percent: 42, completed_at: null, weights_key: null });
    const broken = await insertTraining(t.ctx.db.kysely, bob.id, bobModel.id, { status: 'failed', failure_message: 'Out of GPU memory', weights_key: null });
    const done = await insertTraining(t.ctx.db.kysely, bob.id, bobModel.id);

    const active = (await get('/api/admin/trainings')).json().trainings;
    expect(active).toEqual([
      expect.objectContaining({ id: running.id, ownerEmail: alice.email, modelName: 'Alice style', status: 'processing', stage: 'training', progressPercent: 42, completedAt: null, estimatedCostUsd: 2 }),
    ]);
    const failed = (await get('/api/admin/trainings?status=failed')).json().trainings;
    expect(failed).toEqual([expect.objectContaining({ id: broken.id, ownerEmail: bob.email, modelName: 'Bob face', failureMessage: 'Out of GPU memory' })]);
    const all = (await get('/api/admin/trainings?status=all')).json().trainings;
    expect(all.map((x: { id: string }) => x.id).sort()).toEqual([running.id, broken.id, done.id].sort());
    expect((await get('/api/admin/trainings?status=all&limit=2')).json().trainings).toHaveLength(2);
    expect((await get('/api/admin/trainings?status=stuck')).statusCode).toBe(400);
    // Alice sees none of it.
    expect((await get('/api/admin/trainings', alice)).statusCode).toBe(404);
  });
});
