import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startReplicateEmulator, type ReplicateEmulator } from '../support/replicate-emulator/index.ts';
import { DIALECTS } from '../support/databases.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { listJobs } from '../support/jobs.ts';
import { insertModel, insertTraining } from '../support/factories.ts';
import { signWebhook } from '../../src/providers/replicate/webhook-signature.ts';

/**
 * The Replicate training webhook (the platform's only inbound webhook) under attack: every forged,
 * tampered, stale, malformed, oversized or misaddressed delivery is refused with the right status
 * and changes nothing (training row, loss rows, delivery log, jobs, model: snapshot before/after);
 * a genuine one is applied exactly once, replays and concurrent duplicates included.
 *
 * No worker runs, so nothing but the webhook can change the training while the test looks.
 */

const LOGS = 'flux_train_replicate:  10%|█         | 100/1000 [01:23<12:34,  1.19it/s, lr: 4.0e-04 loss: 3.652e-01]\n';
const otherSecret = () => `whsec_${randomBytes(24).toString('base64')}`;
let ids = 0;
const newWebhookId = () => `msg_sec_${Date.now().toString(36)}_${++ids}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

interface Delivery {
  headers: Record<string, string>;
  body: string | Buffer;
}

/** How a rejection case builds its delivery: `sign` signs with the platform's real secret. */
interface Case {
  name: string;
  status: number;
  build(ctx: { remoteId: string; secret: string; sign: (body: string | Buffer, options?: { id?: string; at?: number; secret?: string }) => Record<string, string> }): Delivery;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const trainingBody = (remoteId: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id: remoteId, status: 'processing', input: {}, logs: LOGS, created_at: new Date().toISOString(), ...extra });
const without = (headers: Record<string, string>, ...names: string[]) => Object.fromEntries(Object.entries(headers).filter(([k]) => !names.includes(k)));

const CASES: Case[] = [
  {
    name: 'forged signature (random bytes of the right length)',
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      return { headers: { ...JSON_TYPE, ...sign(body), 'webhook-signature': `v1,${randomBytes(32).toString('base64')}` }, body };
    },
  },
  {
    name: 'signed with a different secret',
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      return { headers: { ...JSON_TYPE, ...sign(body, { secret: otherSecret() }) }, body };
    },
  },
  {
    name: 'valid signature, tampered body (status changed)',
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      return { headers: { ...JSON_TYPE, ...sign(body) }, body: body.replace('"processing"', '"succeeded"') };
    },
  },
  {
    name: 'valid signature, one byte appended to the body',
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      return { headers: { ...JSON_TYPE, ...sign(body) }, body: `${body} ` };
    },
  },
  ...(['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const).map((header): Case => ({
    name: `missing ${header} header`,
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      return { headers: { ...JSON_TYPE, ...without(sign(body), header) }, body };
    },
  })),
  {
    name: 'no signature headers at all',
    status: 401,
    build: ({ remoteId }) => ({ headers: JSON_TYPE, body: trainingBody(remoteId) }),
  },
  ...[
    ['empty', () => ''],
    ['without a version', (sig: string) => sig.slice(3)],
    ['with an unknown version (v2)', (sig: string) => sig.replace('v1,', 'v2,')],
    ['with a non-base64 signature', () => 'v1,!!!not-base64!!!'],
    ['with a truncated signature', (sig: string) => sig.slice(0, 20)],
    ['as the hex digest instead of base64', (sig: string) => `v1,${Buffer.from(sig.slice(3), 'base64').toString('hex')}`],
  ].map(([label, mangle]): Case => ({
    name: `malformed signature header ${label as string}`,
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      const headers = sign(body);
      return { headers: { ...JSON_TYPE, ...headers, 'webhook-signature': (mangle as (s: string) => string)(headers['webhook-signature']!) }, body };
    },
  })),
  ...['abc', '1e9', '-5', '', '17000000000000'].map((timestamp): Case => ({
    name: `malformed timestamp ${JSON.stringify(timestamp)}`,
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      return { headers: { ...JSON_TYPE, ...sign(body), 'webhook-timestamp': timestamp }, body };
    },
  })),
  {
    name: 'stale timestamp (6 minutes old, correctly signed)',
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      return { headers: { ...JSON_TYPE, ...sign(body, { at: nowSeconds() - 360 }) }, body };
    },
  },
  {
    name: 'future timestamp (6 minutes ahead, correctly signed)',
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      return { headers: { ...JSON_TYPE, ...sign(body, { at: nowSeconds() + 360 }) }, body };
    },
  },
  {
    name: 'signature made for a different webhook-id',
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      return { headers: { ...JSON_TYPE, ...sign(body, { id: 'msg_signed_for_this' }), 'webhook-id': newWebhookId() }, body };
    },
  },
  {
    name: 'signature made for a different timestamp',
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      return { headers: { ...JSON_TYPE, ...sign(body, { at: nowSeconds() - 10 }), 'webhook-timestamp': String(nowSeconds()) }, body };
    },
  },
  {
    name: 'oversized body (8 MiB + 1, correctly signed)',
    status: 413,
    build: ({ remoteId, sign }) => {
      const head = Buffer.from(trainingBody(remoteId).slice(0, -1) + ',"padding":"');
      const body = Buffer.concat([head, Buffer.alloc(8 * 2 ** 20 + 1 - head.length - 2, 'a'), Buffer.from('"}')]);
      return { headers: { ...JSON_TYPE, ...sign(body) }, body };
    },
  },
  {
    name: 'unknown training id (correctly signed)',
    status: 404,
    build: ({ sign }) => {
      const body = trainingBody('nosuchtraining0000000000000');
      return { headers: { ...JSON_TYPE, ...sign(body) }, body };
    },
  },
  {
    name: 'non-JSON body (correctly signed)',
    status: 401,
    build: ({ sign }) => {
      const body = 'status=succeeded&id=whatever';
      return { headers: { ...JSON_TYPE, ...sign(body) }, body };
    },
  },
  {
    name: 'JSON that is not a training (correctly signed)',
    status: 401,
    build: ({ remoteId, sign }) => {
      const body = JSON.stringify({ id: remoteId, status: 'exploded', output: { weights: 'https://evil.example/x.tar' } });
      return { headers: { ...JSON_TYPE, ...sign(body) }, body };
    },
  },
  {
    name: 'empty body (correctly signed)',
    status: 401,
    build: ({ sign }) => ({ headers: { ...JSON_TYPE, ...sign('') }, body: '' }),
  },
  {
    name: 'form-encoded content type (correctly signed JSON)',
    status: 415,
    build: ({ remoteId, sign }) => {
      const body = trainingBody(remoteId);
      return { headers: { 'content-type': 'application/x-www-form-urlencoded', ...sign(body) }, body };
    },
  },
];

describe.each(DIALECTS)('Replicate webhook security (%s)', (dialect) => {
  let emu: ReplicateEmulator;
  let t: TestApp;
  let modelId: string;
  let trainingId: string;
  let remoteId: string;

  beforeAll(async () => {
    emu = await startReplicateEmulator({ speed: 2, bootMs: 60 });
    // PUBLIC_URL turns webhooks on; nothing is ever sent to it (no training runs on the emulator).
    t = await startTestApp(dialect, { ...emu.platformEnv(), PUBLIC_URL: 'http://127.0.0.1:9' });
    const owner = await t.newUser();
    modelId = (await insertModel(t.ctx.db.kysely, owner.id, { name: 'Webhook target' })).id;
    const training = await insertTraining(t.ctx.db.kysely, owner.id, modelId, {
      status: 'processing', remote_status: 'processing', stage: 'starting', progress_step: null, progress_total: null, progress_percent: null,
      it_per_second: null, trainer_eta_seconds: null, loss: null, log_state: null, log_tail: null, output_version: null, completed_at: null,
    });
    trainingId = training.id;
    remoteId = training.remote_id!;
  });
  afterAll(async () => {
    await t?.close();
    await emu?.close();
  });

  const snapshot = async () => {
    const db = t.ctx.db.kysely;
    return {
      training: await db.selectFrom('trainings').selectAll().where('id', '=', trainingId).executeTakeFirstOrThrow(),
      loss: await db.selectFrom('training_loss').selectAll().where('training_id', '=', trainingId).orderBy('step').execute(),
      deliveries: await db.selectFrom('webhook_deliveries').selectAll().orderBy('id').execute(),
      jobs: await listJobs(t.ctx),
      model: await db.selectFrom('models').selectAll().where('id', '=', modelId).executeTakeFirstOrThrow(),
    };
  };
  const deliver = (d: Delivery) => t.request({ method: 'POST', url: '/api/webhooks/replicate', headers: d.headers, payload: d.body });
  const sign = (body: string | Buffer, options: { id?: string; at?: number; secret?: string } = {}) =>
    signWebhook({ secret: options.secret ?? emu.webhookSecret, webhookId: options.id ?? newWebhookId(), timestampSeconds: options.at ?? nowSeconds(), rawBody: body });

  it.each(CASES.map((c) => [c.name, c] as const))('refuses %s, changing nothing', async (_name, c) => {
    const before = await snapshot();
    const res = await deliver(c.build({ remoteId, secret: emu.webhookSecret, sign }));
    expect(res.statusCode, res.body).toBe(c.status);
    const error = res.json().error as { code: string; message: string };
    expect(error.message).toEqual(expect.any(String));
    expect(res.body).not.toContain(emu.webhookSecret.slice(6, 20));
    expect(await snapshot()).toEqual(before);
  });

  it('applies a genuine delivery exactly once: replays and concurrent duplicates are answered as duplicates', async () => {
    const before = await snapshot();
    expect(before.training.progress_step).toBeNull();
    const body = trainingBody(remoteId);
    const headers = { ...JSON_TYPE, ...sign(body) };

    // The same delivery twice at once (Replicate retrying while the first is in flight): one applies.
    const [a, b] = await Promise.all([deliver({ headers, body }), deliver({ headers, body })]);
    expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
    expect([a.json().outcome, b.json().outcome].sort()).toEqual(['applied', 'duplicate']);
    const applied = await snapshot();
    expect(applied.training).toMatchObject({ status: 'processing', progress_step: 100, progress_total: 1000 });
    expect(Number(applied.training.loss)).toBeCloseTo(0.3652, 4);
    expect(applied.loss.map((l) => Number(l.step))).toEqual([100]);
    expect(applied.deliveries.map((d) => d.id)).toContain(headers['webhook-id']);

    // A later replay, and a replay of the id with a different (validly signed) body: not applied.
    const replay = await deliver({ headers, body });
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toEqual({ outcome: 'duplicate' });
    const otherBody = trainingBody(remoteId, { status: 'succeeded', output: { version: 'theway/loras:evil', weights: 'https://evil.example/w.tar' } });
    const sameId = await deliver({ headers: { ...JSON_TYPE, ...sign(otherBody, { id: headers['webhook-id'] }) }, body: otherBody });
    expect(sameId.statusCode).toBe(200);
    expect(sameId.json()).toEqual({ outcome: 'duplicate' });
    expect(await snapshot()).toEqual(applied);
  });
});
