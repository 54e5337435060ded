import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { createAppContext, type AppContext } from '../../../src/app-context.ts';
import { buildApp } from '../../../src/http/app.ts';
import { RateLimitRepository } from '../../../src/rate-limits/rate-limit-repository.ts';

/**
 * Scale mode runs several web processes behind a proxy: on PostgreSQL they count every limit in
 * the database, so a caller cannot multiply a limit by the number of processes.
 */
describe('rate limits shared by every web process (PostgreSQL)', () => {
  let t: TestApp;
  let secondCtx: AppContext;
  let second: FastifyInstance;

  beforeAll(async () => {
    t = await startTestApp('postgres', { TRUST_PROXY: 'true', LOGIN_RATE_LIMIT_PER_15_MIN: '4', API_RATE_LIMIT_PER_MIN: '6' });
    // A second "process": its own context and server on the same database.
    secondCtx = await createAppContext({ ...t.config, logLevel: 'silent' }, { migrate: false });
    second = await buildApp(secondCtx);
    await second.ready();
  });
  afterAll(async () => {
    await second?.close();
    await secondCtx?.close();
    await t.close();
  });

  it('counts sign-in attempts from both processes against one limit', async () => {
    const attempt = (app: FastifyInstance) =>
      app.inject({ method: 'POST', url: '/api/auth/signin', headers: { 'x-forwarded-for': '203.0.113.7' }, payload: { email: 'victim@example.com', password: 'wrong password' } });
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push((await attempt(i % 2 === 0 ? t.app : second)).statusCode);
    // 4 allowed in total (wrong password: 401), then refused on either process.
    expect(answers).toEqual([401, 401, 401, 401, 429, 429]);
    // Another address is not affected.
    const other = await second.inject({ method: 'POST', url: '/api/auth/signin', headers: { 'x-forwarded-for': '198.51.100.9' }, payload: { email: 'victim@example.com', password: 'wrong password' } });
    expect(other.statusCode).toBe(401);
  });

  it('counts the global API limit per user across processes', async () => {
    const user = await t.newUser();
    const codes = [];
    for (let i = 0; i < 8; i++) {
      const app = i % 2 === 0 ? t.app : second;
      codes.push((await app.inject({ method: 'GET', url: '/api/models', headers: { authorization: `Bearer ${user.token}` } })).statusCode);
    }
    expect(codes).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
  });

  it('keeps the previous window for the sliding estimate, starts over after a gap, and forgets old counters', async () => {
    const repo = new RateLimitRepository(t.ctx.db.kysely);
    const t0 = 1_000_000; // a multiple of the 1000 ms window: windows are aligned
    expect(await repo.hit('test:key', 1000, t0)).toEqual({ current: 1, previous: 0, windowStartMs: t0 });
    expect(await repo.hit('test:key', 1000, t0 + 500)).toEqual({ current: 2, previous: 0, windowStartMs: t0 });
    expect(await repo.peek('test:key', 1000, t0 + 600)).toEqual({ current: 2, previous: 0, windowStartMs: t0 });
    // The next window: this window's hits become the previous ones.
    expect(await repo.peek('test:key', 1000, t0 + 1200)).toEqual({ current: 0, previous: 2, windowStartMs: t0 + 1000 });
    expect(await repo.hit('test:key', 1000, t0 + 1200)).toEqual({ current: 1, previous: 2, windowStartMs: t0 + 1000 });
    // After a whole window without hits, nothing is carried over.
    expect(await repo.hit('test:key', 1000, t0 + 3500)).toEqual({ current: 1, previous: 0, windowStartMs: t0 + 3000 });
    // Concurrent hits never lose a count.
    const many = await Promise.all(Array.from({ length: 20 }, () => repo.hit('test:burst', 60_000, t0)));
    expect(many.map((w) => w.current).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await repo.deleteExpired(t0 + 5000)).toBeGreaterThanOrEqual(1);
    expect(await repo.peek('test:key', 1000, t0 + 5000)).toEqual({ current: 0, previous: 0, windowStartMs: t0 + 5000 });
  });
});
