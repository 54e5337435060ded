import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { FACTORY_PASSWORD, insertModel, insertTraining, insertUser } from '../../support/factories.ts';
import { addDatasetImages } from '../../support/dataset-factories.ts';

/**
 * Security headers on every kind of response, the CSRF rule on every cookie-authenticated write
 * (the route list comes from the OpenAPI document, so a new route is covered without an entry
 * here), and the session cookie's attributes.
 */

const CSP_DIRECTIVES = [
  "default-src 'self'",
  "script-src 'self'",
  "script-src-attr 'none'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "connect-src 'self'",
];

function expectSecurityHeaders(res: LightMyRequestResponse, what: string, https = false) {
  const h = res.headers;
  const csp = String(h['content-security-policy'] ?? '').split(';').map((d) => d.trim());
  for (const directive of CSP_DIRECTIVES) expect(csp, `${what}: CSP ${directive}`).toContain(directive);
  // No directive lets scripts run from anywhere but the origin, nor inline.
  expect(csp.find((d) => d.startsWith('script-src '))!, what).not.toMatch(/unsafe|\*|data:|http/);
  expect(h['x-content-type-options'], what).toBe('nosniff');
  expect(h['referrer-policy'], what).toBe('no-referrer');
  expect(h['x-frame-options'], what).toBe('DENY');
  expect(h['cross-origin-opener-policy'], what).toBe('same-origin');
  expect(h['cross-origin-resource-policy'], what).toBe('same-origin');
  expect(h['x-powered-by'], what).toBeUndefined();
  expect(h['permissions-policy'], what).toMatch(/camera=\(\)/);
  if (https) expect(h['strict-transport-security'], what).toMatch(/^max-age=\d{8,}; includeSubDomains$/);
  else expect(h['strict-transport-security'], what).toBeUndefined();
}

const cookieOf = (res: LightMyRequestResponse) => String([res.headers['set-cookie']].flat()[0]).split(';')[0]!;

describe('security headers', () => {
  let t: TestApp;
  let owner: { id: string; email: string; token: string };
  beforeAll(async () => {
    t = await startTestApp('sqlite', { JSON_BODY_LIMIT_KB: '1', API_RATE_LIMIT_PER_MIN: '1000' });
    owner = await t.newUser();
  });
  afterAll(() => t.close());

  it('the built web app fits the CSP: no inline script, only same-origin assets', () => {
    const dist = t.config.webDistDir;
    let html: string;
    try {
      html = readFileSync(join(dist, 'index.html'), 'utf8');
    } catch {
      throw new Error(`The web app is not built (${dist}). Run "npm run build:web" (npm test does it first).`);
    }
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attrs, body] of scripts) {
      expect(attrs, 'every script is loaded from a file').toMatch(/\bsrc="\/[^/]/);
      expect(body!.trim(), 'no inline script').toBe('');
    }
    expect(html, 'no inline event handler attributes').not.toMatch(/\son[a-z]+=/i);
    for (const [, url] of html.matchAll(/\b(?:src|href)="([^"]+)"/g)) expect(url, 'same-origin asset').toMatch(/^\/[^/]/);
  });

  it('on HTML pages, static assets, API JSON, errors and file downloads', async () => {
    const dist = t.config.webDistDir;
    const asset = readdirSync(join(dist, 'assets')).find((f) => f.endsWith('.js'))!;
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const [added] = await addDatasetImages(t.ctx, owner, model.id, 1);
    const imageId = added && 'image' in added ? added.image.id : '';
    const trained = await insertTraining(t.ctx.db.kysely, owner.id, model.id, { weights_key: `trainings/${crypto.randomUUID()}/lora.safetensors` });
    await t.ctx.storage.put(trained.weights_key!, Buffer.from('weights'));
    const cases: Array<[string, Parameters<TestApp['request']>[0], number]> = [
      ['index page', { method: 'GET', url: '/' }, 200],
      ['client-side route', { method: 'GET', url: '/models/new' }, 200],
      ['static asset', { method: 'GET', url: `/assets/${asset}` }, 200],
      ['favicon', { method: 'GET', url: '/favicon.svg' }, 200],
      ['health', { method: 'GET', url: '/api/health' }, 200],
      ['API JSON', { method: 'GET', url: '/api/models', as: owner }, 200],
      ['OpenAPI document', { method: 'GET', url: '/api/openapi.json' }, 200],
      ['401', { method: 'GET', url: '/api/models' }, 401],
      ['404', { method: 'GET', url: '/api/nothing-here', as: owner }, 404],
      ['400', { method: 'GET', url: '/api/models/not-a-uuid', as: owner }, 400],
      ['413', { method: 'POST', url: '/api/models', as: owner, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x', description: 'x'.repeat(2048) }) }, 413],
      ['training image thumbnail', { method: 'GET', url: `/api/models/${model.id}/images/${imageId}/thumbnail`, as: owner }, 200],
      ['training image download', { method: 'GET', url: `/api/models/${model.id}/images/${imageId}/file?download=1`, as: owner }, 200],
      ['weights download', { method: 'GET', url: `/api/trainings/${trained.id}/weights`, as: owner }, 200],
    ];
    for (const [what, request, status] of cases) {
      const res = await t.request(request);
      expect(res.statusCode, `${what}: ${res.body.slice(0, 200)}`).toBe(status);
      expectSecurityHeaders(res, what);
    }
  });

  it('API answers are not stored by caches unless the route allows it', async () => {
    const minted = await t.request({ method: 'POST', url: '/api/tokens', headers: await t.browserHeaders(owner), payload: { name: 'cache check' } });
    expect(minted.statusCode).toBe(201);
    expect(minted.headers['cache-control']).toBe('no-store');
    expect((await t.request({ method: 'GET', url: '/api/auth/session', as: owner })).headers['cache-control']).toBe('no-store');
    expect((await t.request({ method: 'GET', url: '/api/nothing-here', as: owner })).headers['cache-control']).toBe('no-store');
    // The model list revalidates with its ETag instead.
    expect((await t.request({ method: 'GET', url: '/api/models', as: owner })).headers['cache-control']).toBe('private, no-cache');
    expect((await t.request({ method: 'GET', url: '/' })).headers['cache-control']).toBe('no-cache');
  });

  it('HSTS only when the platform is served over HTTPS', async () => {
    const https = await startTestApp('sqlite', { PUBLIC_URL: 'https://theway.example' });
    try {
      for (const url of ['/', '/api/health', '/api/models']) expectSecurityHeaders(await https.request({ method: 'GET', url }), url, true);
    } finally {
      await https.close();
    }
    // No https PUBLIC_URL, but a trusted proxy says the request came over HTTPS; an untrusted claim changes nothing.
    for (const [env, hsts] of [[{ TRUST_PROXY: 'true' }, true], [{}, false]] as const) {
      const proxied = await startTestApp('sqlite', env);
      try {
        expectSecurityHeaders(await proxied.request({ method: 'GET', url: '/api/health', headers: { 'x-forwarded-proto': 'https' } }), JSON.stringify(env), hsts);
      } finally {
        await proxied.close();
      }
    }
  });
});

describe.each(DIALECTS)('CSRF on every cookie-authenticated write (%s)', (dialect) => {
  let t: TestApp;
  let writes: Array<{ method: string; url: string }>;
  let session: { cookie: string; csrfToken: string };
  let otherSession: { csrfToken: string };
  let api: { id: string; token: string };

  const signIn = async () => {
    const browser = await t.browserHeaders(await insertUser(t.ctx.db.kysely));
    return { cookie: browser.cookie!, csrfToken: browser['x-csrf-token']! };
  };

  beforeAll(async () => {
    t = await startTestApp(dialect);
    const doc = (await t.request({ method: 'GET', url: '/api/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    writes = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })))
      // Replicate signs its webhooks; no cookie is involved.
      .filter((r) => !['GET', 'HEAD', 'OPTIONS'].includes(r.method) && r.path !== '/api/webhooks/replicate')
      .map((r) => ({ method: r.method, url: r.path.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'position' ? '0' : crypto.randomUUID())) }));
    session = await signIn();
    otherSession = await signIn();
    api = await t.newUser();
  });
  afterAll(() => t.close());

  it('finds the state-changing routes in the OpenAPI document', () => {
    expect(writes.length).toBeGreaterThanOrEqual(20);
    expect(writes.map((w) => w.method)).toEqual(expect.arrayContaining(['POST', 'PUT', 'PATCH', 'DELETE']));
  });

  it('refuses each without the CSRF header, with a wrong one, and with another session\'s', async () => {
    for (const { method, url } of writes) {
      for (const [why, token] of [['missing', undefined], ['wrong', 'x'.repeat(session.csrfToken.length)], ['another session\'s', otherSession.csrfToken], ['empty', '']] as const) {
        const res = await t.request({ method: method as 'POST', url, headers: { cookie: session.cookie, ...(token !== undefined && { 'x-csrf-token': token }) }, payload: {} });
        expect(res.statusCode, `${method} ${url} with a ${why} token`).toBe(403);
        expect(res.json().error).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/x-csrf-token/) });
      }
    }
  });

  it('lets the right token through (the refusal above was about CSRF, not the session)', async () => {
    for (const { method, url } of writes) {
      if (url === '/api/auth/signout') continue; // would end the session the other checks use
      const res = await t.request({ method: method as 'POST', url, headers: { cookie: session.cookie, 'x-csrf-token': session.csrfToken }, payload: {} });
      expect([401, 403], `${method} ${url}: ${res.body.slice(0, 200)}`).not.toContain(res.statusCode);
    }
  });

  it('API-token (Bearer) requests need no CSRF header', async () => {
    for (const { method, url } of writes) {
      if (url.startsWith('/api/auth/')) continue; // sign-in/up/out are for browsers
      const res = await t.request({ method: method as 'POST', url, as: api, payload: {} });
      expect([401, 403], `${method} ${url}: ${res.body.slice(0, 200)}`).not.toContain(res.statusCode);
    }
  });
});

describe('the session cookie', () => {
  const attributes = async (env: Record<string, string>, headers: Record<string, string> = {}) => {
    const t = await startTestApp('sqlite', env);
    try {
      const user = await insertUser(t.ctx.db.kysely);
      const signin = await t.request({ method: 'POST', url: '/api/auth/signin', headers, payload: { email: user.email, password: FACTORY_PASSWORD } });
      const set = String([signin.headers['set-cookie']].flat()[0]);
      const out = await t.request({ method: 'POST', url: '/api/auth/signout', headers: { ...headers, cookie: cookieOf(signin), 'x-csrf-token': signin.json().csrfToken } });
      return { set, cleared: String([out.headers['set-cookie']].flat()[0]) };
    } finally {
      await t.close();
    }
  };

  it('is HttpOnly, SameSite=Lax, site-wide, and Secure exactly when served over HTTPS (COOKIE_SECURE overrides the configured address)', async () => {
    const overHttps = { 'x-forwarded-proto': 'https' };
    for (const [env, secure, headers] of [
      [{}, false, {}],
      [{ PUBLIC_URL: 'https://theway.example' }, true, {}],
      [{ PUBLIC_URL: 'https://theway.example', COOKIE_SECURE: 'false' }, false, {}],
      [{ PUBLIC_URL: 'http://theway.internal:3000', COOKIE_SECURE: 'true' }, true, {}],
      // Behind a TLS proxy without PUBLIC_URL: the request itself came over HTTPS.
      [{ TRUST_PROXY: 'true' }, true, overHttps],
      [{ TRUST_PROXY: 'true', COOKIE_SECURE: 'false' }, true, overHttps],
      // The same claim from a client the platform does not trust as a proxy is ignored.
      [{}, false, overHttps],
    ] as const) {
      const { set, cleared } = await attributes(env, headers);
      for (const cookie of [set, cleared]) {
        expect(cookie, JSON.stringify(env)).toMatch(/^theway_session=/);
        expect(cookie).toMatch(/; HttpOnly/);
        expect(cookie).toMatch(/; SameSite=Lax/);
        expect(cookie).toMatch(/; Path=\//);
        if (secure) expect(cookie, JSON.stringify(env)).toMatch(/; Secure/);
        else expect(cookie, JSON.stringify(env)).not.toMatch(/Secure/);
      }
      // The cleared cookie expires at once.
      expect(cleared).toMatch(/Expires=Thu, 01 Jan 1970/);
    }
  });
});
