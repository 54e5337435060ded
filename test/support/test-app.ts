import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import { createAppContext, type AppContext } from '../../src/app-context.ts';
import { buildApp } from '../../src/http/app.ts';
import type { Dialect } from '../../src/db/database.ts';
import { createTestDb, type TestDb } from './databases.ts';
import { insertUser } from './factories.ts';
import { RELAXED_LIMITS } from './relaxed-limits.ts';

export interface TestApp {
  app: FastifyInstance;
  ctx: AppContext;
  testDb: TestDb;
  config: Config;
  /** A new user plus an API token for it; `as(user)` gives the headers to act as them. */
  newUser(): Promise<{ id: string; email: string; token: string }>;
  request(opts: InjectOptions & { as?: { token: string } }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** A real app (real database of the given dialect, real routes), driven through Fastify's inject. */
export interface TestAppOptions {
  /** Run the job worker in the test process (trainings, generations). */
  worker?: boolean;
  reconcileGraceMs?: number;
}

export async function startTestApp(dialect: Dialect, env: Record<string, string> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const testDb = await createTestDb(dialect);
  const dataDir = mkdtempSync(join(tmpdir(), 'theway-app-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    // Tests poll the API in tight loops; the rate limits and caps have their own tests (abuse-limits).
    API_RATE_LIMIT_PER_MIN: '100000',
    ...RELAXED_LIMITS,
    ...(dialect === 'postgres' ? { DATABASE_URL: testDb.location } : {}),
    ...env,
  });
  if (dialect === 'sqlite') config.database.sqliteFile = testDb.location;
  const ctx = await createAppContext(config, { jobs: { leaseMs: 5_000, pollIntervalMs: 50 }, reconcileGraceMs: options.reconcileGraceMs ?? 200 });
  const app = await buildApp(ctx);
  await app.ready();
  if (options.worker) await ctx.startWorker();
  return {
    app,
    ctx,
    testDb,
    config,
    async newUser() {
      const user = await insertUser(ctx.db.kysely);
      const { secret } = await ctx.accounts.createApiToken(user.id, { name: 'test' });
      return { id: user.id, email: user.email, token: secret };
    },
    request({ as, ...opts }) {
      const headers = { ...(opts.headers ?? {}), ...(as ? { authorization: `Bearer ${as.token}` } : {}) };
      return app.inject({ ...opts, headers });
    },
    async close() {
      await app.close();
      await ctx.close();
      await testDb.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
