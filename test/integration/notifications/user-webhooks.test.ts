import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startReplicateEmulator, type ReplicateEmulator } from '../../support/replicate-emulator/index.ts';
import { until } from '../../support/until.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel } from '../../support/factories.ts';
import { addDatasetImages } from '../../support/dataset-factories.ts';
import { verifyWebhook } from '../../../src/providers/replicate/webhook-signature.ts';

interface Received { headers: Record<string, string | string[] | undefined>; body: string }


describe('outgoing webhook per user', () => {
  let emu: ReplicateEmulator;
  let t: TestApp;
  let receiver: Server;
  let receiverUrl: string;
  const received: Received[] = [];
  let failNext = 0;

  beforeAll(async () => {
    emu = await startReplicateEmulator({ speed: 2, bootMs: 50 });
    t = await startTestApp('sqlite', { ...emu.platformEnv(), TRAINING_POLL_SECONDS: '0.03', USER_WEBHOOK_ALLOW_PRIVATE: 'true' }, { worker: true });
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (failNext > 0) {
          failNext -= 1;
          res.writeHead(503).end();
          return;
        }
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  });
  afterAll(async () => {
    await t.close();
    await emu.close();
    receiver.close();
  });

  it('sets a webhook, shows the secret once, sends a signed test event, and removes it', async () => {
    const user = await t.newUser();
    expect((await t.request({ method: 'GET', url: '/api/settings/webhook', as: user })).json()).toEqual({ webhook: null });
    const bad = await t.request({ method: 'PUT', url: '/api/settings/webhook', as: user, payload: { url: 'ftp://example.com' } });
    expect(bad.statusCode).toBe(400);
    const set = await t.request({ method: 'PUT', url: '/api/settings/webhook', as: user, payload: { url: receiverUrl } });
    expect(set.statusCode).toBe(200);
    const { secret } = set.json();
    expect(secret).toMatch(/^whsec_/);
    expect(JSON.stringify((await t.request({ method: 'GET', url: '/api/settings/webhook', as: user })).json())).not.toContain(secret);
    const before = received.length;
    expect((await t.request({ method: 'POST', url: '/api/settings/webhook/test', as: user })).statusCode).toBe(202);
    await until(() => received.length > before, Boolean, 'test event');
    const hit = received.at(-1)!;
    expect(verifyWebhook({ secret, headers: hit.headers, rawBody: hit.body })).toMatchObject({ ok: true });
    expect(JSON.parse(hit.body)).toMatchObject({ type: 'test' });
    expect((await t.request({ method: 'DELETE', url: '/api/settings/webhook', as: user })).statusCode).toBe(204);
    expect((await t.request({ method: 'DELETE', url: '/api/settings/webhook', as: user })).statusCode).toBe(404);
  });

  it('tells the user\'s endpoint when a training is ready, retrying while the endpoint fails', async () => {
    const user = await t.newUser();
    const { secret } = (await t.request({ method: 'PUT', url: '/api/settings/webhook', as: user, payload: { url: receiverUrl } })).json();
    const model = await insertModel(t.ctx.db.kysely, user.id, { name: 'Notify me' });
    await addDatasetImages(t.ctx, user, model.id, 10, 8100);
    failNext = 1;
    const res = await t.request({ method: 'POST', url: `/api/models/${model.id}/trainings`, as: user, payload: { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 } });
    const trainingId = res.json().training.id;
    // The first delivery gets a 503; the job retries (backoff shortened below) until it lands.
    await until(async () => (await t.ctx.db.kysely.selectFrom('jobs').select('id').where('name', '=', 'notify.training-ended').where('last_error', 'is not', null).executeTakeFirst()) !== undefined, Boolean, 'a failed first delivery');
    await t.ctx.db.kysely.updateTable('jobs').set({ run_after: new Date().toISOString() }).where('name', '=', 'notify.training-ended').where('state', '=', 'queued').execute();
    await until(() => received.some((r) => r.body.includes(trainingId)), Boolean, 'training webhook');
    const hit = received.find((r) => r.body.includes(trainingId))!;
    expect(verifyWebhook({ secret, headers: hit.headers, rawBody: hit.body })).toMatchObject({ ok: true });
    expect(JSON.parse(hit.body)).toMatchObject({ type: 'training.succeeded', training: { id: trainingId, status: 'succeeded' }, model: { name: 'Notify me' } });
    expect(hit.headers['webhook-id']).toBe(`msg_training_${trainingId}`);
  });
});
