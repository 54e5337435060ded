import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { DIALECTS } from '../support/databases.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { listJobs } from '../support/jobs.ts';
import { freePort } from '../support/server-process.ts';
import { startReplicateEmulator, type ReplicateEmulator } from '../support/replicate-emulator/index.ts';
import { addDatasetImages } from '../support/dataset-factories.ts';
import { until } from '../support/until.ts';
import { describeFindings, SecretScanner, SUBSTRING_MIN_LENGTH, type RegisteredSecret, type SecretFinding } from '../support/secrets-registry.ts';
import { newSecret } from '../../src/shared/ids.ts';
import { SESSION_COOKIE } from '../../src/http/auth.ts';
import { signWebhook } from '../../src/providers/replicate/webhook-signature.ts';
import { defineJob } from '../../src/jobs/jobs.ts';
import { z } from 'zod';

/**
 * One user's whole journey with every kind of secret in play — password, session, API token, user
 * webhook secret, a distinctive Replicate token, Replicate's webhook signing secret — including a
 * training and a generation whose provider errors quote the Replicate token. Afterwards no secret
 * may appear in: the app's log lines, any HTTP answer (except the one that hands a secret out,
 * once), the jobs table (payloads, last errors), the trainings and generations rows, or what the
 * user's webhook receiver got.
 */

describe('the secret scanner itself', () => {
  it('finds registered secrets and credential shapes, and only those', () => {
    const secrets: RegisteredSecret[] = [
      { kind: 'API token', value: 'tw_abcdefghijklmnopqrstuvwxyz012345' },
      { kind: 'password', value: 'purple monkey dishwasher' },
      { kind: 'webhook signing secret', value: 'whsec_c2VjcmV0K3dpdGgvc2xhc2g9PQ==' },
    ];
    const scanner = new SecretScanner(secrets);
    const text = [
      '{"msg":"request completed","url":"/api/models"}',
      '{"msg":"bad","authorization":"Bearer tw_abcdefghijklmnopqrstuvwxyz012345"}',
      '{"body":"{\\"password\\":\\"purple monkey dishwasher\\"}"}',
      'secret=whsec_c2VjcmV0K3dpdGgvc2xhc2g9PQ==',
      'Replicate said: invalid token r8_Zx81kQmPq02LLa',
      'Send an API token as "Authorization: Bearer <token>".',
    ].join('\n');
    const found = scanner.scan(text, 'log');
    expect(found.map((f) => `${f.where} ${f.kind}`).sort()).toEqual([
      'log:2 API token', 'log:2 API token of ours', 'log:2 bearer credential', 'log:3 password', 'log:4 webhook signing secret', 'log:4 webhook signing secret', 'log:5 Replicate API token',
    ].sort());
    // The report names the secret by its first characters only.
    expect(describeFindings(found)).not.toContain('purple monkey dishwasher');
  });

  it('finds a long random secret inside a longer run of url-safe characters, a short one only as a whole word', () => {
    const session = newSecret(32); // a session id, as src/accounts mints it
    const csrf = newSecret(24);
    const exactly20 = newSecret(15); // 20 characters: the shortest matched inside a longer run
    expect(exactly20).toHaveLength(SUBSTRING_MIN_LENGTH);
    const scanner = new SecretScanner([
      { kind: 'session id', value: session },
      { kind: 'CSRF token', value: csrf },
      { kind: 'short', value: exactly20 },
      { kind: 'password', value: 'hunter2hunter' },
    ]);
    const text = [
      `GET /api/files/x${session}y.jpg`, // glued into a path
      `{"next":"/s/${csrf}${session}"}`, // two glued together
      `token=abc_${exactly20}`, // at the end of a run
      `${exactly20.slice(1)}`, // a part of a secret is not the secret
      'user hunter2hunter signed in', // a short secret as a whole word
      'the myhunter2hunterpassword test', // but not inside a longer word
      `${newSecret(32)} ${newSecret(24)}-${newSecret(40)}`, // other random strings
    ].join('\n');
    expect(scanner.scan(text, 'log').map((f) => `${f.where} ${f.kind}`).sort()).toEqual(['log:1 session id', 'log:2 CSRF token', 'log:2 session id', 'log:3 short', 'log:5 password'].sort());
  });

  it('knows a session cookie by its shape, registered or not, and nothing else of that length', () => {
    const scanner = new SecretScanner([]);
    const text = [
      `cookie: ${SESSION_COOKIE}=${newSecret(32)}; theme=dark`,
      `{"sessionToken":"${newSecret(32)}"}`,
      `set-cookie: ${SESSION_COOKIE}=; Max-Age=0; Path=/`, // signing out
      `cookie: ${SESSION_COOKIE}=[redacted]`,
      `GET /s/${newSecret(32)} and /api/shared/${newSecret(32)}`, // share links: same length, other carriers
      `${SESSION_COOKIE}=${newSecret(33)}`, // longer than a session id
    ].join('\n');
    expect(scanner.scan(text, 'log').map((f) => `${f.where} ${f.kind}`)).toEqual(['log:1 session cookie', 'log:2 session id field']);
  });
});

describe.each(DIALECTS)('no secret leaks in a full journey (%s)', (dialect) => {
  let emu: ReplicateEmulator;
  let t: TestApp;
  let receiver: Server;
  const received: string[] = [];
  const answers: Array<{ label: string; res: LightMyRequestResponse }> = [];
  const password = `pw ${randomBytes(9).toString('base64url')} secret`;
  const replicateToken = `r8_SecretScan${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push(`${JSON.stringify(req.headers)}\n${body}`);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    emu = await startReplicateEmulator({ token: replicateToken, speed: 4, bootMs: 40, predictionMs: 100 });
    // Listening for real, so Replicate's (the emulator's) signed webhooks reach the app too.
    const port = await freePort();
    t = await startTestApp(dialect, { ...emu.platformEnv(), PUBLIC_URL: `http://127.0.0.1:${port}`, TRAINING_POLL_SECONDS: '0.03', USER_WEBHOOK_ALLOW_PRIVATE: 'true' });
    await t.app.listen({ port, host: '127.0.0.1' });
    // A job whose error quotes the Replicate token, as a careless provider error might: the queue must not store or log it.
    t.ctx.jobs.register(defineJob({
      name: 'test.quotes-the-token',
      payload: z.object({ trainingId: z.string() }),
      maxAttempts: 1,
      handler: async () => {
        throw new Error(`Replicate refused the call (Authorization: Bearer ${replicateToken}); token ${replicateToken} is invalid`);
      },
    }));
    await t.ctx.startWorker();
  });
  afterAll(async () => {
    await t?.close();
    await emu?.close();
    await new Promise((r) => receiver?.close(r));
  });

  /** Every answer of the journey is kept for the scan. */
  const call = async (label: string, opts: Parameters<TestApp['request']>[0], expected?: number) => {
    const res = await t.request(opts);
    answers.push({ label, res });
    if (expected !== undefined) expect(res.statusCode, `${label}: ${res.body.slice(0, 300)}`).toBe(expected);
    return res;
  };

  it('signs up, mints secrets, trains and generates (also failing with the token in the error), and leaks none of them', { timeout: 120_000 }, async () => {
    // Browser session: password in, session cookie and CSRF token out.
    const signup = await call('sign-up', { method: 'POST', url: '/api/auth/signup', payload: { email: `scan-${randomBytes(4).toString('hex')}@example.test`, password, displayName: 'Scan' } }, 201);
    const sessionId = /theway_session=([^;]+)/.exec(String([signup.headers['set-cookie']].flat()[0]))![1]!;
    const csrf = signup.json().csrfToken as string;
    const browser = { cookie: `theway_session=${sessionId}`, 'x-csrf-token': csrf };
    await call('sign-in', { method: 'POST', url: '/api/auth/signin', headers: browser, payload: { email: signup.json().user.email, password } }, 200);
    const signedIn = answers.at(-1)!.res;
    const sessionId2 = /theway_session=([^;]+)/.exec(String([signedIn.headers['set-cookie']].flat()[0]))![1]!;
    const browser2 = { cookie: `theway_session=${sessionId2}`, 'x-csrf-token': signedIn.json().csrfToken as string };
    await call('session', { method: 'GET', url: '/api/auth/session', headers: browser2 }, 200);

    const minted = await call('create API token', { method: 'POST', url: '/api/tokens', headers: browser2, payload: { name: 'scan' } }, 201);
    const apiToken = minted.json().secret as string;
    const as = { token: apiToken };
    await call('list API tokens', { method: 'GET', url: '/api/tokens', as }, 200);
    const hook = await call('set webhook', { method: 'PUT', url: '/api/settings/webhook', as, payload: { url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hooks` } }, 200);
    const webhookSecret = hook.json().secret as string;
    await call('read webhook', { method: 'GET', url: '/api/settings/webhook', as }, 200);
    await call('test webhook', { method: 'POST', url: '/api/settings/webhook/test', as }, 202);

    // A model that trains and generates.
    const model = (await call('create model', { method: 'POST', url: '/api/models', as, payload: { name: 'Scan dog', modelType: 'object' } }, 201)).json().model;
    await addDatasetImages(t.ctx, { id: signup.json().user.id }, model.id, 10, 7100);
    const settings = { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 };
    const training = (await call('start training', { method: 'POST', url: `/api/models/${model.id}/trainings`, as, payload: settings }, 201)).json().training;
    await until(async () => (await call('poll training', { method: 'GET', url: `/api/trainings/${training.id}`, as })).json().training, (tr) => tr.status === 'succeeded' && tr.weightsAvailable, 'training succeeded', 60_000);
    await call('training logs', { method: 'GET', url: `/api/trainings/${training.id}/logs`, as }, 200);
    await call('model card', { method: 'GET', url: `/api/models/${model.id}/card`, as }, 200);

    // A signed Replicate webhook for it: the app fetches Replicate's signing secret to verify it.
    const row = await t.ctx.db.kysely.selectFrom('trainings').select('remote_id').where('id', '=', training.id).executeTakeFirstOrThrow();
    const rawBody = JSON.stringify({ id: row.remote_id, status: 'succeeded', input: {}, logs: '', created_at: new Date().toISOString() });
    const signed = signWebhook({ secret: emu.webhookSecret, webhookId: `msg_scan_${randomBytes(4).toString('hex')}`, timestampSeconds: Math.floor(Date.now() / 1000), rawBody });
    const delivered = await call('Replicate webhook', { method: 'POST', url: '/api/webhooks/replicate', headers: { 'content-type': 'application/json', ...(signed as unknown as Record<string, string>) }, payload: rawBody });
    expect(delivered.statusCode, delivered.body).toBe(200);

    const generation = (await call('generate', { method: 'POST', url: `/api/models/${model.id}/generations`, as, payload: { prompt: 'a photo of the dog' } }, 201)).json().generation;
    await until(async () => (await call('poll generation', { method: 'GET', url: `/api/generations/${generation.id}`, as })).json().generation, (g) => g.status === 'succeeded', 'generation succeeded', 30_000);
    await call('gallery', { method: 'GET', url: '/api/generations', as }, 200);

    // Failures whose provider errors quote the token: stored and shown only without it.
    emu.scriptNextPrediction({ outcome: 'fail', error: `Authentication failed: token ${replicateToken} was rejected (Authorization: Bearer ${replicateToken})` });
    const failedGeneration = (await call('generate (fails)', { method: 'POST', url: `/api/models/${model.id}/generations`, as, payload: { prompt: 'a photo of the dog, again' } }, 201)).json().generation;
    const failedView = await until(async () => (await call('poll failing generation', { method: 'GET', url: `/api/generations/${failedGeneration.id}`, as })).json().generation, (g) => g.status === 'failed', 'generation failed', 30_000);
    expect(failedView.error).toBeTruthy();

    const second = (await call('create model 2', { method: 'POST', url: '/api/models', as, payload: { name: 'Scan cat', modelType: 'object' } }, 201)).json().model;
    await addDatasetImages(t.ctx, { id: signup.json().user.id }, second.id, 10, 7300);
    emu.scriptNextTraining({ outcome: 'fail', error: `RuntimeError: could not push weights with token ${replicateToken}`, atStep: 20 });
    const failing = (await call('start training (fails)', { method: 'POST', url: `/api/models/${second.id}/trainings`, as, payload: settings }, 201)).json().training;
    const failedTraining = await until(async () => (await call('poll failing training', { method: 'GET', url: `/api/trainings/${failing.id}`, as })).json().training, (tr) => tr.status === 'failed', 'training failed', 60_000);
    expect(failedTraining.failure).toBeTruthy();
    await call('failing training logs', { method: 'GET', url: `/api/trainings/${failing.id}/logs`, as }, 200);

    const jobId = await t.ctx.jobs.enqueue({ name: 'test.quotes-the-token', payload: z.object({ trainingId: z.string() }) }, { trainingId: failing.id });
    const failedJob = await until(() => t.ctx.jobs.getJob(jobId!), (j) => j?.state === 'failed', 'the job failed', 30_000);
    expect(failedJob!.lastError).toMatch(/^Replicate refused the call \(Authorization: Bearer \[redacted\].* token \[redacted\] is invalid$/);

    // Wait for the user webhook deliveries (test event + two training ends), then sign out.
    await until(() => received.length, (n) => n >= 3, 'webhook deliveries', 30_000);
    await call('sign out', { method: 'POST', url: '/api/auth/signout', headers: browser2 }, 204);

    // ─── The scan ───────────────────────────────────────────────────────────────────────────
    const secrets: RegisteredSecret[] = [
      { kind: 'password', value: password },
      { kind: 'session id', value: sessionId },
      { kind: 'session id', value: sessionId2 },
      { kind: 'API token', value: apiToken },
      { kind: 'user webhook secret', value: webhookSecret },
      { kind: 'Replicate API token', value: replicateToken },
      { kind: 'Replicate webhook signing secret', value: emu.webhookSecret },
    ];
    const scanner = new SecretScanner(secrets);
    const findings: SecretFinding[] = [];

    // 1. Log lines of the app (every request, job and worker line went there).
    expect(t.logFile, 'the test app writes its logs to a file during a run').not.toBeNull();
    const logText = readFileSync(t.logFile!, 'utf8');
    expect(logText).toMatch(/request completed/);
    findings.push(...scanner.scan(logText, 'app log'));

    // 2. Every answer, except a secret in the one answer that hands it out.
    const handsOut: Record<string, string[]> = {
      'sign-up': [sessionId],
      'sign-in': [sessionId2],
      'create API token': [apiToken],
      'set webhook': [webhookSecret],
    };
    for (const { label, res } of answers) {
      const allowed = handsOut[label];
      // Where a secret is handed out, its shape is expected there; everything else still must not be.
      const check = allowed ? new SecretScanner(secrets.filter((s) => !allowed.includes(s.value)), []) : scanner;
      findings.push(...check.scan(`${JSON.stringify(res.headers)} ${res.body.replace(/\n/g, ' ')}`, `${label} answer`));
    }
    expect(answers.length).toBeGreaterThan(30);

    // 3. Rows: job payloads and errors, trainings, generations.
    const db = t.ctx.db.kysely;
    for (const [table, rows] of [
      ['jobs', await listJobs(t.ctx)],
      ['trainings', await db.selectFrom('trainings').selectAll().execute()],
      ['generations', await db.selectFrom('generations').selectAll().execute()],
    ] as const) {
      expect(rows.length, table).toBeGreaterThan(0);
      for (const row of rows as Array<Record<string, unknown>>) findings.push(...scanner.scan(JSON.stringify(row), `${table} row ${String(row.id)}`));
    }
    const stored = await db.selectFrom('generations').select('error').where('id', '=', failedGeneration.id).executeTakeFirstOrThrow();
    expect(stored.error, 'the failed generation keeps its reason, without the token').toMatch(/Authentication failed: token \[redacted\] was rejected/);
    const failedRow = await db.selectFrom('trainings').selectAll().where('id', '=', failing.id).executeTakeFirstOrThrow();
    expect(`${failedRow.log_tail} ${failedRow.provider_error} ${failedRow.failure_message}`, 'the failed training keeps its reason, without the token').toMatch(/could not push weights with token \[redacted\]/);

    // 4. What the user's webhook receiver got: signed, but never the secret itself.
    for (const [i, r] of received.entries()) findings.push(...scanner.scan(r.replace(/\n/g, ' '), `user webhook delivery ${i + 1}`));
    expect(received.join('\n')).toMatch(/webhook-signature/);

    expect(findings, describeFindings(findings)).toEqual([]);
  });
});
