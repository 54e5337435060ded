import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel } from '../../support/factories.ts';
import { insertReadyTraining } from '../../support/generation-factories.ts';
import { photoJpeg } from '../../support/images.ts';
import { registerSecret } from '../../support/secrets-registry.ts';
import type { GenerationStatus } from '../../../src/db/schema.ts';

/** Public share links to one generation: made by its owner, opened by anyone with the URL, turned off at will. */
describe.each(DIALECTS)('public share links (%s)', (dialect) => {
  let t: TestApp;
  let owner: { id: string; email: string; token: string };
  let stranger: { id: string; email: string; token: string };
  let ownerName: string;

  beforeAll(async () => {
    t = await startTestApp(dialect);
    owner = await t.newUser();
    stranger = await t.newUser();
    ownerName = (await t.ctx.db.kysely.selectFrom('users').select('display_name').where('id', '=', owner.id).executeTakeFirstOrThrow()).display_name;
  });
  afterAll(() => t.close());

  const PROMPT = 'a photo of REXDOG, my neighbour Anna, on the balcony of Hauptstrasse 5';
  /** A private model with a generation in the given state; a succeeded one has one stored image, as the job leaves it. */
  async function generation(status: GenerationStatus = 'succeeded', as = owner, model?: { id: string; name: string }) {
    const m = model ?? (await insertModel(t.ctx.db.kysely, as.id, { name: `Anna private ${crypto.randomUUID().slice(0, 6)}`, status: 'ready' }));
    const training = await insertReadyTraining(t.ctx.db.kysely, as.id, m.id, { trigger_word: 'REXDOG' });
    const id = crypto.randomUUID();
    const at = new Date().toISOString();
    await t.ctx.db.kysely.insertInto('generations').values({
      id, owner_id: as.id, model_id: m.id, training_id: training.id, status, prompt: PROMPT, negative_prompt: 'blurry',
      params: JSON.stringify({ prompt: PROMPT, negativePrompt: 'blurry', loraScale: 0.85, guidanceScale: 3.5, steps: 28, seed: 424242, aspectRatio: '1:1', numOutputs: 1, outputFormat: 'jpg' }),
      input: '{}', batch_id: null, shared_at: null, remote_id: null, submit_attempted_at: null, error: null, created_at: at, updated_at: at, completed_at: status === 'succeeded' ? at : null,
    }).execute();
    const bytes = await photoJpeg({ width: 96, height: 64, seed: 77 });
    if (status === 'succeeded') {
      const key = `generations/${m.id}/${id}/0.jpg`;
      await t.ctx.storage.put(key, bytes, { contentType: 'image/jpeg' });
      await t.ctx.db.kysely.insertInto('generation_images').values({ generation_id: id, position: 0, blob_key: key, content_type: 'image/jpeg', bytes: bytes.length, width: 96, height: 64 }).execute();
    }
    return { id, modelId: m.id, modelName: m.name, trainingId: training.id, bytes };
  }

  const makeLink = async (id: string, payload: Record<string, unknown> = {}, as = owner) => {
    const res = await t.request({ method: 'POST', url: `/api/generations/${id}/link`, as, payload });
    if (res.statusCode < 300) registerSecret('share link token', tokenOf(res.json().link.url));
    return res;
  };
  const tokenOf = (url: string) => url.split('/s/')[1]!;
  /** Signed out: no credentials at all. */
  const open = (token: string) => t.request({ method: 'GET', url: `/api/shared/${token}` });
  const neverExisted = async () => (await open(Buffer.alloc(32, 7).toString('base64url'))).json();

  it('gives the owner one unguessable link per generation; asking again returns the same one', async () => {
    const g = await generation();
    const first = await makeLink(g.id);
    expect(first.statusCode, first.body).toBe(201);
    const link = first.json().link;
    expect(link).toEqual({ url: expect.stringMatching(/^http:\/\/localhost(:\d+)?\/s\/[A-Za-z0-9_-]{43}$/), includePrompt: false, createdAt: expect.any(String) });
    expect(Buffer.from(tokenOf(link.url), 'base64url')).toHaveLength(32);

    const again = await makeLink(g.id);
    expect(again.statusCode).toBe(200);
    expect(again.json().link).toEqual(link);
    // Without a body at all (curl -X POST) it still works and still returns the same link.
    const bare = await t.request({ method: 'POST', url: `/api/generations/${g.id}/link`, as: owner });
    expect(bare.statusCode, bare.body).toBe(200);
    expect(bare.json().link.url).toBe(link.url);

    // The owner finds it again in the gallery and on the generation; nobody else gets it.
    const gallery = (await t.request({ method: 'GET', url: `/api/generations?modelId=${g.modelId}`, as: owner })).json().generations;
    expect(gallery[0].link).toMatchObject({ url: `/s/${tokenOf(link.url)}`, includePrompt: false });
    expect((await t.request({ method: 'GET', url: `/api/generations/${g.id}`, as: owner })).json().generation.link.url).toBe(`/s/${tokenOf(link.url)}`);
    const other = await generation();
    expect((await t.request({ method: 'GET', url: `/api/generations/${other.id}`, as: owner })).json().generation.link).toBeNull();
  });

  it('uses PUBLIC_URL for the address when it is set', async () => {
    const withUrl = await startTestApp(dialect, { PUBLIC_URL: 'https://theway.example.com/' });
    try {
      const user = await withUrl.newUser();
      const m = await insertModel(withUrl.ctx.db.kysely, user.id, { status: 'ready' });
      const saved = t;
      t = withUrl;
      try {
        const g = await generation('succeeded', user, m);
        const res = await makeLink(g.id, {}, user);
        expect(res.statusCode).toBe(201);
        expect(res.json().link.url).toMatch(/^https:\/\/theway\.example\.com\/s\/[A-Za-z0-9_-]{43}$/);
        const gallery = (await withUrl.request({ method: 'GET', url: '/api/generations', as: user })).json().generations;
        expect(gallery[0].link.url).toBe(res.json().link.url);
      } finally {
        t = saved;
      }
    } finally {
      await withUrl.close();
    }
  });

  it('shows anyone with the link the image and when it was made, and nothing about the owner or the model', async () => {
    const g = await generation();
    const token = tokenOf((await makeLink(g.id)).json().link.url);
    const res = await open(token);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['x-robots-tag']).toMatch(/noindex/);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cache-control']).toBe('no-store');
    const shared = res.json().shared;
    expect(shared).toEqual({
      madeAt: expect.any(String),
      prompt: null,
      images: [{ position: 0, url: `/api/shared/${token}/images/0`, downloadUrl: `/api/shared/${token}/images/0?download=1`, width: 96, height: 64, contentType: 'image/jpeg' }],
    });
    // Not the owner, not the model, not the settings, not even the generation's own id.
    for (const secret of [owner.id, owner.email, ownerName, g.modelId, g.modelName, g.trainingId, g.id, 'REXDOG', 'Anna', '424242', 'blurry', '0.85']) {
      expect(res.body, secret).not.toContain(secret);
    }

    // The image itself, byte for byte what storage holds, also signed out.
    const image = await t.request({ method: 'GET', url: shared.images[0].url });
    expect(image.statusCode).toBe(200);
    expect(image.headers['content-type']).toBe('image/jpeg');
    expect(image.headers['x-robots-tag']).toMatch(/noindex/);
    expect(image.headers['referrer-policy']).toBe('no-referrer');
    expect(image.headers['cache-control']).toMatch(/^private/);
    expect(image.rawPayload.equals(g.bytes)).toBe(true);
    const download = await t.request({ method: 'GET', url: shared.images[0].downloadUrl });
    expect(download.headers['content-disposition']).toBe('attachment; filename="the-way-1.jpg"');
    expect((await t.request({ method: 'GET', url: `/api/shared/${token}/images/1` })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: `/api/shared/${token}/images/..%2F..%2Ftheway.db` })).statusCode).toBe(404);

    // Signed in as someone else changes nothing.
    expect((await t.request({ method: 'GET', url: `/api/shared/${token}`, as: stranger })).json()).toEqual(res.json());
    // The web page for the link is kept out of search engines too.
    const page = await t.request({ method: 'GET', url: `/s/${token}` });
    expect(page.headers['x-robots-tag']).toMatch(/noindex/);
    expect(page.headers['referrer-policy']).toBe('no-referrer');
  });

  it('shows the prompt only when the owner chose to include it, and the same link can change that', async () => {
    const g = await generation();
    const made = await makeLink(g.id, { includePrompt: true });
    expect(made.json().link.includePrompt).toBe(true);
    const token = tokenOf(made.json().link.url);
    const shared = (await open(token)).json().shared;
    expect(shared.prompt).toBe(PROMPT);
    // Just the prompt: still no negative prompt, seed or settings.
    expect(JSON.stringify(shared)).not.toMatch(/blurry|424242|0\.85|seed/);

    const hidden = await makeLink(g.id, { includePrompt: false });
    expect(hidden.statusCode).toBe(200);
    expect(hidden.json().link).toMatchObject({ url: made.json().link.url, includePrompt: false });
    expect((await open(token)).json().shared.prompt).toBeNull();
  });

  it("answers 404 for another user's generation, exactly like a missing one, and leaves their link alone", async () => {
    const g = await generation();
    const token = tokenOf((await makeLink(g.id)).json().link.url);
    const theirs = await makeLink(g.id, {}, stranger);
    expect(theirs.statusCode).toBe(404);
    const missing = await makeLink(crypto.randomUUID(), {}, stranger);
    expect(missing.statusCode).toBe(404);
    expect(theirs.json()).toEqual(missing.json());
    const off = await t.request({ method: 'DELETE', url: `/api/generations/${g.id}/link`, as: stranger });
    expect(off.statusCode).toBe(404);
    expect((await open(token)).statusCode).toBe(200);
  });

  it('refuses generations that have not finished or have no images (409, saying why)', async () => {
    for (const [status, reason] of [['processing', /not finished yet/], ['queued', /not finished yet/], ['failed', /failed and has no images/], ['canceled', /was canceled/]] as const) {
      const g = await generation(status);
      const res = await makeLink(g.id);
      expect(res.statusCode, status).toBe(409);
      expect(res.json().error).toMatchObject({ code: 'conflict', message: expect.stringMatching(reason) });
    }
  });

  it('turns a link off: the old URL answers 404 like one that never existed, and a new link gets a new token', async () => {
    const g = await generation();
    const token = tokenOf((await makeLink(g.id)).json().link.url);
    expect((await open(token)).statusCode).toBe(200);
    const off = await t.request({ method: 'DELETE', url: `/api/generations/${g.id}/link`, as: owner });
    expect(off.statusCode).toBe(204);
    const dead = await open(token);
    expect(dead.statusCode).toBe(404);
    expect(dead.json()).toEqual(await neverExisted());
    expect(dead.json().error.message).toBe('This link was turned off or never existed.');
    expect(dead.headers['x-robots-tag']).toMatch(/noindex/);
    expect((await t.request({ method: 'GET', url: `/api/shared/${token}/images/0` })).json()).toEqual(await neverExisted());
    // Turning off again is harmless; the gallery shows no link.
    expect((await t.request({ method: 'DELETE', url: `/api/generations/${g.id}/link`, as: owner })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: `/api/generations/${g.id}`, as: owner })).json().generation.link).toBeNull();

    const renewed = await makeLink(g.id);
    expect(renewed.statusCode).toBe(201);
    const newToken = tokenOf(renewed.json().link.url);
    expect(newToken).not.toBe(token);
    expect((await open(newToken)).statusCode).toBe(200);
    expect((await open(token)).statusCode).toBe(404);
  });

  it('answers every token that opens nothing the same way, malformed ones included', async () => {
    const expected = await neverExisted();
    expect(expected).toEqual({ error: { code: 'not_found', message: 'This link was turned off or never existed.' } });
    for (const token of ['x', 'not a token', "1' or '1'='1", '%00', 'A'.repeat(43), 'A'.repeat(150)]) {
      const res = await open(encodeURIComponent(token));
      expect(res.statusCode, token).toBe(404);
      expect(res.json(), token).toEqual(expected);
      const image = await t.request({ method: 'GET', url: `/api/shared/${encodeURIComponent(token)}/images/0` });
      expect(image.json(), token).toEqual(expected);
    }
  });

  it('dies with its generation and with its model', async () => {
    const a = await generation();
    const tokenA = tokenOf((await makeLink(a.id)).json().link.url);
    expect((await t.request({ method: 'DELETE', url: `/api/generations/${a.id}`, as: owner })).statusCode).toBe(204);
    expect((await open(tokenA)).json()).toEqual(await neverExisted());

    const b = await generation();
    const tokenB = tokenOf((await makeLink(b.id)).json().link.url);
    expect((await t.request({ method: 'DELETE', url: `/api/models/${b.modelId}`, as: owner })).statusCode).toBe(204);
    expect((await open(tokenB)).json()).toEqual(await neverExisted());
    expect((await t.request({ method: 'GET', url: `/api/shared/${tokenB}/images/0` })).statusCode).toBe(404);
    const left = await t.ctx.db.kysely.selectFrom('generation_links').select('token').where('token', 'in', [tokenA, tokenB]).execute();
    expect(left).toEqual([]);
  });

  it('never writes a token to the log (request URLs are redacted)', async () => {
    if (!t.logFile) return; // outside a vitest run nothing is logged
    const g = await generation();
    const token = tokenOf((await makeLink(g.id)).json().link.url);
    await open(token);
    await t.request({ method: 'GET', url: `/api/shared/${token}/images/0?download=1` });
    await t.request({ method: 'GET', url: `/s/${token}` });
    await t.request({ method: 'GET', url: `/signin?next=%2Fs%2F${token}` });
    const log = readFileSync(t.logFile, 'utf8');
    expect(log).toContain('"url":"/api/shared/[redacted]"');
    expect(log).toContain('"url":"/api/shared/[redacted]/images/0?download=1"');
    expect(log).toContain('"url":"/s/[redacted]"');
    expect(log).not.toContain(token);
  });
});
