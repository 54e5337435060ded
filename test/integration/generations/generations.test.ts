import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { startReplicateEmulator, type ReplicateEmulator } from '../../support/replicate-emulator/index.ts';
import { until } from '../../support/until.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel } from '../../support/factories.ts';
import { addDatasetImages } from '../../support/dataset-factories.ts';
import { DIALECTS } from '../../support/databases.ts';


describe.each(DIALECTS)('generating with a trained model (%s)', (dialect) => {
  let emu: ReplicateEmulator;
  let t: TestApp;
  let owner: { id: string; token: string };
  let stranger: { id: string; token: string };
  let modelId: string;

  beforeAll(async () => {
    emu = await startReplicateEmulator({ speed: 4, bootMs: 30 });
    t = await startTestApp(dialect, { REPLICATE_API_TOKEN: emu.token, REPLICATE_BASE_URL: emu.baseUrl, REPLICATE_DESTINATION: 'theway/loras', TRAINING_POLL_SECONDS: '0.03', GENERATION_MAX_CONCURRENT: '6', GENERATION_MAX_PER_HOUR: '12' }, { worker: true });
    owner = await t.newUser();
    stranger = await t.newUser();
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Rex the dog' });
    modelId = model.id;
    await addDatasetImages(t.ctx, owner, modelId, 10, 9100);
    const training = (await t.request({ method: 'POST', url: `/api/models/${modelId}/trainings`, as: owner, payload: { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 } })).json().training;
    await until(async () => (await t.request({ method: 'GET', url: `/api/trainings/${training.id}`, as: owner })).json().training, (tr) => tr.weightsAvailable, 'a ready model', 30_000);
  }, 60_000);
  afterAll(async () => {
    await t.close();
    await emu.close();
  });

  const generate = (payload: Record<string, unknown>, as = owner, id = modelId) => t.request({ method: 'POST', url: `/api/models/${id}/generations`, as, payload });
  const get = async (id: string) => (await t.request({ method: 'GET', url: `/api/generations/${id}`, as: owner })).json().generation;

  it('offers the controls Flux really has (no negative prompt) and the trigger word', async () => {
    const res = (await t.request({ method: 'GET', url: `/api/models/${modelId}/generation-options`, as: owner })).json();
    expect(res).toMatchObject({ available: true, triggerWord: 'REXDOG', controls: { baseModel: 'flux-dev', negativePrompt: { supported: false }, loraScale: { min: -1, max: 3, default: 1 } } });
    const refused = await generate({ prompt: 'on a beach', negativePrompt: 'blurry' });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.message).toMatch(/no negative prompt/);
    const outOfRange = await generate({ prompt: 'on a beach', guidanceScale: 11 });
    expect(outOfRange.statusCode).toBe(400);
    expect(outOfRange.json().error.details[0]).toMatchObject({ path: ['guidanceScale'] });
    expect(outOfRange.json().error.message).toMatch(/between 0 and 10/);
  });

  it('generates, copies the real images into storage, and records the seed to reproduce', async () => {
    const res = await generate({ prompt: 'a photo on a beach', numOutputs: 2, seed: 1234, loraScale: 0.8 });
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json().generation;
    expect(created.params).toMatchObject({ prompt: 'REXDOG a photo on a beach', seed: 1234, loraScale: 0.8, numOutputs: 2 });
    const done = await until(() => get(created.id), (g) => g.status === 'succeeded' || g.status === 'failed', 'generation');
    expect(done.status).toBe('succeeded');
    expect(done.images).toHaveLength(2);
    const img = await t.request({ method: 'GET', url: done.images[0].url, as: owner });
    expect(img.statusCode).toBe(200);
    expect(img.headers['content-type']).toBe('image/png');
    const meta = await sharp(img.rawPayload).metadata();
    expect(meta.format).toBe('png');
    const remote = emu.requests.filter((r) => r.route === 'createPrediction');
    expect(remote.length).toBeGreaterThan(0);
    // Same prompt and seed again → the same picture (the emulator renders deterministically).
    const again = (await generate({ prompt: 'a photo on a beach', numOutputs: 1, seed: 1234, loraScale: 0.8 })).json().generation;
    const second = await until(() => get(again.id), (g) => g.status === 'succeeded', 'second generation');
    const bytes2 = (await t.request({ method: 'GET', url: second.images[0].url, as: owner })).rawPayload;
    expect(Buffer.compare(bytes2, img.rawPayload)).toBe(0);
  });

  it('renders a LoRA-scale comparison with one seed, shown as one batch', async () => {
    const res = await t.request({ method: 'POST', url: `/api/models/${modelId}/comparisons`, as: owner, payload: { prompt: 'portrait', seed: 77, loraScales: [0.4, 0.8, 1.2] } });
    expect(res.statusCode, res.body).toBe(201);
    const { batchId, generations } = res.json();
    expect(generations.map((g: { params: { seed: number; loraScale: number } }) => [g.params.seed, g.params.loraScale])).toEqual([[77, 0.4], [77, 0.8], [77, 1.2]]);
    await until(async () => (await t.request({ method: 'GET', url: `/api/generations?batchId=${batchId}`, as: owner })).json().generations, (gs: Array<{ status: string }>) => gs.every((g) => g.status === 'succeeded'), 'comparison');
  });

  it('saves, edits, reuses and deletes prompt recipes', async () => {
    const gallery = (await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}`, as: owner })).json().generations;
    const fromGen = await t.request({ method: 'POST', url: `/api/models/${modelId}/recipes`, as: owner, payload: { name: 'Beach', fromGeneration: gallery[0].id } });
    expect(fromGen.statusCode, fromGen.body).toBe(201);
    expect(fromGen.json().recipe.params).toHaveProperty('seed');
    expect((await t.request({ method: 'POST', url: `/api/models/${modelId}/recipes`, as: owner, payload: { name: 'beach', prompt: 'x' } })).statusCode).toBe(409);
    const id = fromGen.json().recipe.id;
    const edited = await t.request({ method: 'PATCH', url: `/api/recipes/${id}`, as: owner, payload: { name: 'Beach at dusk' } });
    expect(edited.json().recipe.name).toBe('Beach at dusk');
    expect((await t.request({ method: 'GET', url: `/api/models/${modelId}/recipes`, as: owner })).json().recipes).toHaveLength(1);
    expect((await t.request({ method: 'PATCH', url: `/api/recipes/${id}`, as: stranger, payload: { name: 'mine' } })).statusCode).toBe(404);
    expect((await t.request({ method: 'DELETE', url: `/api/recipes/${id}`, as: owner })).statusCode).toBe(204);
  });

  it('keeps generations private, hides private models, and lets others use a public one', async () => {
    const mine = (await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}`, as: owner })).json().generations[0];
    expect((await t.request({ method: 'GET', url: `/api/generations/${mine.id}`, as: stranger })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: mine.images[0].url, as: stranger })).statusCode).toBe(404);
    expect((await generate({ prompt: 'x' }, stranger)).statusCode).toBe(404);
    await t.request({ method: 'PATCH', url: `/api/models/${modelId}`, as: owner, payload: { visibility: 'public' } });
    const theirs = await generate({ prompt: 'on a boat' }, stranger);
    expect(theirs.statusCode, theirs.body).toBe(201);
    const g = theirs.json().generation;
    expect((await t.request({ method: 'GET', url: `/api/generations/${g.id}`, as: owner })).statusCode).toBe(404);
    await t.request({ method: 'PATCH', url: `/api/models/${modelId}`, as: owner, payload: { visibility: 'private' } });
  });

  it('enforces the hourly quota with a clear message, and deletes a generation with its files', async () => {
    const gallery = (await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}&limit=100`, as: owner })).json().generations;
    const first = gallery.at(-1);
    expect((await t.request({ method: 'DELETE', url: `/api/generations/${first.id}`, as: owner })).statusCode).toBe(204);
    const keys: string[] = [];
    for await (const k of t.ctx.storage.list(`generations/${first.id}/`)) keys.push(k);
    expect(keys).toEqual([]);
    // The limit is 12 per hour (deleted generations no longer count): keep generating until refused.
    let status = 201;
    let last;
    for (let i = 0; i < 20 && status === 201; i++) {
      last = await generate({ prompt: `quota ${i}` });
      status = last.statusCode;
      if (status === 201) await until(() => get(last!.json().generation.id), (x) => x.status !== 'queued' && x.status !== 'submitting' && x.status !== 'starting' && x.status !== 'processing', 'finish');
    }
    expect(status).toBe(429);
    expect(last!.json().error.message).toMatch(/generations per hour/);
  });
});
