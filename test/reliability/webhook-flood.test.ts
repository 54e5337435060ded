import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { startReplicateEmulator, type ReplicateEmulator } from '../support/replicate-emulator/index.ts';
import { DIALECTS } from '../support/databases.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { insertModel, insertTraining } from '../support/factories.ts';
import { signWebhook } from '../../src/providers/replicate/webhook-signature.ts';

/**
 * The Replicate webhook route is open to anyone (the signature is checked after the body is read),
 * so floods of big bodies must not cost memory: with webhooks off the route answers 404 before
 * reading the body, and every address has a per-minute budget (REPLICATE_WEBHOOK_RATE_LIMIT_PER_MIN),
 * also counted before the body is read. Genuine deliveries still work.
 */

const ANNOUNCED = 5_000_000;
const LIMIT = 3;
let ids = 0;
const newWebhookId = () => `msg_flood_${Date.now().toString(36)}_${++ids}`;
const JSON_TYPE = { 'content-type': 'application/json' };

interface PartialAnswer {
  /** null: no answer within the wait (the server is waiting for the rest of the body). */
  status: number | null;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Announces a 5 MB body, sends a few bytes of it, and waits for an answer without ever sending the
 * rest: an answer proves the server did not wait for (or buffer) the body.
 */
function postPartially(base: string, headers: Record<string, string>, waitMs: number): Promise<PartialAnswer> {
  const url = new URL('/api/webhooks/replicate', base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ method: 'POST', host: url.hostname, port: url.port, path: url.pathname, headers: { ...JSON_TYPE, ...headers, 'content-length': String(ANNOUNCED) } });
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ status: null, body: '', headers: {} });
    }, waitMs);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers });
      });
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.write('{"id":"abc","st');
  });
}

describe.each(DIALECTS)('Replicate webhook floods (%s)', (dialect) => {
  let emu: ReplicateEmulator;
  let off: TestApp;
  let on: TestApp;
  let offBase: string;
  let onBase: string;
  let remoteId: string;

  beforeAll(async () => {
    emu = await startReplicateEmulator({ speed: 2, bootMs: 60 });
    // No PUBLIC_URL: Replicate is configured, but webhooks are off (polling only).
    off = await startTestApp(dialect, emu.platformEnv());
    offBase = await off.app.listen({ port: 0, host: '127.0.0.1' });
    on = await startTestApp(dialect, { ...emu.platformEnv(), PUBLIC_URL: 'http://127.0.0.1:9', TRUST_PROXY: 'true', REPLICATE_WEBHOOK_RATE_LIMIT_PER_MIN: String(LIMIT) });
    onBase = await on.app.listen({ port: 0, host: '127.0.0.1' });
    const owner = await on.newUser();
    const modelId = (await insertModel(on.ctx.db.kysely, owner.id, { name: 'Flood target' })).id;
    remoteId = (await insertTraining(on.ctx.db.kysely, owner.id, modelId, {
      status: 'processing', remote_status: 'processing', stage: 'starting', progress_step: null, progress_total: null, progress_percent: null,
      it_per_second: null, trainer_eta_seconds: null, loss: null, log_state: null, log_tail: null, output_version: null, completed_at: null,
    })).remote_id!;
  });
  afterAll(async () => {
    await off?.close();
    await on?.close();
    await emu?.close();
  });

  const genuine = () => {
    const body = JSON.stringify({ id: remoteId, status: 'processing', input: {}, logs: '', created_at: new Date().toISOString() });
    const headers = signWebhook({ secret: emu.webhookSecret, webhookId: newWebhookId(), timestampSeconds: Math.floor(Date.now() / 1000), rawBody: body });
    return { headers: { ...JSON_TYPE, ...headers }, body };
  };
  const from = (ip: string) => ({ 'x-forwarded-for': ip });
  const deliveryIds = async () => (await on.ctx.db.kysely.selectFrom('webhook_deliveries').select('id').execute()).map((d) => d.id);

  it('with webhooks off, answers 404 before reading the body', async () => {
    const answer = await postPartially(offBase, {}, 5_000);
    expect(answer.status, answer.body).toBe(404);
    expect(JSON.parse(answer.body)).toEqual({ error: { code: 'not_found', message: 'Webhook endpoint was not found.' } });
    // The same answer as a complete, correctly signed delivery gets.
    const { headers, body } = genuine();
    const full = await off.request({ method: 'POST', url: '/api/webhooks/replicate', headers, payload: body });
    expect(full.statusCode).toBe(404);
    expect(full.json()).toEqual(JSON.parse(answer.body));
  });

  it('with webhooks on, waits for the body (the control: the partial request is really incomplete)', async () => {
    const answer = await postPartially(onBase, from('203.0.113.200'), 500);
    expect(answer.status).toBeNull();
  });

  it(`refuses an address past ${LIMIT} deliveries a minute with 429 and Retry-After, before reading the body; other addresses still deliver`, async () => {
    const a = genuine();
    const first = await on.request({ method: 'POST', url: '/api/webhooks/replicate', headers: { ...a.headers, ...from('203.0.113.7') }, payload: a.body });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toEqual({ outcome: 'applied' });
    for (let i = 1; i < LIMIT; i++) {
      const forged = await on.request({ method: 'POST', url: '/api/webhooks/replicate', headers: { ...JSON_TYPE, ...from('203.0.113.7') }, payload: '{}' });
      expect(forged.statusCode).toBe(401);
    }

    const b = genuine();
    const refused = await on.request({ method: 'POST', url: '/api/webhooks/replicate', headers: { ...b.headers, ...from('203.0.113.7') }, payload: b.body });
    expect(refused.statusCode, refused.body).toBe(429);
    expect(refused.json().error.code).toBe('rate_limited');
    expect(refused.json().error.message).toMatch(new RegExp(`^Too many webhook deliveries from your network: the limit is ${LIMIT} per minute\\. Try again in \\d+ (second|minute)s?\\.$`));
    const retryAfter = Number(refused.headers['retry-after']);
    expect(Number.isInteger(retryAfter) && retryAfter > 0, `Retry-After: ${refused.headers['retry-after']}`).toBe(true);
    expect(await deliveryIds()).not.toContain(b.headers['webhook-id']);

    // Refused before the body: a 5 MB announcement from the same address is answered at once.
    const partial = await postPartially(onBase, from('203.0.113.7'), 5_000);
    expect(partial.status, partial.body).toBe(429);
    expect(partial.headers['retry-after']).toBeDefined();

    // Another address (another Replicate sender) is not affected, and its genuine delivery applies.
    const c = genuine();
    const elsewhere = await on.request({ method: 'POST', url: '/api/webhooks/replicate', headers: { ...c.headers, ...from('203.0.113.8') }, payload: c.body });
    expect(elsewhere.statusCode, elsewhere.body).toBe(200);
    expect(elsewhere.json()).toEqual({ outcome: 'applied' });
    expect(await deliveryIds()).toContain(c.headers['webhook-id']);
  });
});
