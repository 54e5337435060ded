import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel } from '../../support/factories.ts';
import { addDatasetImages } from '../../support/dataset-factories.ts';

describe.each(DIALECTS)('models (%s)', (dialect) => {
  let t: TestApp;
  let ann: { id: string; token: string };
  let bob: { id: string; token: string };
  beforeAll(async () => {
    t = await startTestApp(dialect);
    ann = await t.newUser();
    bob = await t.newUser();
  });
  afterAll(() => t.close());

  it('creates a model with defaults: private draft', async () => {
    const res = await t.request({ method: 'POST', url: '/api/models', as: ann, payload: { name: '  Rex the dog ', modelType: 'person' } });
    expect(res.statusCode).toBe(201);
    expect(res.json().model).toMatchObject({ name: 'Rex the dog', description: '', visibility: 'private', modelType: 'person', status: 'draft', isOwner: true });
  });

  it('refuses a second model with the same name, ignoring case, but allows it for another user', async () => {
    await t.request({ method: 'POST', url: '/api/models', as: ann, payload: { name: 'Watercolor', modelType: 'style' } });
    const dup = await t.request({ method: 'POST', url: '/api/models', as: ann, payload: { name: 'WATERCOLOR', modelType: 'style' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.details[0].path).toEqual(['name']);
    const other = await t.request({ method: 'POST', url: '/api/models', as: bob, payload: { name: 'Watercolor', modelType: 'style' } });
    expect(other.statusCode).toBe(201);
  });

  it('validates fields with messages that say how to fix them', async () => {
    const res = await t.request({ method: 'POST', url: '/api/models', as: ann, payload: { name: '', modelType: 'car', visibility: 'secret' } });
    expect(res.statusCode).toBe(400);
    const details = res.json().error.details as { path: string[]; message: string }[];
    expect(details.map((d) => d.path.at(-1))).toEqual(expect.arrayContaining(['name', 'modelType', 'visibility']));
    expect(details.find((d) => d.path.at(-1) === 'modelType')!.message).toMatch(/person.*style.*object/);
    const empty = await t.request({ method: 'PATCH', url: `/api/models/${(await insertModel(t.ctx.db.kysely, ann.id)).id}`, as: ann, payload: {} });
    expect(empty.statusCode).toBe(400);
    const notJson = await t.request({ method: 'POST', url: '/api/models', as: ann, payload: '{"name":', headers: { 'content-type': 'application/json' } });
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().error.code).toBe('validation_failed');
  });

  it('shows public models to everyone signed in, private ones only to their owner', async () => {
    const pub = await insertModel(t.ctx.db.kysely, ann.id, { visibility: 'public', name: 'Public one' });
    const priv = await insertModel(t.ctx.db.kysely, ann.id, { visibility: 'private', name: 'Private one' });
    const publicList = (await t.request({ method: 'GET', url: '/api/models?scope=public&limit=200', as: bob })).json().models as { id: string }[];
    expect(publicList.map((m) => m.id)).toContain(pub.id);
    expect(publicList.map((m) => m.id)).not.toContain(priv.id);
    const bobsOwn = (await t.request({ method: 'GET', url: '/api/models?limit=200', as: bob })).json().models as { id: string }[];
    expect(bobsOwn.map((m) => m.id)).not.toContain(pub.id);
    const seen = await t.request({ method: 'GET', url: `/api/models/${pub.id}`, as: bob });
    expect(seen.json().model).toMatchObject({ isOwner: false, owner: { id: ann.id } });
    // Seeing a public model does not mean changing it.
    expect((await t.request({ method: 'PATCH', url: `/api/models/${pub.id}`, as: bob, payload: { name: 'mine now' } })).statusCode).toBe(404);
    expect((await t.request({ method: 'DELETE', url: `/api/models/${pub.id}`, as: bob })).statusCode).toBe(404);
    // Making it private hides it again.
    await t.request({ method: 'PATCH', url: `/api/models/${pub.id}`, as: ann, payload: { visibility: 'private' } });
    expect((await t.request({ method: 'GET', url: `/api/models/${pub.id}`, as: bob })).statusCode).toBe(404);
  });

  it('pages through many models newest first without repeats or gaps', async () => {
    const carl = await t.newUser();
    const base = Date.parse('2026-01-01T00:00:00.000Z');
    const ids: string[] = [];
    // Same timestamp for some rows: the id breaks ties so pages stay stable.
    for (let i = 0; i < 25; i++) {
      ids.push((await insertModel(t.ctx.db.kysely, carl.id, { created_at: new Date(base + Math.floor(i / 3) * 1000).toISOString() })).id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.request({ method: 'GET', url: `/api/models?limit=7${cursor ? `&cursor=${cursor}` : ''}`, as: carl });
      const body = res.json() as { models: { id: string; createdAt: string }[]; nextCursor: string | null };
      seen.push(...body.models.map((m) => m.id));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
    expect(new Set(seen)).toEqual(new Set(ids));
    const bad = await t.request({ method: 'GET', url: '/api/models?cursor=garbage', as: carl });
    expect(bad.statusCode).toBe(400);
  });

  it('serves lists from a revision cache that any write invalidates, with ETags', async () => {
    const erin = await t.newUser();
    const list = async (scope: string, headers: Record<string, string> = {}) =>
      t.request({ method: 'GET', url: `/api/models?scope=${scope}&limit=200`, as: erin, headers });
    const first = await list('mine');
    expect(first.json().models).toEqual([]);
    const etag = String(first.headers.etag);
    expect((await list('mine', { 'if-none-match': etag })).statusCode).toBe(304);

    const created = (await t.request({ method: 'POST', url: '/api/models', as: erin, payload: { name: 'Cached', modelType: 'person' } })).json().model;
    const afterCreate = await list('mine', { 'if-none-match': etag });
    expect(afterCreate.statusCode).toBe(200);
    expect(afterCreate.json().models.map((m: { id: string }) => m.id)).toEqual([created.id]);

    const publicBefore = (await list('public')).json().models.map((m: { id: string }) => m.id);
    expect(publicBefore).not.toContain(created.id);
    await t.request({ method: 'PATCH', url: `/api/models/${created.id}`, as: erin, payload: { visibility: 'public' } });
    expect((await list('public')).json().models.map((m: { id: string }) => m.id)).toContain(created.id);
    expect((await list('mine')).json().models[0].visibility).toBe('public');

    await t.request({ method: 'DELETE', url: `/api/models/${created.id}`, as: erin });
    expect((await list('mine')).json().models).toEqual([]);
    expect((await list('public')).json().models.map((m: { id: string }) => m.id)).not.toContain(created.id);
  });

  it('does not let one user\'s cached list answer another user', async () => {
    const a = await t.newUser();
    const b = await t.newUser();
    await insertModel(t.ctx.db.kysely, a.id, { visibility: 'public', name: 'Shared view' });
    const forA = await t.request({ method: 'GET', url: '/api/models?scope=public&limit=200', as: a });
    const forB = await t.request({ method: 'GET', url: '/api/models?scope=public&limit=200', as: b, headers: { 'if-none-match': String(forA.headers.etag) } });
    expect(forB.statusCode).toBe(200);
    const mine = forB.json().models.find((m: { name: string }) => m.name === 'Shared view');
    expect(mine.isOwner).toBe(false);
  });

  it('counts each model\'s training images in the lists, and a new image refreshes the cached list', async () => {
    const gail = await t.newUser();
    const m = await insertModel(t.ctx.db.kysely, gail.id, { name: 'Counted' });
    const list = async () => (await t.request({ method: 'GET', url: '/api/models', as: gail })).json().models.find((x: { id: string }) => x.id === m.id);
    expect((await list()).imageCount).toBe(0);
    await addDatasetImages(t.ctx, gail, m.id, 2, 12_000);
    expect((await list()).imageCount).toBe(2);
  });

  it('renames and edits, keeping the name unique', async () => {
    const m = (await t.request({ method: 'POST', url: '/api/models', as: ann, payload: { name: 'Old name', modelType: 'object' } })).json().model;
    await t.request({ method: 'POST', url: '/api/models', as: ann, payload: { name: 'Taken', modelType: 'object' } });
    const res = await t.request({ method: 'PATCH', url: `/api/models/${m.id}`, as: ann, payload: { name: 'New name', description: 'A mug', visibility: 'public', modelType: 'style' } });
    expect(res.json().model).toMatchObject({ name: 'New name', description: 'A mug', visibility: 'public', modelType: 'style' });
    expect(res.json().model.updatedAt >= m.updatedAt).toBe(true);
    expect((await t.request({ method: 'PATCH', url: `/api/models/${m.id}`, as: ann, payload: { name: 'taken' } })).statusCode).toBe(409);
  });

  it('deletes a model and runs the deletion hooks for what it owns', async () => {
    const deleted: string[] = [];
    t.ctx.models.addDeletionHook(async (id) => { deleted.push(id); });
    const m = await insertModel(t.ctx.db.kysely, ann.id);
    expect((await t.request({ method: 'DELETE', url: `/api/models/${m.id}`, as: ann })).statusCode).toBe(204);
    expect(deleted).toEqual([m.id]);
    expect((await t.request({ method: 'GET', url: `/api/models/${m.id}`, as: ann })).statusCode).toBe(404);
    expect((await t.request({ method: 'DELETE', url: `/api/models/${m.id}`, as: ann })).statusCode).toBe(404);
  });

  it('deleting a user deletes their models and sessions (cascade)', async () => {
    const dan = await t.newUser();
    await insertModel(t.ctx.db.kysely, dan.id);
    await t.ctx.db.kysely.deleteFrom('users').where('id', '=', dan.id).execute();
    const left = await t.ctx.db.kysely.selectFrom('models').select('id').where('owner_id', '=', dan.id).execute();
    expect(left).toEqual([]);
  });
});
