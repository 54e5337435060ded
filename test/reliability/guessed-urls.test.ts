import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { insertModel, insertTraining } from '../support/factories.ts';
import { addDatasetImages } from '../support/dataset-factories.ts';

/**
 * The route matrix swaps every id for another user's. These are the guesses it does not make:
 * mixing one's own ids with a stranger's, reaching stored files or the database by path, and
 * walking out of the static web root.
 */
describe('no private file is reachable by guessing a URL', () => {
  let t: TestApp;
  let alice: { id: string; token: string };
  let mallory: { id: string; token: string };
  let aliceModel: string;
  let aliceImage: string;
  let malloryModel: string;
  let malloryImage: string;
  let aliceTraining: string;
  let weightsKey: string;

  beforeAll(async () => {
    t = await startTestApp('sqlite');
    alice = await t.newUser();
    mallory = await t.newUser();
    aliceModel = (await insertModel(t.ctx.db.kysely, alice.id, { name: 'Alice private' })).id;
    malloryModel = (await insertModel(t.ctx.db.kysely, mallory.id, { name: 'Mallory own' })).id;
    const [a] = await addDatasetImages(t.ctx, alice, aliceModel, 1, 10);
    const [m] = await addDatasetImages(t.ctx, mallory, malloryModel, 1, 20);
    aliceImage = (a as { image: { id: string } }).image.id;
    malloryImage = (m as { image: { id: string } }).image.id;
    weightsKey = `trainings/${crypto.randomUUID()}/lora.safetensors`;
    aliceTraining = (await insertTraining(t.ctx.db.kysely, alice.id, aliceModel, { weights_key: weightsKey })).id;
    await t.ctx.storage.put(weightsKey, Buffer.from('alice weights'));
  });
  afterAll(() => t.close());

  const as = (u: { token: string }, url: string) => t.request({ method: 'GET', url, as: u });

  it("answers 404 when a stranger pairs their own model id with someone else's image id", async () => {
    // Mallory owns the model in the path, so only the image-belongs-to-model check stands in the way.
    for (const suffix of ['file', 'thumbnail']) {
      const res = await as(mallory, `/api/models/${malloryModel}/images/${aliceImage}/${suffix}`);
      expect(res.statusCode, suffix).toBe(404);
      expect(res.body).not.toContain('alice');
    }
    for (const [method, payload] of [['PATCH', { caption: 'stolen' }], ['DELETE', undefined]] as const) {
      const res = await t.request({ method, url: `/api/models/${malloryModel}/images/${aliceImage}`, as: mallory, ...(payload ? { payload } : {}) });
      expect(res.statusCode, method).toBe(404);
    }
    // Alice's image is untouched and still hers.
    expect((await as(alice, `/api/models/${aliceModel}/images/${aliceImage}/file`)).statusCode).toBe(200);
    // And the owner sees her own image only under her own model.
    expect((await as(alice, `/api/models/${aliceModel}/images/${malloryImage}/file`)).statusCode).toBe(404);
  });

  it('answers 404 for out-of-range or malformed generation image positions', async () => {
    for (const position of ['1', '-1', '99999', 'abc', '0x0', '..%2F..%2Ftheway.db']) {
      const res = await as(alice, `/api/generations/${crypto.randomUUID()}/images/${position}`);
      expect([400, 404], position).toContain(res.statusCode);
    }
  });

  it('never serves stored blobs, the database or files outside the web root by path', async () => {
    const guesses = [
      `/blobs/${weightsKey}`,
      `/data/blobs/${weightsKey}`,
      `/${weightsKey}`,
      '/theway.db',
      '/data/theway.db',
      '/../data/theway.db',
      '/%2e%2e/%2e%2e/package.json',
      '/..%2f..%2fpackage.json',
      '/assets/../../package.json',
      '/assets/%2e%2e/%2e%2e/src/config.ts',
      '/.env',
      '/.git/config',
    ];
    for (const url of guesses) {
      const res = await t.request({ method: 'GET', url });
      // The UI's fallback may answer HTML for unknown paths; it must never be the file itself.
      expect(res.body, url).not.toContain('alice weights');
      expect(res.body, url).not.toMatch(/SQLite format 3|"name": "theway"|\[core\]|envSchema/);
      if (res.statusCode === 200) expect(res.headers['content-type'], url).toMatch(/text\/html/);
    }
    // The weights are reachable only through the authorized route.
    expect((await as(mallory, `/api/trainings/${aliceTraining}/weights`)).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: `/api/trainings/${aliceTraining}/weights` })).statusCode).toBe(401);
    expect((await as(alice, `/api/trainings/${aliceTraining}/weights`)).body).toBe('alice weights');
  });
});
