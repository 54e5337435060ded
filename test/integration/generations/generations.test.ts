import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { startReplicateEmulator, type ReplicateEmulator } from '../../support/replicate-emulator/index.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { DIALECTS } from '../../support/databases.ts';
import { trainOnEmulator, waitFor } from '../../support/generation-factories.ts';
import { ReplicateGenerationProvider } from '../../../src/providers/replicate/replicate-generation-provider.ts';
import { checkAgainstVersionSchema } from '../../../src/generations/version-schema.ts';
import { resolveParams } from '../../../src/generations/controls.ts';

type Generation = { id: string; status: string; params: Record<string, unknown>; images: Array<{ url: string; downloadUrl: string; contentType: string; width: number; height: number }>; error: string | null; notice: string | null; batchId: string | null };
const ENDED = new Set(['succeeded', 'failed', 'canceled']);

/** Generating over HTTP with models trained for real against the Replicate emulator (which renders real images). */
describe.each(DIALECTS)('generating with a trained model (%s)', (dialect) => {
  let emu: ReplicateEmulator;
  let t: TestApp;
  let owner: { id: string; token: string };
  let stranger: { id: string; token: string };
  let modelId: string;
  let outputVersion: string;

  beforeAll(async () => {
    emu = await startReplicateEmulator({ speed: 4, bootMs: 30, predictionMs: 60 });
    t = await startTestApp(dialect, { ...emu.platformEnv(), TRAINING_POLL_SECONDS: '0.03', GENERATION_MAX_CONCURRENT: '6', GENERATION_MAX_PER_HOUR: '40' }, { worker: true });
    owner = await t.newUser();
    stranger = await t.newUser();
    const trained = await trainOnEmulator(t, owner, { name: 'Rex the dog', baseModel: 'flux-dev', firstSeed: 9100 });
    modelId = trained.modelId;
    outputVersion = trained.training.outputVersion;
  }, 60_000);
  afterAll(async () => {
    await t.close();
    await emu.close();
  });

  const generate = (payload: Record<string, unknown>, as = owner, id = modelId) => t.request({ method: 'POST', url: `/api/models/${id}/generations`, as, payload });
  const get = async (id: string, as = owner): Promise<Generation> => (await t.request({ method: 'GET', url: `/api/generations/${id}`, as })).json().generation;
  const finished = (id: string, as = owner) => waitFor(() => get(id, as), (g) => ENDED.has(g.status), `generation ${id}`);
  const keysUnder = async (prefix: string) => {
    const keys: string[] = [];
    for await (const k of t.ctx.storage.list(prefix)) keys.push(k);
    return keys.sort();
  };

  it('offers the controls Flux really has (no negative prompt), the trigger word and the quota', async () => {
    const res = await t.request({ method: 'GET', url: `/api/models/${modelId}/generation-options`, as: owner });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      available: true, baseModelLabel: 'FLUX.1 [dev]', triggerWord: 'REXDOG', triggerWordHelp: expect.stringMatching(/REXDOG/),
      controls: { baseModel: 'flux-dev', negativePrompt: { supported: false, reason: expect.stringMatching(/no negative prompt/) }, loraScale: { min: -1, max: 3, default: 1 }, guidanceScale: { min: 0, max: 10, default: 3 }, steps: { max: 50, default: 28 }, numOutputs: { min: 1, max: 4 }, outputFormats: ['png', 'webp', 'jpg'] },
      quota: { maxConcurrent: 6, maxPerHour: 40 },
    });
  });

  it('refuses a negative prompt on Flux and out-of-range values, naming the field and the range', async () => {
    const refused = await generate({ prompt: 'on a beach', negativePrompt: 'blurry' });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toMatchObject({ code: 'validation_failed', message: expect.stringMatching(/FLUX.1 has no negative prompt/), details: [{ path: ['negativePrompt'] }] });
    const outOfRange = await generate({ prompt: 'on a beach', guidanceScale: 11, steps: 80 });
    expect(outOfRange.statusCode).toBe(400);
    expect(outOfRange.json().error.details).toEqual([
      { path: ['guidanceScale'], message: 'Guidance scale must be between 0 and 10 for FLUX.1 (got 11).' },
      { path: ['steps'], message: 'Steps must be between 1 and 50 for FLUX.1 (got 80).' },
    ]);
    expect((await generate({ prompt: 'x', numOutputs: 5 })).json().error.message).toMatch(/Number of outputs must be between 1 and 4/);
    expect((await generate({ prompt: '   ' })).statusCode).toBe(400);
    expect(emu.requests.filter((r) => r.route === 'createPrediction')).toHaveLength(0);
  });

  it("reads the trained version's schema from Replicate once and checks inputs against it", async () => {
    const provider = new ReplicateGenerationProvider(t.ctx.replicate!);
    const versionReads = () => emu.requests.filter((r) => r.route === 'getVersion' && r.path.endsWith(outputVersion.split(':')[1]!)).length;
    const before = versionReads();
    const schema = await provider.inputSchema(outputVersion);
    await provider.inputSchema(outputVersion);
    expect(versionReads() - before).toBe(1); // a version never changes: cached per process
    expect(schema.properties.lora_scale).toMatchObject({ minimum: -1, maximum: 3 });
    const { input } = resolveParams('flux-dev', { prompt: 'x' }, 'REXDOG', 1);
    expect(checkAgainstVersionSchema(input, schema)).toEqual([]);
    expect(checkAgainstVersionSchema({ ...input, output_format: 'gif', lora_scale: 4 }, schema).map((p) => p.path[0]).sort()).toEqual(['loraScale', 'outputFormat']);
  });

  it('generates on the job queue, copies the real images into storage, and records the seed to reproduce', async () => {
    const res = await generate({ prompt: 'a photo on a beach', numOutputs: 2, seed: 1234, loraScale: 0.8 });
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json().generation;
    expect(created).toMatchObject({ status: 'queued', params: { prompt: 'REXDOG a photo on a beach', seed: 1234, loraScale: 0.8, numOutputs: 2, guidanceScale: 3, steps: 28, outputFormat: 'png' } });
    const done = await finished(created.id);
    expect(done.status).toBe('succeeded');
    expect(done.images).toHaveLength(2);
    const sent = emu.requests.filter((r) => r.route === 'createPrediction').at(-1)!.body as { version: string; input: Record<string, unknown> };
    expect(sent.version).toBe(outputVersion.split(':')[1]);
    expect(sent.input).toMatchObject({ prompt: 'REXDOG a photo on a beach', seed: 1234, lora_scale: 0.8, num_outputs: 2, output_format: 'png' });
    expect(sent.input).not.toHaveProperty('negative_prompt');

    // The bytes are ours now: in storage under the model, and served by our own route.
    const keys = await keysUnder(`generations/${modelId}/${created.id}/`);
    expect(keys.map((k) => k.split('/').at(-1))).toEqual(['0.png', '1.png']);
    const img = await t.request({ method: 'GET', url: done.images[0]!.url, as: owner });
    expect(img.statusCode).toBe(200);
    expect(img.headers['content-type']).toBe('image/png');
    expect(img.headers['content-disposition']).toBeUndefined();
    const meta = await sharp(img.rawPayload).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([done.images[0]!.width, done.images[0]!.height]);
    const download = await t.request({ method: 'GET', url: done.images[1]!.downloadUrl, as: owner });
    expect(download.headers['content-disposition']).toMatch(/^attachment; filename="theway-[0-9a-f]{8}-2\.png"$/);

    // Same prompt and seed again → the same picture (the emulator renders deterministically).
    const again = (await generate({ prompt: 'a photo on a beach', seed: 1234, loraScale: 0.8 })).json().generation;
    const second = await finished(again.id);
    const bytes2 = (await t.request({ method: 'GET', url: second.images[0]!.url, as: owner })).rawPayload;
    expect(Buffer.compare(bytes2, img.rawPayload)).toBe(0);
  });

  it('picks and records a random seed when none is given, and honours the output format', async () => {
    const res = await generate({ prompt: 'in the snow', outputFormat: 'webp', aspectRatio: '16:9' });
    const g = res.json().generation;
    expect(Number.isInteger(g.params.seed)).toBe(true);
    const done = await finished(g.id);
    expect(done.images[0]).toMatchObject({ contentType: 'image/webp' });
    expect(done.images[0]!.width).toBeGreaterThan(done.images[0]!.height);
    const sent = emu.requests.filter((r) => r.route === 'createPrediction').at(-1)!.body as { input: Record<string, unknown> };
    expect(sent.input).toMatchObject({ seed: g.params.seed, output_format: 'webp', aspect_ratio: '16:9' });
    const img = await t.request({ method: 'GET', url: done.images[0]!.url, as: owner });
    expect(img.headers['content-type']).toBe('image/webp');
    expect((await sharp(img.rawPayload).metadata()).format).toBe('webp');
  });

  it('fails with a clear message when the safety filter withholds every image', async () => {
    emu.scriptNextPrediction({ outcome: 'fail' });
    const g = (await generate({ prompt: 'something' })).json().generation;
    const done = await finished(g.id);
    expect(done).toMatchObject({ status: 'failed', images: [], error: "Every image was withheld by Replicate's safety filter. Rephrase the prompt and try again." });
  });

  it('renders a LoRA-scale comparison with one seed (and optionally guidance scales), shown as one batch', async () => {
    const res = await t.request({ method: 'POST', url: `/api/models/${modelId}/comparisons`, as: owner, payload: { prompt: 'portrait', seed: 77, loraScales: [0.4, 0.8, 1.2] } });
    expect(res.statusCode, res.body).toBe(201);
    const { batchId, seed, generations } = res.json();
    expect(seed).toBe(77);
    expect(generations.map((g: Generation) => [g.params.seed, g.params.loraScale, g.batchId])).toEqual([[77, 0.4, batchId], [77, 0.8, batchId], [77, 1.2, batchId]]);
    const batch = await waitFor(async () => (await t.request({ method: 'GET', url: `/api/generations?batchId=${batchId}`, as: owner })).json().generations as Generation[], (gs) => gs.length === 3 && gs.every((g) => ENDED.has(g.status)), 'comparison');
    expect(batch.every((g) => g.status === 'succeeded' && g.images.length === 1)).toBe(true);

    const grid = await t.request({ method: 'POST', url: `/api/models/${modelId}/comparisons`, as: owner, payload: { prompt: 'portrait', loraScales: [0.5, 1], guidanceScales: [2, 4] } });
    expect(grid.statusCode, grid.body).toBe(201);
    expect(grid.json().generations.map((g: Generation) => [g.params.loraScale, g.params.guidanceScale])).toEqual([[0.5, 2], [1, 2], [0.5, 4], [1, 4]]);
    expect(new Set(grid.json().generations.map((g: Generation) => g.params.seed)).size).toBe(1);
    await waitFor(async () => (await t.request({ method: 'GET', url: `/api/generations?batchId=${grid.json().batchId}`, as: owner })).json().generations as Generation[], (gs) => gs.every((g) => ENDED.has(g.status)), 'grid');

    const badScale = await t.request({ method: 'POST', url: `/api/models/${modelId}/comparisons`, as: owner, payload: { prompt: 'portrait', loraScales: [0.5, 4] } });
    expect(badScale.json().error.message).toMatch(/LoRA scale must be between -1 and 3/);
    const tooMany = await t.request({ method: 'POST', url: `/api/models/${modelId}/comparisons`, as: owner, payload: { prompt: 'portrait', loraScales: [0.2, 0.4, 0.6, 0.8, 1, 1.2, 1.4] } });
    expect(tooMany.statusCode).toBe(400);
    const overConcurrency = await t.request({ method: 'POST', url: `/api/models/${modelId}/comparisons`, as: owner, payload: { prompt: 'portrait', loraScales: [0.5, 1, 1.5], guidanceScales: [2, 3, 4] } });
    expect(overConcurrency.statusCode).toBe(429);
    expect(overConcurrency.json().error.message).toMatch(/needs 9 generations, more than the 6 you can run at once/);
  });

  it('lists the gallery newest first with cursor pagination, per model', async () => {
    const first = (await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}&limit=2`, as: owner })).json();
    expect(first.generations).toHaveLength(2);
    const second = (await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}&limit=2&cursor=${first.nextCursor}`, as: owner })).json();
    const all = (await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}&limit=100`, as: owner })).json().generations as Generation[];
    expect([...first.generations, ...second.generations].map((g: Generation) => g.id)).toEqual(all.slice(0, 4).map((g) => g.id));
    expect((await t.request({ method: 'GET', url: '/api/generations?cursor=bm9wZQ', as: owner })).statusCode).toBe(400);
  });

  it('saves, edits, reuses and deletes prompt recipes', async () => {
    const gallery = (await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}`, as: owner })).json().generations as Generation[];
    const source = gallery.find((g) => g.status === 'succeeded')!;
    const fromGen = await t.request({ method: 'POST', url: `/api/models/${modelId}/recipes`, as: owner, payload: { name: 'Beach', fromGeneration: source.id } });
    expect(fromGen.statusCode, fromGen.body).toBe(201);
    expect(fromGen.json().recipe).toMatchObject({ name: 'Beach', prompt: source.params.prompt, params: { seed: source.params.seed, loraScale: source.params.loraScale, guidanceScale: source.params.guidanceScale } });
    const direct = await t.request({ method: 'POST', url: `/api/models/${modelId}/recipes`, as: owner, payload: { name: 'Studio', prompt: 'REXDOG studio portrait', params: { loraScale: 1.1, aspectRatio: '4:5' } } });
    expect(direct.statusCode, direct.body).toBe(201);
    expect((await t.request({ method: 'POST', url: `/api/models/${modelId}/recipes`, as: owner, payload: { name: 'beach', prompt: 'x' } })).statusCode).toBe(409);
    expect((await t.request({ method: 'POST', url: `/api/models/${modelId}/recipes`, as: owner, payload: { name: 'Odd', prompt: 'x', params: { colour: 'red' } } })).statusCode).toBe(400);
    const id = fromGen.json().recipe.id;
    const edited = await t.request({ method: 'PATCH', url: `/api/recipes/${id}`, as: owner, payload: { name: 'Beach at dusk', prompt: 'REXDOG on a beach at dusk' } });
    expect(edited.json().recipe).toMatchObject({ name: 'Beach at dusk', prompt: 'REXDOG on a beach at dusk' });
    expect((await t.request({ method: 'PATCH', url: `/api/recipes/${id}`, as: owner, payload: { name: 'studio' } })).statusCode).toBe(409);
    const listed = (await t.request({ method: 'GET', url: `/api/models/${modelId}/recipes`, as: owner })).json().recipes;
    expect(listed.map((r: { name: string }) => r.name).sort()).toEqual(['Beach at dusk', 'Studio']);
    // Reuse: a recipe's prompt and parameters are a valid generation request.
    const recipe = listed.find((r: { name: string }) => r.name === 'Studio');
    const reused = await generate({ prompt: recipe.prompt, ...recipe.params });
    expect(reused.statusCode, reused.body).toBe(201);
    await finished(reused.json().generation.id);
    expect((await t.request({ method: 'PATCH', url: `/api/recipes/${id}`, as: stranger, payload: { name: 'mine' } })).statusCode).toBe(404);
    expect((await t.request({ method: 'DELETE', url: `/api/recipes/${id}`, as: stranger })).statusCode).toBe(404);
    expect((await t.request({ method: 'DELETE', url: `/api/recipes/${id}`, as: owner })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: `/api/models/${modelId}/recipes`, as: owner })).json().recipes).toHaveLength(1);
  });

  it('keeps generations private, hides private models, and lets others use a public one', async () => {
    const mine = ((await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}`, as: owner })).json().generations as Generation[]).find((g) => g.images.length > 0)!;
    expect((await t.request({ method: 'GET', url: `/api/generations/${mine.id}`, as: stranger })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: mine.images[0]!.url, as: stranger })).statusCode).toBe(404);
    expect((await t.request({ method: 'DELETE', url: `/api/generations/${mine.id}`, as: stranger })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}`, as: stranger })).json().generations).toEqual([]);
    expect((await t.request({ method: 'POST', url: `/api/models/${modelId}/recipes`, as: stranger, payload: { name: 'x', fromGeneration: mine.id } })).statusCode).toBe(404);
    for (const [method, url, payload] of [
      ['GET', `/api/models/${modelId}/generation-options`, undefined],
      ['POST', `/api/models/${modelId}/generations`, { prompt: 'x' }],
      ['POST', `/api/models/${modelId}/comparisons`, { prompt: 'x', loraScales: [0.5, 1] }],
      ['GET', `/api/models/${modelId}/recipes`, undefined],
    ] as const) {
      expect((await t.request({ method, url, as: stranger, ...(payload && { payload }) })).statusCode, `${method} ${url}`).toBe(404);
    }

    await t.request({ method: 'PATCH', url: `/api/models/${modelId}`, as: owner, payload: { visibility: 'public' } });
    try {
      expect((await t.request({ method: 'GET', url: `/api/models/${modelId}/generation-options`, as: stranger })).json().triggerWord).toBe('REXDOG');
      const theirs = await generate({ prompt: 'on a boat' }, stranger);
      expect(theirs.statusCode, theirs.body).toBe(201);
      const g = await finished(theirs.json().generation.id, stranger);
      expect(g.status).toBe('succeeded');
      expect((await t.request({ method: 'GET', url: g.images[0]!.url, as: stranger })).statusCode).toBe(200);
      expect((await t.request({ method: 'GET', url: `/api/generations/${g.id}`, as: owner })).statusCode).toBe(404);
      expect((await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}&limit=100`, as: owner })).json().generations.some((x: Generation) => x.id === g.id)).toBe(false);
    } finally {
      await t.request({ method: 'PATCH', url: `/api/models/${modelId}`, as: owner, payload: { visibility: 'private' } });
    }
  });

  it('shares a finished generation on the showcase of a public model, and shows the model card', async () => {
    const mine = ((await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}`, as: owner })).json().generations as Generation[]).find((g) => g.images.length > 0)!;
    const shared = await t.request({ method: 'PATCH', url: `/api/generations/${mine.id}`, as: owner, payload: { shared: true } });
    expect(shared.json().generation.shared).toBe(true);
    expect((await t.request({ method: 'PATCH', url: `/api/generations/${mine.id}`, as: stranger, payload: { shared: false } })).statusCode).toBe(404);
    // The model is private: a shared generation is still hidden from others, and so is the card.
    expect((await t.request({ method: 'GET', url: `/api/generations/${mine.id}`, as: stranger })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: `/api/models/${modelId}/card`, as: stranger })).statusCode).toBe(404);
    await t.request({ method: 'PATCH', url: `/api/models/${modelId}`, as: owner, payload: { visibility: 'public' } });
    try {
      const showcase = (await t.request({ method: 'GET', url: `/api/models/${modelId}/showcase`, as: stranger })).json().generations as Generation[];
      expect(showcase.map((g) => g.id)).toContain(mine.id);
      expect((await t.request({ method: 'GET', url: mine.images[0]!.url, as: stranger })).statusCode).toBe(200);
      const card = (await t.request({ method: 'GET', url: `/api/models/${modelId}/card`, as: stranger })).json().card;
      expect(card).toMatchObject({ baseModel: 'flux-dev', baseModelLabel: 'FLUX.1 [dev]', triggerWord: 'REXDOG', preset: 'beginner', resolution: 512 });
      const weights = await t.request({ method: 'GET', url: card.weightsUrl, as: stranger });
      expect(weights.statusCode).toBe(200);
      expect(weights.headers['content-disposition']).toMatch(/\.safetensors/);
      // Unsharing hides it again; deleting and recipes stay the author's.
      await t.request({ method: 'PATCH', url: `/api/generations/${mine.id}`, as: owner, payload: { shared: false } });
      expect((await t.request({ method: 'GET', url: `/api/generations/${mine.id}`, as: stranger })).statusCode).toBe(404);
      expect((await t.request({ method: 'GET', url: `/api/models/${modelId}/showcase`, as: stranger })).json().generations).toEqual([]);
    } finally {
      await t.request({ method: 'PATCH', url: `/api/models/${modelId}`, as: owner, payload: { visibility: 'private' } });
    }
  });

  it('cancels a generation whose prediction is being created, and stops that prediction', async () => {
    emu.scriptNextPrediction({ outcome: 'stall' });
    const g = (await generate({ prompt: 'never ends' })).json().generation;
    // Cancel while the create call is in flight (held by Prefer: wait): the job must stop what it started.
    await waitFor(async () => emu.requests.some((r) => r.route === 'createPrediction' && (r.body as { input?: { prompt?: string } }).input?.prompt === 'REXDOG never ends'), (ok) => ok, 'the create call');
    const res = await t.request({ method: 'POST', url: `/api/generations/${g.id}/cancel`, as: owner });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().generation).toMatchObject({ status: 'canceled', error: 'Canceled by you.' });
    await waitFor(async () => emu.requests.some((r) => r.route === 'cancelPrediction' && r.status === 200), (ok) => ok, 'the remote cancel');
    expect(emu.prediction(emu.predictionIds().at(-1)!)?.status).toBe('canceled');
    expect((await get(g.id)).status).toBe('canceled');
    expect((await t.request({ method: 'POST', url: `/api/generations/${g.id}/cancel`, as: owner })).statusCode).toBe(409);
  });

  it('deletes a generation with its files', async () => {
    const gallery = (await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}&limit=100`, as: owner })).json().generations as Generation[];
    const victim = gallery.find((g) => g.images.length > 0)!;
    expect((await keysUnder(`generations/${modelId}/${victim.id}/`)).length).toBeGreaterThan(0);
    expect((await t.request({ method: 'DELETE', url: `/api/generations/${victim.id}`, as: owner })).statusCode).toBe(204);
    expect(await keysUnder(`generations/${modelId}/${victim.id}/`)).toEqual([]);
    expect((await t.request({ method: 'GET', url: victim.images[0]!.url, as: owner })).statusCode).toBe(404);
  });

  it('enforces the hourly quota with a message saying when to come back', async () => {
    // 40 per hour; comparisons of 6 count 6 each, whatever was deleted meanwhile.
    let last;
    for (let i = 0; i < 8; i++) {
      last = await t.request({ method: 'POST', url: `/api/models/${modelId}/comparisons`, as: owner, payload: { prompt: `quota ${i}`, loraScales: [0.5, 0.6, 0.7, 0.8, 0.9, 1] } });
      if (last.statusCode !== 201) break;
      const batchId = last.json().batchId;
      await waitFor(async () => (await t.request({ method: 'GET', url: `/api/generations?batchId=${batchId}`, as: owner })).json().generations as Generation[], (gs) => gs.every((g) => ENDED.has(g.status)), 'batch');
    }
    expect(last!.statusCode).toBe(429);
    expect(last!.json().error).toMatchObject({ code: 'rate_limited', message: expect.stringMatching(/limit of 40 generations per hour .* You can generate again at \d\d:\d\d UTC, in \d+ minutes?\./), details: { limit: 'hourly', maxPerHour: 40 } });
    // Someone else is not affected.
    const other = await t.newUser();
    expect((await t.request({ method: 'GET', url: '/api/generations', as: other })).json().generations).toEqual([]);
  });

  it('removes every generated file when the model is deleted', async () => {
    expect((await keysUnder(`generations/${modelId}/`)).length).toBeGreaterThan(0);
    expect((await t.request({ method: 'DELETE', url: `/api/models/${modelId}`, as: owner })).statusCode).toBe(204);
    expect(await keysUnder(`generations/${modelId}/`)).toEqual([]);
    expect((await t.request({ method: 'GET', url: `/api/generations?modelId=${modelId}`, as: owner })).json().generations).toEqual([]);
  });
});

describe.each(DIALECTS)('generating with an SDXL model (%s)', (dialect) => {
  let emu: ReplicateEmulator;
  let t: TestApp;
  let owner: { id: string; token: string };
  let modelId: string;

  beforeAll(async () => {
    emu = await startReplicateEmulator({ speed: 4, bootMs: 30, predictionMs: 60 });
    t = await startTestApp(dialect, { ...emu.platformEnv(), TRAINING_POLL_SECONDS: '0.03' }, { worker: true });
    owner = await t.newUser();
    ({ modelId } = await trainOnEmulator(t, owner, { name: 'Rex the dog', baseModel: 'sdxl', firstSeed: 9300 }));
  }, 60_000);
  afterAll(async () => {
    await t.close();
    await emu.close();
  });

  it('offers and sends the negative prompt, with SDXL ranges, sizes and defaults', async () => {
    const options = (await t.request({ method: 'GET', url: `/api/models/${modelId}/generation-options`, as: owner })).json();
    expect(options).toMatchObject({ baseModelLabel: 'SDXL', controls: { baseModel: 'sdxl', negativePrompt: { supported: true, reason: null }, loraScale: { min: 0, max: 1, default: 0.6 }, guidanceScale: { min: 1, max: 50, default: 7.5 }, outputFormats: ['png'] } });
    const refused = await t.request({ method: 'POST', url: `/api/models/${modelId}/generations`, as: owner, payload: { prompt: 'x', loraScale: 1.5 } });
    expect(refused.json().error.message).toMatch(/LoRA scale must be between 0 and 1 for SDXL/);
    const res = await t.request({ method: 'POST', url: `/api/models/${modelId}/generations`, as: owner, payload: { prompt: 'in the snow', negativePrompt: 'blurry, watermark', aspectRatio: '2:3', seed: 5 } });
    expect(res.statusCode, res.body).toBe(201);
    const g = res.json().generation;
    expect(g).toMatchObject({ negativePrompt: 'blurry, watermark', params: { loraScale: 0.6, guidanceScale: 7.5, steps: 50, seed: 5 } });
    const done = await waitFor(async () => (await t.request({ method: 'GET', url: `/api/generations/${g.id}`, as: owner })).json().generation as Generation, (x) => ENDED.has(x.status), 'sdxl generation');
    expect(done.status).toBe('succeeded');
    expect(done.images[0]).toMatchObject({ contentType: 'image/png' });
    expect(done.images[0]!.height).toBeGreaterThan(done.images[0]!.width);
    const sent = emu.requests.filter((r) => r.route === 'createPrediction').at(-1)!.body as { input: Record<string, unknown> };
    expect(sent.input).toMatchObject({ prompt: 'REXDOG in the snow', negative_prompt: 'blurry, watermark', width: 832, height: 1216, lora_scale: 0.6, guidance_scale: 7.5, num_inference_steps: 50, seed: 5 });
    expect(sent.input).not.toHaveProperty('aspect_ratio');
  });
});
