import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DIALECTS } from '../../support/databases.ts';
import { until } from '../../support/until.ts';
import { listJobs } from '../../support/jobs.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { UserWebhookService } from '../../../src/notifications/user-webhook-service.ts';
import type { Resolve } from '../../../src/notifications/webhook-destination.ts';
import type { JobQueue } from '../../../src/jobs/jobs.ts';

/**
 * Users' webhooks must not let them probe the server's own network (SSRF): non-public destinations
 * are refused on saving and at every delivery (DNS can change after saving), the connection goes
 * to the address that was checked, and a reply is read only up to a cap.
 */
describe.each(DIALECTS)('webhook destinations (%s)', (dialect) => {
  let strict: TestApp;
  let lan: TestApp;
  let receiver: Server;
  let port: number;
  const hits: { url: string; headers: IncomingHttpHeaders }[] = [];
  let hugeBodies = false;
  let bytesSent = 0;
  let hugeRepliesCut = 0;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      hits.push({ url: req.url ?? '', headers: req.headers });
      req.resume();
      req.on('end', () => {
        if (!hugeBodies) {
          res.writeHead(204).end();
          return;
        }
        // An endless reply: only a reader that stops after its cap ever finishes.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 120);
        let open = true;
        res.on('close', () => {
          open = false;
          hugeRepliesCut += 1;
        });
        const pump = () => {
          while (open && res.write(chunk)) bytesSent += chunk.length;
          if (open) res.once('drain', () => { bytesSent += chunk.length; pump(); });
        };
        pump();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    port = (receiver.address() as AddressInfo).port;
    strict = await startTestApp(dialect, {}, { worker: true });
    lan = await startTestApp(dialect, { USER_WEBHOOK_ALLOW_PRIVATE: 'true' }, { worker: true });
  }, 60_000);
  afterAll(async () => {
    await strict?.close();
    await lan?.close();
    receiver.closeAllConnections();
    await new Promise((r) => receiver.close(r));
  });

  const status = async (t: TestApp, userId: string) =>
    (await t.ctx.db.kysely.selectFrom('user_webhooks').select(['last_delivery_status']).where('user_id', '=', userId).executeTakeFirstOrThrow()).last_delivery_status;

  it('refuses to save loopback, private, link-local and localhost URLs, saying what is wrong and how to fix it', async () => {
    const user = await strict.newUser();
    const cases: [string, RegExp][] = [
      ['http://127.0.0.1:5432/', /^This address points to this server itself \(127\.0\.0\.1\)\./],
      ['http://169.254.169.254/latest/meta-data', /^This address is a link-local address \(such as a cloud metadata service\) \(169\.254\.169\.254\)\./],
      ['http://[::1]/', /^This address points to this server itself \(::1\)\./],
      ['http://10.0.0.1/', /^This address points into a private network \(10\.0\.0\.1\)\./],
      ['http://localhost/', /^This address points to this server itself \(localhost\)\./],
      ['http://[::ffff:127.0.0.1]:6379/', /this server itself/],
      ['http://0x7f.1/', /this server itself \(127\.0\.0\.1\)/],
    ];
    for (const [url, message] of cases) {
      const res = await strict.request({ method: 'PUT', url: '/api/settings/webhook', as: user, payload: { url } });
      expect(res.statusCode, url).toBe(400);
      const { error } = res.json();
      expect(error.code).toBe('validation_failed');
      expect(error.message, url).toMatch(message);
      expect(error.message).toContain('Use a public address, or set USER_WEBHOOK_ALLOW_PRIVATE=true on a server that should reach its own network.');
      expect(error.details).toEqual([{ path: ['url'], message: error.message }]);
    }
    const withCredentials = await strict.request({ method: 'PUT', url: '/api/settings/webhook', as: user, payload: { url: 'https://me:secret@hooks.example.com/theway' } });
    expect(withCredentials.statusCode).toBe(400);
    expect(withCredentials.json().error.message).toMatch(/Remove the user name and password/);
    expect((await strict.request({ method: 'GET', url: '/api/settings/webhook', as: user })).json()).toEqual({ webhook: null });
    // A public-looking name is accepted even though it does not resolve here (delivery checks again).
    expect((await strict.request({ method: 'PUT', url: '/api/settings/webhook', as: user, payload: { url: 'https://hooks.example.com/theway' } })).statusCode).toBe(200);
  });

  it('refuses at delivery a URL that leads inside (saved before the check, or whose DNS changed): nothing sent, a plain status, no retries', async () => {
    const user = await strict.newUser();
    expect((await strict.request({ method: 'PUT', url: '/api/settings/webhook', as: user, payload: { url: 'https://hooks.example.com/theway' } })).statusCode).toBe(200);
    // As if the row came from before the check existed: `localhost` reaches the receiver on 127.0.0.1.
    await strict.ctx.db.kysely.updateTable('user_webhooks').set({ url: `http://localhost:${port}/hooks` }).where('user_id', '=', user.id).execute();
    const before = hits.length;
    expect((await strict.request({ method: 'POST', url: '/api/settings/webhook/test', as: user })).statusCode).toBe(202);
    await until(() => status(strict, user.id), (s) => s !== null, 'the delivery status');
    expect(await status(strict, user.id)).toBe('refused: private address');
    expect((await strict.request({ method: 'GET', url: '/api/settings/webhook', as: user })).json().webhook).toMatchObject({ lastDeliveryStatus: 'refused: private address' });
    // The job ended at once instead of retrying against the internal address.
    const jobs = (await listJobs(strict.ctx, 'notify.test')).filter((j) => (j.payload as { userId: string }).userId === user.id);
    expect(jobs).toMatchObject([{ state: 'succeeded', attempts: 1 }]);
    expect(hits.length).toBe(before);
  });

  it('checks the name again at delivery and connects to exactly the address it checked', async () => {
    const user = await strict.newUser();
    let answer = '93.184.216.34';
    let lookups = 0;
    const resolve: Resolve = async () => {
      lookups += 1;
      return [{ address: answer, family: 4 }];
    };
    const definitions = (service: UserWebhookService) => Object.fromEntries(service.jobDefinitions().map((d) => [d.name, d]));
    const queue = { enqueue: async () => 'job' } as unknown as JobQueue;
    const ctx = { jobId: 'j', name: 'notify.test', attempt: 1, maxAttempts: 3, signal: new AbortController().signal };

    // Public when saved; the name then points at this machine (DNS rebinding).
    const service = new UserWebhookService(strict.ctx.db.kysely, queue, { resolve });
    const self = { id: user.id, email: user.email, displayName: '', role: 'user' as const, createdAt: '' };
    await service.set(self, `http://hooks.rebind.test:${port}/hooks`);
    answer = '127.0.0.1';
    const before = hits.length;
    await definitions(service)['notify.test']!.handler({ userId: user.id, eventId: 'msg_rebind' }, ctx);
    expect(await status(strict, user.id)).toBe('refused: private address');
    expect(hits.length).toBe(before);

    // Allowed private: the connection goes where the (injected) resolver said, once, with the name as Host.
    const lanService = new UserWebhookService(strict.ctx.db.kysely, queue, { resolve, allowPrivate: true });
    lookups = 0;
    await definitions(lanService)['notify.test']!.handler({ userId: user.id, eventId: 'msg_pinned' }, ctx);
    expect(await status(strict, user.id)).toBe('204');
    expect(lookups).toBe(1);
    expect(hits.slice(before)).toMatchObject([{ url: '/hooks', headers: { host: `hooks.rebind.test:${port}`, 'webhook-id': 'msg_pinned' } }]);
  });

  it('with USER_WEBHOOK_ALLOW_PRIVATE=true delivers on the local network, and reads only the start of a huge reply', async () => {
    const user = await lan.newUser();
    expect((await lan.request({ method: 'PUT', url: '/api/settings/webhook', as: user, payload: { url: `http://localhost:${port}/hooks` } })).statusCode).toBe(200);
    const before = hits.length;
    expect((await lan.request({ method: 'POST', url: '/api/settings/webhook/test', as: user })).statusCode).toBe(202);
    await until(() => status(lan, user.id), (s) => s !== null, 'the delivery status');
    expect(await status(lan, user.id)).toBe('204');
    expect(hits.length).toBe(before + 1);

    hugeBodies = true;
    try {
      await lan.ctx.db.kysely.updateTable('user_webhooks').set({ last_delivery_status: null }).where('user_id', '=', user.id).execute();
      const started = Date.now();
      expect((await lan.request({ method: 'POST', url: '/api/settings/webhook/test', as: user })).statusCode).toBe(202);
      await until(() => status(lan, user.id), (s) => s !== null, 'the delivery status');
      // Reading it all would run into the 10 s timeout; the worker stops after 64 KiB and closes the connection.
      expect(await status(lan, user.id)).toBe('200');
      expect(Date.now() - started).toBeLessThan(5_000);
      await until(() => hugeRepliesCut, (n) => n > 0, 'the worker to close the endless reply');
      expect(bytesSent).toBeLessThan(32 * 2 ** 20);
    } finally {
      hugeBodies = false;
    }
  });
});
