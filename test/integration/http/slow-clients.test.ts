import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel } from '../../support/factories.ts';
import { until } from '../../support/until.ts';

/**
 * Slow and stalled clients: a connection that stops sending is closed after IDLE_TIMEOUT_SECONDS
 * and leaves nothing behind; the request deadline (REQUEST_TIMEOUT_SECONDS) is set on the server.
 */
describe('slow and stalled clients', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await startTestApp('sqlite', { IDLE_TIMEOUT_SECONDS: '1', REQUEST_TIMEOUT_SECONDS: '120' });
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = Number(new URL(address).port);
  });
  afterAll(() => t.close());

  const spoolFiles = () => {
    try {
      return readdirSync(join(t.config.dataDir, 'tmp')).filter((n) => n.startsWith('upload-'));
    } catch {
      return []; // not created before the first upload
    }
  };

  it('closes an upload that stalls mid-file, and its spooled part is removed', async () => {
    const owner = await t.newUser();
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const boundary = 'stalled-upload-boundary';
    const head = [
      `POST /api/models/${model.id}/images HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      `Authorization: Bearer ${owner.token}`,
      `Content-Type: multipart/form-data; boundary=${boundary}`,
      'Content-Length: 5000000',
      '',
      '',
    ].join('\r\n');
    const part = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`;
    const socket: Socket = connect(port, '127.0.0.1');
    let closed = false;
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // The start of a JPEG, then nothing more: the client went away without closing.
    socket.write(head + part + Buffer.alloc(64 * 1024, 0xff).toString('latin1'));
    await until(async () => spoolFiles().length, (n) => n > 0, 'the upload being spooled', 20_000);
    await until(async () => closed, (c) => c, 'the server closing the stalled connection', 30_000);
    expect(answer).not.toMatch(/^HTTP\/1\.1 2/);
    await until(async () => spoolFiles(), (files) => files.length === 0, 'the spooled part removed', 20_000);
    expect(await t.ctx.db.kysely.selectFrom('dataset_images').select('id').where('model_id', '=', model.id).execute()).toEqual([]);
  });

  it('gives the server a deadline for a whole request and an idle limit, from the configuration', () => {
    expect(t.app.server.requestTimeout).toBe(120_000);
    expect(t.app.server.timeout).toBe(1_000);
  });
});
