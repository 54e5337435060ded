import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertReadyModel, renderPng, StubGenerationProvider } from '../../support/generation-factories.ts';
import { GenerationService, type GenerationLimits } from '../../../src/generations/generation-service.ts';
import { GenerationRepository } from '../../../src/generations/generation-repository.ts';
import { listJobs } from '../../support/jobs.ts';
import { generationJobDefinitions } from '../../../src/generations/generation-jobs.ts';
import type { User } from '../../../src/accounts/types.ts';
import type { AppError } from '../../../src/shared/errors.ts';

/**
 * The generation job's rules against a scripted provider (our own port), on a real database and
 * real storage: what the emulator cannot stage — safety-filtered or expired outputs, a process
 * dying between two steps, cancel and delete racing a run, the hourly window moving on.
 */
describe.each(DIALECTS)('the generation job and its rules (%s)', (dialect) => {
  let t: TestApp;
  let clock: Date;

  beforeAll(async () => {
    t = await startTestApp(dialect);
    clock = new Date();
  });
  afterAll(async () => {
    await t.close();
  });

  async function setup(options: { limits?: Partial<GenerationLimits>; baseModel?: 'flux-dev' | 'sdxl' } = {}) {
    const stub = new StubGenerationProvider();
    const service = new GenerationService({
      repo: new GenerationRepository(t.ctx.db.kysely),
      models: t.ctx.models,
      storage: t.ctx.storage,
      jobs: t.ctx.jobs,
      events: t.ctx.events,
      provider: stub,
      limits: { maxConcurrent: 4, maxPerHour: 100, pollIntervalMs: 1234, ...options.limits },
      quota: t.ctx.storageQuota,
      now: () => clock,
    });
    const row = await t.newUser();
    const user: User = { id: row.id, email: row.email, displayName: 'Test', role: 'user', createdAt: clock.toISOString() };
    const { model } = await insertReadyModel(t.ctx.db.kysely, user.id, { baseModel: options.baseModel ?? 'flux-dev' });
    return { stub, service, user, modelId: model.id };
  }

  const storedBytes = async (key: string) => {
    const chunks: Buffer[] = [];
    for await (const c of await t.ctx.storage.get(key)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const keysUnder = async (prefix: string) => {
    const keys: string[] = [];
    for await (const k of t.ctx.storage.list(prefix)) keys.push(k);
    return keys.sort();
  };
  const remoteIdOf = async (id: string) => (await t.ctx.db.kysely.selectFrom('generations').select('remote_id').where('id', '=', id).executeTakeFirstOrThrow()).remote_id!;
  const queuedJobs = async (name: string) => (await listJobs(t.ctx, name)).map((j) => ({ state: j.state, payload: JSON.stringify(j.payload) }));

  it('copies every output into storage by what its bytes are, records the seed, and is done when run again', async () => {
    const { stub, service, user, modelId } = await setup();
    const png = await renderPng(1);
    const webp = await sharp(png).webp().toBuffer();
    stub.files.set('stub://a', { bytes: png, contentType: 'image/png' });
    stub.files.set('stub://b', { bytes: webp, contentType: 'application/octet-stream' });
    stub.script = [{ status: 'succeeded', outputs: ['stub://a', 'stub://b'] }];
    const created = await service.create(user, modelId, { prompt: 'on a beach', numOutputs: 2 });
    expect(created.status).toBe('queued');
    expect(created.params.seed).toBeGreaterThanOrEqual(0); // a random seed, recorded to reproduce
    expect(await service.run(created.id)).toBeNull(); // finished inside the create call (Prefer: wait)
    const done = await service.get(user, created.id);
    expect(done).toMatchObject({ status: 'succeeded', error: null, notice: null });
    expect(done.images.map((i) => [i.contentType, i.width, i.height])).toEqual([['image/png', 64, 48], ['image/webp', 64, 48]]);
    expect(stub.created[0]!.input).toMatchObject({ prompt: 'REXDOG on a beach', seed: created.params.seed, num_outputs: 2 });
    const keys = await keysUnder(`generations/${modelId}/${created.id}/`);
    expect(keys).toEqual([`generations/${modelId}/${created.id}/0.png`, `generations/${modelId}/${created.id}/1.webp`]);
    expect(Buffer.compare(await storedBytes(keys[1]!), webp)).toBe(0);
    expect(await service.run(created.id)).toBeNull();
    expect(stub.created).toHaveLength(1);
  });

  it('polls until the prediction ends, publishing each status change once', async () => {
    const { stub, service, user, modelId } = await setup();
    stub.files.set('stub://a', { bytes: await renderPng(2), contentType: 'image/png' });
    stub.script = [{ status: 'starting' }, { status: 'processing' }, { status: 'processing' }, { status: 'succeeded', outputs: ['stub://a'] }];
    const seen: string[] = [];
    const off = t.ctx.events.subscribe((e) => {
      if (e.type === 'generation.updated' && e.ownerId === user.id) seen.push(e.status!);
    });
    const g = await service.create(user, modelId, { prompt: 'x', seed: 5 });
    expect(await service.run(g.id)).toBe(1234);
    expect((await service.get(user, g.id)).status).toBe('starting');
    expect(await service.run(g.id)).toBe(1234);
    expect(await service.run(g.id)).toBe(1234);
    expect((await service.get(user, g.id)).status).toBe('processing');
    expect(await service.run(g.id)).toBeNull();
    off();
    expect(seen).toEqual(['queued', 'submitting', 'starting', 'processing', 'succeeded']);
  });

  it("explains outputs withheld by the safety filter, and fails when every one was", async () => {
    const { stub, service, user, modelId } = await setup();
    stub.files.set('stub://a', { bytes: await renderPng(3), contentType: 'image/png' });
    stub.script = [{ status: 'succeeded', outputs: ['stub://a'] }];
    const some = await service.create(user, modelId, { prompt: 'x', numOutputs: 3 });
    await service.run(some.id);
    expect(await service.get(user, some.id)).toMatchObject({ status: 'succeeded', error: null, notice: "2 of 3 images were withheld by Replicate's safety filter." });

    const { stub: stub2, service: service2, user: user2, modelId: model2 } = await setup();
    stub2.script = [{ status: 'failed', error: 'All generated images contained NSFW content. Try running it again with a different prompt.' }];
    const all = await service2.create(user2, model2, { prompt: 'x' });
    await service2.run(all.id);
    expect(await service2.get(user2, all.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/withheld by Replicate's safety filter\. Rephrase/), images: [] });
  });

  it('keeps what could be copied when some outputs had already expired, and fails when none could', async () => {
    const { stub, service, user, modelId } = await setup();
    stub.files.set('stub://a', { bytes: await renderPng(4), contentType: 'image/png' });
    stub.files.set('stub://b', { expired: true });
    stub.script = [{ status: 'succeeded', outputs: ['stub://a', 'stub://b'] }];
    const partly = await service.create(user, modelId, { prompt: 'x', numOutputs: 2 });
    await service.run(partly.id);
    const view = await service.get(user, partly.id);
    expect(view).toMatchObject({ status: 'succeeded', notice: expect.stringMatching(/Image 2 could not be copied from Replicate \(it had already expired\)/) });
    expect(view.images).toHaveLength(1);

    stub.script = [{ status: 'succeeded', outputs: ['stub://b'] }];
    const none = await service.create(user, modelId, { prompt: 'y' });
    await service.run(none.id);
    expect(await service.get(user, none.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/already expired/) });
  });

  it('survives a lost create answer and a crash halfway through copying, without losing or re-copying an image', async () => {
    const { stub, service, user, modelId } = await setup();
    const a = await renderPng(5);
    const b = await renderPng(6);
    stub.files.set('stub://a', { bytes: a, contentType: 'image/png' });
    stub.script = [{ status: 'succeeded', outputs: ['stub://a', 'stub://b'] }];
    stub.loseCreateAnswers = 1;
    const g = await service.create(user, modelId, { prompt: 'x', numOutputs: 2 });
    await expect(service.run(g.id)).rejects.toThrow(/socket hang up/);
    expect((await service.get(user, g.id)).status).toBe('submitting'); // retried by the job, not stuck
    // Second run: the create goes through; output b is not downloadable yet (a transient failure).
    const downloads: string[] = [];
    const download = stub.download.bind(stub);
    stub.download = async (url) => {
      downloads.push(url);
      if (url === 'stub://b' && !stub.files.has('stub://b')) throw Object.assign(new Error('connection reset'), { retryable: true, outcomeUnknown: false });
      return download(url);
    };
    await expect(service.run(g.id)).rejects.toThrow(/connection reset/);
    const half = await service.get(user, g.id);
    expect(half.status).toBe('starting');
    expect(half.images.map((i) => i.position)).toEqual([0]);
    // After a restart, resumeUnfinished hands it back to the job, which copies only what is missing.
    stub.files.set('stub://b', { bytes: b, contentType: 'image/png' });
    expect(await service.resumeUnfinished()).toBeGreaterThanOrEqual(1);
    expect((await queuedJobs('generation.run')).some((j) => j.payload.includes(g.id))).toBe(true);
    await service.run(g.id);
    expect(downloads).toEqual(['stub://a', 'stub://b', 'stub://b']);
    const done = await service.get(user, g.id);
    expect(done.status).toBe('succeeded');
    expect(done.images).toHaveLength(2);
    expect(Buffer.compare(await storedBytes(`generations/${modelId}/${g.id}/1.png`), b)).toBe(0);
  });

  it('ends a generation with the reason when its job runs out of attempts', async () => {
    const { stub, service, user, modelId } = await setup();
    stub.script = [{ status: 'processing' }];
    const g = await service.create(user, modelId, { prompt: 'x' });
    await service.run(g.id);
    stub.getPrediction = async () => {
      throw Object.assign(new Error('Replicate GET /predictions/p1 failed with 503: unavailable'), { retryable: true, outcomeUnknown: false, status: 503 });
    };
    const [runJob] = generationJobDefinitions(service);
    const ctx = { jobId: 'j', name: 'generation.run', attempt: runJob!.maxAttempts, maxAttempts: runJob!.maxAttempts, signal: new AbortController().signal };
    await runJob!.handler({ generationId: g.id }, { ...ctx, attempt: 1 }).then(
      () => expect.unreachable('an early attempt must throw so the queue retries'),
      (error: Error) => expect(error.message).toMatch(/503/),
    );
    await runJob!.handler({ generationId: g.id }, ctx);
    expect(await service.get(user, g.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/Replicate kept failing: .*503/) });
    const remoteId = await remoteIdOf(g.id);
    expect((await queuedJobs('generation.cancel-remote')).some((j) => j.payload.includes(remoteId))).toBe(true);
  });

  it('cancels before and after submitting, stopping the remote prediction', async () => {
    const { stub, service, user, modelId } = await setup();
    stub.script = [{ status: 'processing' }];
    const early = await service.create(user, modelId, { prompt: 'x' });
    expect((await service.cancel(user, early.id)).status).toBe('canceled');
    expect(await service.run(early.id)).toBeNull();
    expect(stub.created).toHaveLength(0);

    const late = await service.create(user, modelId, { prompt: 'y' });
    await service.run(late.id);
    const canceled = await service.cancel(user, late.id);
    expect(canceled).toMatchObject({ status: 'canceled', error: 'Canceled by you.' });
    const remoteId = await remoteIdOf(late.id);
    expect((await queuedJobs('generation.cancel-remote')).some((j) => j.payload.includes(remoteId))).toBe(true);
    await service.runCancelRemote(remoteId);
    expect(stub.canceled).toEqual([remoteId]);
    await expect(service.cancel(user, late.id)).rejects.toMatchObject({ code: 'conflict' });
  });

  it('deletes a running generation: its row, its files, and its remote prediction', async () => {
    const { stub, service, user, modelId } = await setup();
    stub.files.set('stub://a', { bytes: await renderPng(7), contentType: 'image/png' });
    stub.script = [{ status: 'processing' }, { status: 'succeeded', outputs: ['stub://a'] }];
    const g = await service.create(user, modelId, { prompt: 'x' });
    await service.run(g.id);
    const remoteId = await remoteIdOf(g.id);
    await service.delete(user, g.id);
    await expect(service.get(user, g.id)).rejects.toMatchObject({ code: 'not_found' });
    expect(await service.run(g.id)).toBeNull(); // the job finds nothing left to do
    expect(await keysUnder(`generations/${modelId}/${g.id}/`)).toEqual([]);
    expect((await queuedJobs('generation.cancel-remote')).some((j) => j.payload.includes(`"${remoteId}"`))).toBe(true);
  });

  it("refuses settings the trained version's own schema does not accept, before sending anything", async () => {
    const { stub, service, user, modelId } = await setup();
    stub.schema = { ...stub.schema, properties: { ...stub.schema.properties, lora_scale: { type: 'number', minimum: 0, maximum: 2 } } };
    const error = (await service.create(user, modelId, { prompt: 'x', loraScale: 2.5 }).catch((e: unknown) => e)) as AppError;
    expect(error).toMatchObject({ code: 'validation_failed', details: [{ path: ['loraScale'], message: 'The trained version accepts lora_scale between 0 and 2 (got 2.5).' }] });
    expect(error.message).toMatch(/between 0 and 2/);
    expect(stub.created).toHaveLength(0);
  });

  it('limits concurrent generations, even for requests arriving together', async () => {
    const { service, user, modelId } = await setup({ limits: { maxConcurrent: 2 } });
    const results = await Promise.allSettled([1, 2, 3].map((i) => service.create(user, modelId, { prompt: `p${i}` })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ code: 'rate_limited', message: expect.stringMatching(/You can run 2 generations at once and 2 are still running\. You can generate again as soon as one finishes\./) });
    await expect(service.compare(user, modelId, { prompt: 'x', loraScales: [0.5, 1, 1.5], insertTriggerWord: true })).rejects.toMatchObject({ message: expect.stringMatching(/needs 3 generations, more than the 2/) });
  });

  it('counts the rolling hour by what was started (deleting does not refund) and says when to come back', async () => {
    const start = clock;
    try {
      const { stub, service, user, modelId } = await setup({ limits: { maxPerHour: 3 } });
      stub.files.set('stub://a', { bytes: await renderPng(8), contentType: 'image/png' });
      const first = await service.create(user, modelId, { prompt: 'a' });
      clock = new Date(start.getTime() + 10 * 60_000);
      const batch = await service.compare(user, modelId, { prompt: 'b', loraScales: [0.5, 1], seed: 3, insertTriggerWord: true });
      for (const g of [first, ...batch.generations]) {
        await service.run(g.id);
        await service.delete(user, g.id);
      }
      clock = new Date(start.getTime() + 20 * 60_000);
      const refused = (await service.create(user, modelId, { prompt: 'c' }).catch((e: unknown) => e)) as AppError;
      const retryAt = new Date(start.getTime() + 60 * 60_000);
      expect(refused).toMatchObject({ code: 'rate_limited', details: { limit: 'hourly', maxPerHour: 3, used: 3, retryAt: retryAt.toISOString() } });
      expect(refused.message).toBe(`You reached the limit of 3 generations per hour (3 started in the last hour). You can generate again at ${retryAt.toISOString().slice(11, 16)} UTC, in 40 minutes.`);
      expect((await service.options(user, modelId)).quota).toEqual({ maxConcurrent: 4, maxPerHour: 3, active: 0, usedThisHour: 3 });
      clock = new Date(start.getTime() + 61 * 60_000);
      expect((await service.create(user, modelId, { prompt: 'd' })).status).toBe('queued');
    } finally {
      clock = start;
    }
  });
});
