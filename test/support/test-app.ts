import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import { createAppContext, type AppContext } from '../../src/app-context.ts';
import { buildApp, type BuildAppOptions } from '../../src/http/app.ts';
import type { Dialect } from '../../src/db/database.ts';
import { createTestDb, type TestDb } from './databases.ts';
import { FACTORY_PASSWORD, insertUser } from './factories.ts';
import { RELAXED_LIMITS } from './relaxed-limits.ts';
import { LOG_DIR_ENV, recordAnswer, registerSecret } from './secrets-registry.ts';
import { listJobs } from './jobs.ts';

export interface TestApp {
  app: FastifyInstance;
  ctx: AppContext;
  testDb: TestDb;
  config: Config;
  /** Where this app's log lines go (JSON, one per line) during a vitest run; null outside one. */
  logFile: string | null;
  /** A new user plus an API token for it; `as(user)` gives the headers to act as them. */
  newUser(): Promise<{ id: string; email: string; token: string }>;
  request(opts: InjectOptions & { as?: { token: string } }): Promise<LightMyRequestResponse>;
  /** Signs a factory user in as a browser would: the session cookie and CSRF header to send. */
  browserHeaders(user: { email: string }): Promise<Record<string, string>>;
  close(): Promise<void>;
}

/** A real app (real database of the given dialect, real routes), driven through Fastify's inject. */
export interface TestAppOptions {
  /** Run the job worker in the test process (trainings, generations). */
  worker?: boolean;
  reconcileGraceMs?: number;
  /** Passed to buildApp, e.g. a shorter credential check on live-event streams. */
  app?: BuildAppOptions;
}

export async function startTestApp(dialect: Dialect, env: Record<string, string> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const testDb = await createTestDb(dialect);
  const dataDir = mkdtempSync(join(tmpdir(), 'theway-app-'));
  // During a run the logs go to the run's log directory, which the global teardown scans for secrets.
  const logDir = process.env[LOG_DIR_ENV];
  const config = loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    LOG_LEVEL: logDir ? 'debug' : 'silent',
    // Tests poll the API in tight loops; the rate limits and caps have their own tests (abuse-limits).
    API_RATE_LIMIT_PER_MIN: '100000',
    ...RELAXED_LIMITS,
    ...(dialect === 'postgres' ? { DATABASE_URL: testDb.location } : {}),
    ...env,
  });
  if (dialect === 'sqlite') config.database.sqliteFile = testDb.location;
  registerSecret('Replicate API token', config.replicate.token);
  registerSecret('S3 secret access key', config.storage.s3?.secretAccessKey);
  const logFile = logDir ? join(logDir, `app-${process.pid}-${randomUUID().slice(0, 8)}.log`) : null;
  const logStream = logFile ? pino.destination({ dest: logFile, sync: true }) : null;
  const ctx = await createAppContext(config, {
    jobs: { leaseMs: 5_000, pollIntervalMs: 50 },
    reconcileGraceMs: options.reconcileGraceMs ?? 200,
    ...(logStream ? { logDestination: logStream } : {}),
  });
  const app = await buildApp(ctx, options.app);
  await app.ready();
  if (options.worker) await ctx.startWorker();
  const testApp: TestApp = {
    app,
    ctx,
    testDb,
    config,
    logFile,
    async newUser() {
      const user = await insertUser(ctx.db.kysely);
      const { secret } = await ctx.accounts.createApiToken(user.id, { name: 'test' });
      registerSecret('API token', secret);
      return { id: user.id, email: user.email, token: secret };
    },
    async browserHeaders(user) {
      const res = await testApp.request({ method: 'POST', url: '/api/auth/signin', payload: { email: user.email, password: FACTORY_PASSWORD } });
      if (res.statusCode !== 200) throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`);
      const session = /theway_session=([^;]*)/.exec(String(res.headers['set-cookie']))?.[1];
      return { cookie: `theway_session=${session}`, 'x-csrf-token': res.json().csrfToken as string };
    },
    async request({ as, ...opts }) {
      const headers = { ...(opts.headers ?? {}), ...(as ? { authorization: `Bearer ${as.token}` } : {}) };
      registerRequestSecrets(headers, opts.payload);
      const res = await app.inject({ ...opts, headers });
      registerResponseSecrets(res);
      if (/^(application\/(json|problem)|text\/)/.test(String(res.headers['content-type'] ?? ''))) recordAnswer(`${opts.method ?? 'GET'} ${String(opts.url)} → ${res.statusCode}`, res.body);
      return res;
    },
    async close() {
      // The jobs this app held (payloads, last errors) join the end-of-run secret scan.
      for (const job of await listJobs(ctx).catch(() => [])) recordAnswer(`job ${job.name} ${job.id}`, JSON.stringify({ payload: job.payload, lastError: job.lastError }));
      await app.close();
      await ctx.close();
      logStream?.flushSync();
      logStream?.end();
      await testDb.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return testApp;
}

/** Credentials a test sends: whatever it is, it must not show up in a log. */
function registerRequestSecrets(headers: Record<string, unknown>, payload: unknown): void {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) registerSecret('API token', auth.slice(7).trim());
  const cookie = headers.cookie;
  if (typeof cookie === 'string') for (const [, value] of cookie.matchAll(/theway_session=([^;\s]+)/g)) registerSecret('session id', value);
  const csrf = headers['x-csrf-token'];
  if (typeof csrf === 'string') registerSecret('CSRF token', csrf);
  if (payload && typeof payload === 'object' && !Buffer.isBuffer(payload) && 'password' in payload) registerSecret('password', String(payload.password));
}

/** Credentials the app mints (session cookies, API tokens, webhook signing secrets, CSRF tokens). */
function registerResponseSecrets(res: LightMyRequestResponse): void {
  for (const cookie of [res.headers['set-cookie'] ?? []].flat()) {
    const value = /^theway_session=([^;]*)/.exec(String(cookie))?.[1];
    if (value) registerSecret('session id', value);
  }
  if (!String(res.headers['content-type'] ?? '').startsWith('application/json')) return;
  try {
    const body = JSON.parse(res.body) as Record<string, unknown>;
    if (typeof body.secret === 'string') registerSecret(body.secret.startsWith('whsec_') ? 'webhook signing secret' : 'API token', body.secret);
    if (typeof body.csrfToken === 'string') registerSecret('CSRF token', body.csrfToken);
  } catch {
    // Not JSON after all: nothing minted.
  }
}
