import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel } from '../../support/factories.ts';

/**
 * The three checks every /api route gets: requires auth, rejects a bad id, hides another
 * user's private resource. Routes come from the OpenAPI document, so a new route without
 * an entry here fails the suite instead of silently going unchecked.
 */
interface RouteCase {
  /** A private resource owned by `owner`; its id replaces `:id`. */
  setup?: (t: TestApp, owner: { id: string; token: string }) => Promise<string>;
  body?: Record<string, unknown>;
  query?: Record<string, string>;
  ok: number;
  /** A never-ending stream: its success case is covered over real HTTP in test/integration/events. */
  stream?: boolean;
}

const PUBLIC_ROUTES = new Set(['GET /api/health', 'POST /api/auth/signup', 'POST /api/auth/signin', 'POST /api/auth/signout']);

const privateModel = async (t: TestApp, owner: { id: string }) => (await insertModel(t.ctx.db.kysely, owner.id)).id;
const ownToken = async (t: TestApp, owner: { id: string }) => (await t.ctx.accounts.createApiToken(owner.id, { name: 'x' })).token.id;

const ROUTES: Record<string, RouteCase> = {
  'GET /api/auth/session': { ok: 200 },
  'GET /api/tokens': { ok: 200 },
  'POST /api/tokens': { body: { name: 'ci' }, ok: 201 },
  'DELETE /api/tokens/:id': { setup: ownToken, ok: 204 },
  'GET /api/models': { ok: 200 },
  'POST /api/models': { body: { name: 'Matrix model', modelType: 'style' }, ok: 201 },
  'GET /api/models/:id': { setup: privateModel, ok: 200 },
  'PATCH /api/models/:id': { setup: privateModel, body: { description: 'changed' }, ok: 200 },
  'DELETE /api/models/:id': { setup: privateModel, ok: 204 },
  'GET /api/events': { ok: 200, stream: true },
};

describe.each(DIALECTS)('route authorization matrix (%s)', (dialect) => {
  let t: TestApp;
  let owner: { id: string; token: string };
  let stranger: { id: string; token: string };

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
    const unchecked = documented.filter((r) => !PUBLIC_ROUTES.has(r) && !ROUTES[r]);
    expect(unchecked).toEqual([]);
    expect(documented.length).toBeGreaterThanOrEqual(Object.keys(ROUTES).length + PUBLIC_ROUTES.size);
  });

  for (const [route, c] of Object.entries(ROUTES)) {
    const [method, path] = route.split(' ') as ['GET' | 'POST' | 'PATCH' | 'DELETE', string];
    const build = (id?: string) => (id ? path.replace(':id', id) : path);

    it(`${route} requires auth`, async () => {
      const id = c.setup ? await c.setup(t, owner) : undefined;
      const res = await t.request({ method, url: build(id), ...(c.body && { payload: c.body }) });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('unauthenticated');
    });

    if (!c.stream) it(`${route} answers its owner`, async () => {
      const id = c.setup ? await c.setup(t, owner) : undefined;
      const res = await t.request({ method, url: build(id), as: owner, ...(c.body && { payload: { ...c.body, ...(c.body.name ? { name: `${c.body.name} ${Math.random()}` } : {}) } }) });
      expect(res.statusCode, res.body).toBe(c.ok);
    });

    if (path.includes(':id')) {
      it(`${route} rejects a bad id`, async () => {
        for (const bad of ['not-a-uuid', '123', "1' or '1'='1"]) {
          const res = await t.request({ method, url: build(encodeURIComponent(bad)), as: owner, ...(c.body && { payload: c.body }) });
          expect(res.statusCode).toBe(400);
          expect(res.json().error.code).toBe('validation_failed');
        }
      });

      it(`${route} hides another user's private resource (404)`, async () => {
        const id = await c.setup!(t, owner);
        const res = await t.request({ method, url: build(id), as: stranger, ...(c.body && { payload: c.body }) });
        expect(res.statusCode).toBe(404);
        expect(res.json().error.code).toBe('not_found');
        // A random id that never existed looks exactly the same.
        const missing = await t.request({ method, url: build(crypto.randomUUID()), as: stranger, ...(c.body && { payload: c.body }) });
        expect(missing.statusCode).toBe(404);
        expect(missing.json()).toEqual(res.json());
      });
    }
  }
});
