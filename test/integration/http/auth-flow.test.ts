import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { FACTORY_PASSWORD, insertUser } from '../../support/factories.ts';

const cookieOf = (res: { headers: Record<string, unknown> }) => {
  const raw = res.headers['set-cookie'];
  const first = Array.isArray(raw) ? raw[0] : raw;
  return String(first).split(';')[0]!;
};

describe.each(DIALECTS)('sign up, sign in, sessions and CSRF (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(dialect, { LOGIN_RATE_LIMIT_PER_15_MIN: '5' });
  });
  afterAll(() => t.close());

  it('signs up, sets an HttpOnly SameSite cookie, and the session works', async () => {
    const res = await t.request({ method: 'POST', url: '/api/auth/signup', payload: { email: ' New@Example.TEST ', password: 'long enough pw', displayName: 'New' } });
    expect(res.statusCode).toBe(201);
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).not.toMatch(/Secure/);
    const body = res.json();
    expect(body.user.email).toBe('new@example.test');
    expect(body.user).not.toHaveProperty('passwordHash');
    expect(JSON.stringify(body)).not.toContain('scrypt');

    const session = await t.request({ method: 'GET', url: '/api/auth/session', headers: { cookie: cookieOf(res) } });
    expect(session.statusCode).toBe(200);
    expect(session.json().csrfToken).toBe(body.csrfToken);
    // Only a hash of the cookie value is stored.
    const rows = await t.ctx.db.kysely.selectFrom('sessions').select('id_hash').execute();
    expect(rows.map((r) => r.id_hash)).not.toContain(cookieOf(res).split('=')[1]);
  });

  it('rejects a duplicate email with a conflict naming the field', async () => {
    const payload = { email: 'dup@example.test', password: 'long enough pw', displayName: 'Dup' };
    expect((await t.request({ method: 'POST', url: '/api/auth/signup', payload })).statusCode).toBe(201);
    const again = await t.request({ method: 'POST', url: '/api/auth/signup', payload: { ...payload, email: 'DUP@example.test' } });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.details[0].path).toEqual(['email']);
  });

  it('explains invalid sign-up input field by field', async () => {
    const res = await t.request({ method: 'POST', url: '/api/auth/signup', payload: { email: 'nope', password: 'short', displayName: '' } });
    expect(res.statusCode).toBe(400);
    const { error } = res.json();
    expect(error.code).toBe('validation_failed');
    const paths = error.details.map((d: { path: string[] }) => d.path.at(-1));
    expect(paths).toEqual(expect.arrayContaining(['email', 'password', 'displayName']));
    expect(JSON.stringify(error.details)).toContain('at least 10 characters');
  });

  it('requires the CSRF header for cookie-authenticated writes, not for API tokens', async () => {
    const user = await insertUser(t.ctx.db.kysely);
    const signin = await t.request({ method: 'POST', url: '/api/auth/signin', payload: { email: user.email, password: FACTORY_PASSWORD } });
    expect(signin.statusCode).toBe(200);
    const cookie = cookieOf(signin);
    const { csrfToken } = signin.json();
    const payload = { name: 'Csrf model', modelType: 'object' };
    const without = await t.request({ method: 'POST', url: '/api/models', headers: { cookie }, payload });
    expect(without.statusCode).toBe(403);
    const wrong = await t.request({ method: 'POST', url: '/api/models', headers: { cookie, 'x-csrf-token': 'x'.repeat(csrfToken.length) }, payload });
    expect(wrong.statusCode).toBe(403);
    const ok = await t.request({ method: 'POST', url: '/api/models', headers: { cookie, 'x-csrf-token': csrfToken }, payload });
    expect(ok.statusCode).toBe(201);
    const viaToken = await t.newUser();
    const tokenWrite = await t.request({ method: 'POST', url: '/api/models', as: viaToken, payload });
    expect(tokenWrite.statusCode).toBe(201);
  });

  it('upgrades a weaker password hash at sign-in', async () => {
    const user = await insertUser(t.ctx.db.kysely);
    await t.request({ method: 'POST', url: '/api/auth/signin', payload: { email: user.email, password: FACTORY_PASSWORD } });
    const row = await t.ctx.db.kysely.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.password_hash.startsWith(`scrypt$${2 ** 17}$8$1$`)).toBe(true);
  });

  it('signs out: the cookie stops working', async () => {
    const user = await insertUser(t.ctx.db.kysely);
    const signin = await t.request({ method: 'POST', url: '/api/auth/signin', payload: { email: user.email, password: FACTORY_PASSWORD } });
    const cookie = cookieOf(signin);
    const out = await t.request({ method: 'POST', url: '/api/auth/signout', headers: { cookie, 'x-csrf-token': signin.json().csrfToken } });
    expect(out.statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: '/api/auth/session', headers: { cookie } })).statusCode).toBe(401);
  });

  it('rejects a wrong password with the same answer as an unknown email, and rate-limits attempts', async () => {
    const user = await insertUser(t.ctx.db.kysely);
    const wrong = await t.request({ method: 'POST', url: '/api/auth/signin', payload: { email: user.email, password: 'wrong password!' } });
    const unknown = await t.request({ method: 'POST', url: '/api/auth/signin', payload: { email: 'nobody@example.test', password: 'wrong password!' } });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.json()).toEqual(wrong.json());
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await t.request({ method: 'POST', url: '/api/auth/signin', payload: { email: user.email, password: 'wrong password!' } })).statusCode);
    }
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses[4]).toBe(429);
    const limited = await t.request({ method: 'POST', url: '/api/auth/signin', payload: { email: user.email, password: FACTORY_PASSWORD } });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error).toMatchObject({ code: 'rate_limited' });
    expect(limited.json().error.message).toMatch(/Too many sign-in attempts/);
  });

  it('rejects an unknown or revoked API token', async () => {
    const res = await t.request({ method: 'GET', url: '/api/models', headers: { authorization: 'Bearer tw_nope' } });
    expect(res.statusCode).toBe(401);
    const user = await t.newUser();
    const tokens = (await t.request({ method: 'GET', url: '/api/tokens', as: user })).json().tokens;
    expect(tokens[0].prefix).toBe(user.token.slice(0, 9));
    expect(JSON.stringify(tokens)).not.toContain(user.token);
    expect((await t.request({ method: 'DELETE', url: `/api/tokens/${tokens[0].id}`, as: user })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url: '/api/models', as: user })).statusCode).toBe(401);
  });

  it('expires sessions after their lifetime', async () => {
    const user = await insertUser(t.ctx.db.kysely);
    const signin = await t.request({ method: 'POST', url: '/api/auth/signin', payload: { email: user.email, password: FACTORY_PASSWORD } });
    await t.ctx.db.kysely.updateTable('sessions').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('user_id', '=', user.id).execute();
    expect((await t.request({ method: 'GET', url: '/api/auth/session', headers: { cookie: cookieOf(signin) } })).statusCode).toBe(401);
    expect(await t.ctx.accounts.deleteExpiredSessions()).toBeGreaterThanOrEqual(1);
  });
});

describe('HTTPS deployments', () => {
  it('marks the session cookie Secure when PUBLIC_URL is https', async () => {
    const t = await startTestApp('sqlite', { PUBLIC_URL: 'https://theway.example' });
    try {
      const res = await t.request({ method: 'POST', url: '/api/auth/signup', payload: { email: 's@example.test', password: 'long enough pw', displayName: 'S' } });
      expect(String(res.headers['set-cookie'])).toMatch(/; Secure/);
      expect(res.headers['strict-transport-security']).toBeDefined();
    } finally {
      await t.close();
    }
  });
});

describe('security headers', () => {
  it('sends CSP, framing, sniffing and referrer protections on API and page responses', async () => {
    const t = await startTestApp('sqlite');
    try {
      for (const url of ['/api/health', '/api/models', '/models']) {
        const res = await t.request({ method: 'GET', url });
        expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
        expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(res.headers['x-frame-options']).toBe('DENY');
        expect(res.headers['referrer-policy']).toBe('no-referrer');
        expect(res.headers['strict-transport-security']).toBeUndefined();
      }
    } finally {
      await t.close();
    }
  });
});
