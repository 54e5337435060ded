import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel, insertTraining, insertUser } from '../../support/factories.ts';
import { addDatasetImages, multipartBody } from '../../support/dataset-factories.ts';
import { photoJpeg } from '../../support/images.ts';

/**
 * The three checks every /api route gets: requires auth, rejects a bad id, hides another
 * user's private resource. Routes come from the OpenAPI document, so a new route without
 * an entry here fails the suite instead of silently going unchecked.
 */
interface RouteCase {
  /** A private resource owned by `owner`; its ids replace `:id` (and `:imageId`). */
  setup?: (t: TestApp, owner: { id: string; token: string }) => Promise<string | Record<string, string>>;
  body?: Record<string, unknown>;
  query?: Record<string, string>;
  ok: number;
  /** Sends one small image as multipart/form-data. */
  multipart?: boolean;
  /** A never-ending stream: its success case is covered over real HTTP in test/integration/events. */
  stream?: boolean;
  /** Only a browser session may do it (an API token gets 403): the owner's case signs in. */
  session?: boolean;
}

const PUBLIC_ROUTES = new Set([
  'GET /api/health', 'POST /api/auth/signup', 'POST /api/auth/signin', 'POST /api/auth/signout',
  // A share link is a capability: the token is the authorization (no sign-in, no id to swap).
  // Tokens that open nothing, others' generations and revoked links: test/integration/generations/generation-links.test.ts.
  'GET /api/shared/:token', 'GET /api/shared/:token/images/:position',
]);

const privateModel = async (t: TestApp, owner: { id: string }) => (await insertModel(t.ctx.db.kysely, owner.id)).id;
const privateImage = async (t: TestApp, owner: { id: string }) => {
  const modelId = await privateModel(t, owner);
  const [result] = await addDatasetImages(t.ctx, owner, modelId, 1);
  if (!result || !('image' in result)) throw new Error('factory image was not added');
  return { id: modelId, imageId: result.image.id };
};
const privateTraining = async (t: TestApp, owner: { id: string }) => {
  const modelId = await privateModel(t, owner);
  return (await insertTraining(t.ctx.db.kysely, owner.id, modelId, { status: 'processing', weights_key: null })).id;
};
const finishedTraining = async (t: TestApp, owner: { id: string }) => {
  const modelId = await privateModel(t, owner);
  const row = await insertTraining(t.ctx.db.kysely, owner.id, modelId, { weights_key: `trainings/${crypto.randomUUID()}/lora.safetensors` });
  await t.ctx.storage.put(row.weights_key!, Buffer.from('weights'));
  return row.id;
};
/** A finished generation with one stored image, as the generation job leaves it. */
const ownGeneration = async (t: TestApp, owner: { id: string }) => {
  const modelId = await privateModel(t, owner);
  const training = await insertTraining(t.ctx.db.kysely, owner.id, modelId);
  const id = crypto.randomUUID();
  const at = new Date().toISOString();
  await t.ctx.db.kysely.insertInto('generations').values({ id, owner_id: owner.id, model_id: modelId, training_id: training.id, status: 'succeeded', prompt: 'REXDOG', negative_prompt: null, params: JSON.stringify({ prompt: 'REXDOG', negativePrompt: null, loraScale: 1, guidanceScale: 3, steps: 28, seed: 1, aspectRatio: '1:1', numOutputs: 1 }), input: '{}', batch_id: null, remote_id: null, submit_attempted_at: null, error: null, created_at: at, updated_at: at, completed_at: at }).execute();
  const png = await photoJpeg({ width: 64, height: 64, seed: 1 });
  await t.ctx.storage.put(`generations/${id}/0.jpg`, png, { contentType: 'image/jpeg' });
  await t.ctx.db.kysely.insertInto('generation_images').values({ generation_id: id, position: 0, blob_key: `generations/${id}/0.jpg`, content_type: 'image/jpeg', bytes: png.length, width: 64, height: 64 }).execute();
  return id;
};
const ownRecipe = async (t: TestApp, owner: { id: string }) => {
  const modelId = await privateModel(t, owner);
  const user = { id: owner.id, email: '', displayName: '', role: 'user' as const, createdAt: '' };
  return (await t.ctx.generations.createRecipe(user, modelId, { name: `R ${Math.random()}`, prompt: 'a photo' })).id;
};
/** The owner's webhook exists; the route has no id, so the setup returns none. */
const ownWebhook = async (t: TestApp, owner: { id: string }) => {
  await t.ctx.userWebhooks.set({ id: owner.id, email: '', displayName: '', role: 'user', createdAt: '' }, 'https://example.com/hooks');
  return '';
};
const trainingSettings = { baseModel: 'flux-dev', preset: 'standard', resolution: 1024 };
const ownToken = async (t: TestApp, owner: { id: string }) => (await t.ctx.accounts.createApiToken(owner.id, { name: 'x' })).token.id;

const ROUTES: Record<string, RouteCase> = {
  'GET /api/auth/session': { ok: 200 },
  'GET /api/tokens': { ok: 200 },
  'POST /api/tokens': { body: { name: 'ci' }, ok: 201, session: true },
  'DELETE /api/tokens/:id': { setup: ownToken, ok: 204 },
  'GET /api/models': { ok: 200 },
  'POST /api/models': { body: { name: 'Matrix model', modelType: 'style' }, ok: 201 },
  'GET /api/models/:id': { setup: privateModel, ok: 200 },
  'PATCH /api/models/:id': { setup: privateModel, body: { description: 'changed' }, ok: 200 },
  'DELETE /api/models/:id': { setup: privateModel, ok: 204 },
  'GET /api/events': { ok: 200, stream: true },
  'POST /api/models/:id/images': { setup: privateModel, multipart: true, ok: 200 },
  'GET /api/models/:id/dataset': { setup: privateModel, ok: 200 },
  'PATCH /api/models/:id/dataset': { setup: privateModel, body: { captionPrefix: 'a photo of' }, ok: 200 },
  'GET /api/models/:id/images/:imageId/thumbnail': { setup: privateImage, ok: 200 },
  'GET /api/models/:id/images/:imageId/file': { setup: privateImage, ok: 200 },
  'PATCH /api/models/:id/images/:imageId': { setup: privateImage, body: { caption: 'REXDOG on grass' }, ok: 200 },
  'DELETE /api/models/:id/images/:imageId': { setup: privateImage, ok: 204 },
  'GET /api/models/:id/training-options': { setup: privateModel, ok: 200 },
  'POST /api/models/:id/training-plan': { setup: privateModel, body: trainingSettings, ok: 200 },
  // Without images the start is refused (409) — the route still answers its owner, not a stranger.
  'POST /api/models/:id/trainings': { setup: privateModel, body: trainingSettings, ok: 409 },
  'GET /api/models/:id/trainings': { setup: privateModel, ok: 200 },
  'GET /api/trainings/:id': { setup: privateTraining, ok: 200 },
  'GET /api/trainings/:id/loss': { setup: privateTraining, ok: 200 },
  'GET /api/trainings/:id/logs': { setup: privateTraining, ok: 200 },
  'POST /api/trainings/:id/cancel': { setup: privateTraining, ok: 200 },
  'GET /api/trainings/:id/weights': { setup: finishedTraining, ok: 200 },
  'GET /api/settings/webhook': { ok: 200 },
  'PUT /api/settings/webhook': { body: { url: 'https://example.com/hooks/theway' }, ok: 200 },
  'DELETE /api/settings/webhook': { setup: ownWebhook, ok: 204 },
  'GET /api/models/:id/generation-options': { setup: privateModel, ok: 200 },
  // Untrained models refuse generation (409); generating for real is in test/integration/generations.
  'POST /api/models/:id/generations': { setup: privateModel, body: { prompt: 'a photo' }, ok: 409 },
  'POST /api/models/:id/comparisons': { setup: privateModel, body: { prompt: 'a photo', loraScales: [0.5, 1] }, ok: 409 },
  'GET /api/generations': { ok: 200 },
  'PATCH /api/generations/:id': { setup: ownGeneration, body: { shared: true }, ok: 200 },
  'GET /api/models/:id/showcase': { setup: privateModel, ok: 200 },
  'GET /api/models/:id/card': { setup: privateModel, ok: 200 },
  'GET /api/generations/:id': { setup: ownGeneration, ok: 200 },
  'DELETE /api/generations/:id': { setup: ownGeneration, ok: 204 },
  // A finished generation cannot be canceled (409); canceling a running one is in test/integration/generations.
  'POST /api/generations/:id/cancel': { setup: ownGeneration, ok: 409 },
  'GET /api/generations/:id/images/:position': { setup: async (t, o) => ({ id: await ownGeneration(t, o), position: '0' }), ok: 200 },
  'POST /api/generations/:id/link': { setup: ownGeneration, body: { includePrompt: false }, ok: 201 },
  // Turning off a link that is not there is a no-op, not an error.
  'DELETE /api/generations/:id/link': { setup: ownGeneration, ok: 204 },
  'GET /api/models/:id/recipes': { setup: privateModel, ok: 200 },
  'POST /api/models/:id/recipes': { setup: privateModel, body: { name: 'Recipe', prompt: 'a photo of REXDOG' }, ok: 201 },
  'PATCH /api/recipes/:id': { setup: ownRecipe, body: { name: 'Renamed' }, ok: 200 },
  'DELETE /api/recipes/:id': { setup: ownRecipe, ok: 204 },
  'POST /api/settings/webhook/test': { setup: ownWebhook, ok: 202 },
};

/** Signed by Replicate, not by a user: covered by its own tests (signature, replay, unknown training). */
const PROVIDER_ROUTES = new Set(['POST /api/webhooks/replicate']);

/**
 * The operator's view: no owner, but a role. Anonymous → 401, a signed-in non-admin → the same 404
 * as a route that does not exist (also with a bad id, so nothing tells them it is there), an admin
 * with a bad id → 400, an admin → `ok`. Behaviour in depth: test/integration/http/admin.test.ts.
 */
const queuedJob = async (t: TestApp) => (await t.ctx.jobs.enqueue('notify.test', { userId: crypto.randomUUID(), eventId: 'matrix' }, { delayMs: 3_600_000 }))!;
const ADMIN_ROUTES: Record<string, Omit<RouteCase, 'setup'> & { setup?: (t: TestApp) => Promise<string> }> = {
  'GET /api/admin/overview': { ok: 200 },
  'GET /api/admin/jobs': { query: { state: 'failed' }, ok: 200 },
  'GET /api/admin/trainings': { query: { status: 'all' }, ok: 200 },
  // Only a failed job is retried (409 otherwise); retrying a failed one is in admin.test.ts.
  'POST /api/admin/jobs/:id/retry': { setup: queuedJob, ok: 409 },
};

/**
 * Every row a user's request could change, to show a refused request changed nothing. The one
 * column a stranger's own request legitimately writes (its token's last use) is left out; jobs,
 * rate-limit counters and sessions are bookkeeping, not resources.
 */
const RESOURCE_TABLES = [
  'users', 'models', 'model_datasets', 'dataset_images', 'trainings', 'training_loss', 'generations', 'generation_images',
  'prompt_recipes', 'generation_links', 'generation_usage', 'user_webhooks', 'api_tokens',
] as const;
async function resourceSnapshot(t: TestApp): Promise<string> {
  const db = t.ctx.db.kysely;
  const tables: Record<string, unknown[]> = {};
  for (const table of RESOURCE_TABLES) {
    const rows = (await db.selectFrom(table).selectAll().execute()) as Array<Record<string, unknown>>;
    tables[table] = rows.map((r) => JSON.stringify({ ...r, last_used_at: undefined })).sort();
  }
  return JSON.stringify(tables);
}

describe.each(DIALECTS)('route authorization matrix (%s)', (dialect) => {
  let t: TestApp;
  let owner: { id: string; email: string; token: string };
  let stranger: { id: string; email: string; token: string };

  beforeAll(async () => {
    t = await startTestApp(dialect);
    owner = await t.newUser();
    stranger = await t.newUser();
  });
  afterAll(() => t.close());

  it('covers every documented route', async () => {
    const doc = (await t.request({ method: 'GET', url: '/api/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const unchecked = documented.filter((r) => !PUBLIC_ROUTES.has(r) && !PROVIDER_ROUTES.has(r) && !ROUTES[r] && !ADMIN_ROUTES[r]);
    expect(unchecked).toEqual([]);
    expect(documented.length).toBeGreaterThanOrEqual(Object.keys(ROUTES).length + PUBLIC_ROUTES.size);
  });

  for (const [route, c] of Object.entries(ROUTES)) {
    const [method, path] = route.split(' ') as ['GET' | 'POST' | 'PATCH' | 'DELETE', string];
    const build = (ids?: string | Record<string, string>) => {
      if (!ids) return path;
      const map = typeof ids === 'string' ? { id: ids } : ids;
      return path.replace(/:(\w+)/g, (_m, name: string) => map[name] ?? `:${name}`);
    };
    const payloadOf = async (body?: Record<string, unknown>) => {
      if (c.multipart) {
        const m = multipartBody([{ name: 'photo.jpg', data: await photoJpeg({ width: 640, height: 640, seed: Math.floor(Math.random() * 1e6) }), type: 'image/jpeg' }]);
        return { payload: m.payload, headers: m.headers };
      }
      return body ? { payload: body } : {};
    };

    it(`${route} requires auth`, async () => {
      const id = c.setup ? await c.setup(t, owner) : undefined;
      const res = await t.request({ method, url: build(id), ...(await payloadOf(c.body)) });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('unauthenticated');
    });

    if (!c.stream) it(`${route} answers its owner`, async () => {
      const id = c.setup ? await c.setup(t, owner) : undefined;
      const payload = await payloadOf(c.body && { ...c.body, ...(c.body.name ? { name: `${c.body.name} ${Math.random()}` } : {}) });
      const res = c.session
        ? await t.request({ method, url: build(id), ...payload, headers: { ...payload.headers, ...(await t.browserHeaders(owner)) } })
        : await t.request({ method, url: build(id), as: owner, ...payload });
      expect(res.statusCode, res.body).toBe(c.ok);
      if (c.session) expect((await t.request({ method, url: build(id), as: owner, ...payload })).statusCode).toBe(403);
    });

    if (path.includes(':id')) {
      it(`${route} rejects a bad id`, async () => {
        const valid = c.setup ? await c.setup(t, owner) : undefined;
        for (const bad of ['not-a-uuid', '123', "1' or '1'='1"]) {
          // Each id position in turn gets the bad value; the others stay valid.
          const names = [...path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
          for (const name of names) {
            const ids = { ...(typeof valid === 'string' ? { id: valid } : valid), [name]: encodeURIComponent(bad) };
            const res = await t.request({ method, url: build(ids), as: owner, ...(await payloadOf(c.body)) });
            expect(res.statusCode, `${name}=${bad}`).toBe(400);
            expect(res.json().error.code).toBe('validation_failed');
          }
        }
      });
      it(`${route} hides another user's private resource (404) and changes nothing`, async () => {
        const id = await c.setup!(t, owner);
        const before = await resourceSnapshot(t);
        const res = await t.request({ method, url: build(id), as: stranger, ...(await payloadOf(c.body)) });
        expect(res.statusCode).toBe(404);
        expect(res.json().error.code).toBe('not_found');
        expect(await resourceSnapshot(t)).toBe(before);
        // A random id that never existed looks exactly the same.
        const randomIds = typeof id === 'string' ? crypto.randomUUID() : Object.fromEntries(Object.entries(id).map(([k, v]) => [k, /id$/i.test(k) ? crypto.randomUUID() : v]));
        const missing = await t.request({ method, url: build(randomIds), as: stranger, ...(await payloadOf(c.body)) });
        expect(missing.statusCode).toBe(404);
        expect(missing.json()).toEqual(res.json());
      });
    }
  }

  it('lists show a stranger nothing of what the owner keeps private', async () => {
    const db = t.ctx.db.kysely;
    // By now the owner has models, images, trainings, generations, recipes, links and tokens (the setups above).
    const privateIds = [
      ...(await db.selectFrom('models').select('id').where('owner_id', '=', owner.id).where('visibility', '=', 'private').execute()).map((r) => r.id),
      ...(await db.selectFrom('trainings').select('id').where('owner_id', '=', owner.id).execute()).map((r) => r.id),
      ...(await db.selectFrom('generations').select('id').where('owner_id', '=', owner.id).execute()).map((r) => r.id),
      ...(await db.selectFrom('prompt_recipes').select('id').where('owner_id', '=', owner.id).execute()).map((r) => r.id),
      ...(await db.selectFrom('api_tokens').select('id').where('user_id', '=', owner.id).execute()).map((r) => r.id),
      owner.id,
      owner.email,
    ];
    expect(privateIds.length).toBeGreaterThan(20);
    // The check can see an id: the owner's own lists do show them.
    const mine = (await t.request({ method: 'GET', url: '/api/models?scope=mine', as: owner })).body;
    expect(privateIds.filter((id) => mine.includes(id)).length).toBeGreaterThan(0);
    const lists = Object.entries(ROUTES).filter(([route, c]) => route.startsWith('GET ') && !route.includes(':') && !c.stream).map(([route]) => route.slice(4));
    for (const url of [...lists, '/api/models?scope=public', '/api/models?scope=mine']) {
      const res = await t.request({ method: 'GET', url, as: stranger });
      expect(res.statusCode, url).toBe(200);
      for (const id of privateIds) expect(res.body.includes(id), `${url} shows ${id}`).toBe(false);
    }
  });

  describe('admin routes', () => {
    let admin: { id: string; token: string };
    beforeAll(async () => {
      const user = await insertUser(t.ctx.db.kysely, { role: 'admin' });
      admin = { id: user.id, token: (await t.ctx.accounts.createApiToken(user.id, { name: 'admin' })).secret };
    });

    for (const [route, c] of Object.entries(ADMIN_ROUTES)) {
      const [method, path] = route.split(' ') as ['GET' | 'POST', string];
      const url = (id?: string) => {
        const p = id === undefined ? path : path.replace(':id', id);
        return c.query ? `${p}?${new URLSearchParams(c.query)}` : p;
      };
      const realId = async () => (c.setup ? c.setup(t) : undefined);

      it(`${route} requires auth`, async () => {
        const res = await t.request({ method, url: url(await realId()) });
        expect(res.statusCode).toBe(401);
        expect(res.json().error.code).toBe('unauthenticated');
      });

      it(`${route} answers an admin`, async () => {
        const res = await t.request({ method, url: url(await realId()), as: admin });
        expect(res.statusCode, res.body).toBe(c.ok);
      });

      it(`${route} is a route that does not exist for a non-admin (404)`, async () => {
        const ids = path.includes(':id') ? [await realId(), 'not-a-uuid'] : [undefined];
        for (const id of ids) {
          const res = await t.request({ method, url: url(id), as: owner });
          expect(res.statusCode).toBe(404);
          const unknown = await t.request({ method, url: url(id).replace('/api/admin/', '/api/admin-nope/'), as: owner });
          expect(res.json().error).toEqual({ ...unknown.json().error, message: unknown.json().error.message.replace('/api/admin-nope/', '/api/admin/') });
        }
      });

      if (path.includes(':id')) {
        it(`${route} rejects a bad id from an admin (400)`, async () => {
          for (const bad of ['not-a-uuid', '123', "1' or '1'='1"]) {
            const res = await t.request({ method, url: url(encodeURIComponent(bad)), as: admin });
            expect(res.statusCode, bad).toBe(400);
            expect(res.json().error.code).toBe('validation_failed');
          }
          const missing = await t.request({ method, url: url(crypto.randomUUID()), as: admin });
          expect(missing.statusCode).toBe(404);
          expect(missing.json().error.code).toBe('not_found');
        });
      }
    }
  });
});
