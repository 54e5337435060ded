import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import yauzl from 'yauzl';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel } from '../../support/factories.ts';
import { addDatasetImages, multipartBody } from '../../support/dataset-factories.ts';
import { buildZip, exifRotatedWithGps, photoJpeg, photoPng, plainText, SECRET_EXIF_TEXT, svgImage, truncated, zeroByte } from '../../support/images.ts';

type Result = { filename: string; status: string; image?: { id: string; caption: string; width: number; height: number }; error?: { code: string; message: string }; reason?: string };

async function listKeys(t: TestApp, prefix: string) {
  const keys: string[] = [];
  for await (const k of t.ctx.storage.list(prefix)) keys.push(k);
  return keys.sort();
}

async function readZip(buffer: Buffer): Promise<Map<string, Buffer>> {
  const zip = await new Promise<yauzl.ZipFile>((res, rej) => yauzl.fromBuffer(buffer, { lazyEntries: true }, (e, z) => (e ? rej(e) : res(z!))));
  const out = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (err, stream) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        stream!.on('data', (c: Buffer) => chunks.push(c));
        stream!.on('end', () => { out.set(entry.fileName, Buffer.concat(chunks)); zip.readEntry(); });
      });
    });
    zip.on('end', resolve);
    zip.on('error', reject);
    zip.readEntry();
  });
  return out;
}

describe.each(DIALECTS)('training images: upload, review, package (%s)', (dialect) => {
  let t: TestApp;
  let owner: { id: string; token: string };
  let stranger: { id: string; token: string };
  beforeAll(async () => {
    t = await startTestApp(dialect);
    owner = await t.newUser();
    stranger = await t.newUser();
  });
  afterAll(() => t.close());

  const upload = async (modelId: string, files: Array<{ name: string; data: Buffer; type?: string }>, as = owner) => {
    const m = multipartBody(files);
    return t.request({ method: 'POST', url: `/api/models/${modelId}/images`, as, payload: m.payload, headers: m.headers });
  };

  it('adds several images at once and deduplicates repeats by content', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Rex the dog' });
    const a = await photoJpeg({ seed: 1 });
    const b = await photoPng({ seed: 2 });
    const first = await upload(model.id, [{ name: 'a.jpg', data: a }, { name: 'b.png', data: b }]);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json().results.map((r: Result) => r.status)).toEqual(['added', 'added']);
    // A retried upload (same bytes, other name) creates nothing new.
    const again = await upload(model.id, [{ name: 'a-copy.jpg', data: a }]);
    expect(again.json().results[0].status).toBe('duplicate');
    expect(again.json().results[0].image.id).toBe(first.json().results[0].image.id);
    const rows = await t.ctx.db.kysely.selectFrom('dataset_images').select('id').where('model_id', '=', model.id).execute();
    expect(rows).toHaveLength(2);
    expect(await listKeys(t, `models/${model.id}/`)).toHaveLength(4);
  });

  it('rejects each bad file with its name and reason, keeping the good ones and leaving nothing behind', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const good = await photoJpeg({ seed: 7 });
    const res = await upload(model.id, [
      { name: 'empty.jpg', data: zeroByte() },
      { name: 'vector.svg', data: svgImage() },
      { name: 'notes.jpg', data: plainText() },
      { name: 'cut.jpg', data: truncated(good) },
      { name: 'good.jpg', data: good },
    ]);
    expect(res.statusCode).toBe(200);
    const results = res.json().results as Result[];
    expect(results.map((r) => [r.filename, r.status])).toEqual([
      ['empty.jpg', 'rejected'], ['vector.svg', 'rejected'], ['notes.jpg', 'rejected'], ['cut.jpg', 'rejected'], ['good.jpg', 'added'],
    ]);
    for (const r of results.slice(0, 4)) expect(r.error!.message).toContain(`"${r.filename}"`);
    expect(results[0]!.error!.code).toBe('empty_file');
    expect(results[1]!.error!.code).toBe('unsupported_type');
    expect(results[3]!.error!.code).toBe('truncated');
    expect(await listKeys(t, `models/${model.id}/`)).toHaveLength(2);
    expect(await t.ctx.db.kysely.selectFrom('dataset_images').select('id').where('model_id', '=', model.id).execute()).toHaveLength(1);
  });

  it('answers 422 with every reason when no file could be added, and 415 for a non-multipart body', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const res = await upload(model.id, [{ name: 'a.svg', data: svgImage() }, { name: 'b.txt', data: plainText() }]);
    expect(res.statusCode).toBe(422);
    expect(res.json().error.message).toMatch(/None of the files could be added/);
    expect(res.json().error.details).toHaveLength(2);
    const json = await t.request({ method: 'POST', url: `/api/models/${model.id}/images`, as: owner, payload: { file: 'x' } });
    expect(json.statusCode).toBe(415);
    expect(await listKeys(t, `models/${model.id}/`)).toEqual([]);
  });

  it('applies EXIF orientation and strips every piece of metadata (GPS!) from what it stores and serves', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const res = await upload(model.id, [{ name: 'phone.jpg', data: await exifRotatedWithGps({ width: 1024, height: 768 }) }]);
    const image = res.json().results[0].image;
    expect([image.width, image.height]).toEqual([768, 1024]);
    for (const variant of ['file', 'thumbnail']) {
      const served = await t.request({ method: 'GET', url: `/api/models/${model.id}/images/${image.id}/${variant}`, as: owner });
      expect(served.statusCode).toBe(200);
      const meta = await sharp(served.rawPayload).metadata();
      expect(meta.exif).toBeUndefined();
      expect(meta.orientation ?? 1).toBe(1);
      expect(served.rawPayload.includes(Buffer.from(SECRET_EXIF_TEXT))).toBe(false);
      expect(served.headers['content-type']).toBe(variant === 'file' ? 'image/jpeg' : 'image/webp');
    }
  });

  it('imports a zip with same-name captions, and refuses one with a path-traversal name', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const zip = buildZip([
      { name: 'set/one.jpg', data: await photoJpeg({ seed: 21 }) },
      { name: 'set/one.txt', data: Buffer.from('REXDOG sitting on grass') },
      { name: 'set/two.jpg', data: await photoJpeg({ seed: 22 }) },
      { name: '__MACOSX/._one.jpg', data: Buffer.from('junk') },
    ]);
    const res = await upload(model.id, [{ name: 'photos.zip', data: zip, type: 'application/zip' }]);
    expect(res.statusCode, res.body).toBe(200);
    const added = (res.json().results as Result[]).filter((r) => r.status === 'added');
    expect(added.map((r) => r.image!.caption).sort()).toEqual(['', 'REXDOG sitting on grass']);
    const evil = buildZip([{ name: '../../etc/evil.jpg', data: await photoJpeg({ seed: 23 }) }]);
    const refused = await upload(model.id, [{ name: 'evil.zip', data: evil }]);
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error.details[0].error.code).toBe('unsafe_entry_name');
  });

  it('hides a private model\'s images from others; shows a public model\'s', async () => {
    const priv = await insertModel(t.ctx.db.kysely, owner.id);
    const pub = await insertModel(t.ctx.db.kysely, owner.id, { visibility: 'public' });
    const [p] = await addDatasetImages(t.ctx, owner, priv.id, 1, 300);
    const [q] = await addDatasetImages(t.ctx, owner, pub.id, 1, 301);
    const pid = (p as { image: { id: string } }).image.id;
    const qid = (q as { image: { id: string } }).image.id;
    expect((await t.request({ method: 'GET', url: `/api/models/${priv.id}/images/${pid}/thumbnail`, as: stranger })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: `/api/models/${pub.id}/images/${qid}/thumbnail`, as: stranger })).statusCode).toBe(200);
    // Reviewing, uploading and editing stay the owner's.
    expect((await t.request({ method: 'GET', url: `/api/models/${pub.id}/dataset`, as: stranger })).statusCode).toBe(404);
    expect((await upload(pub.id, [{ name: 'x.jpg', data: await photoJpeg({ seed: 9 }) }], stranger)).statusCode).toBe(404);
    // An image id from another model is not found through this one.
    expect((await t.request({ method: 'GET', url: `/api/models/${pub.id}/images/${pid}/file`, as: owner })).statusCode).toBe(404);
  });

  it('reviews the dataset: badges, readiness blocked under 10 images, then ready to train', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Watercolor Fox' });
    await addDatasetImages(t.ctx, owner, model.id, 4, 400);
    const small = await t.request({ method: 'GET', url: `/api/models/${model.id}/dataset`, as: owner });
    expect(small.statusCode).toBe(200);
    expect(small.json().summary.readiness).toMatchObject({ canTrain: false, verdict: 'blocked' });
    expect(small.json().settings).toEqual({ triggerWord: 'WATERCOLORFOX', triggerWordIsDefault: true, captionPrefix: '' });
    expect((await t.ctx.datasets.readiness(model.id)).reasons[0]).toMatch(/at least 10 images \(you have 4\)/);
    await addDatasetImages(t.ctx, owner, model.id, 12, 500);
    const ready = await t.ctx.datasets.readiness(model.id);
    expect(ready).toMatchObject({ imageCount: 16, canTrain: true, reasons: [] });
  });

  it('edits captions, validates the trigger word, and packages a deterministic zip with captions', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Rex' });
    const results = await addDatasetImages(t.ctx, owner, model.id, 3, 600);
    const ids = results.map((r) => (r as { image: { id: string } }).image.id);
    const cap = await t.request({ method: 'PATCH', url: `/api/models/${model.id}/images/${ids[0]}`, as: owner, payload: { caption: 'on a beach at sunset' } });
    expect(cap.statusCode).toBe(200);
    const bad = await t.request({ method: 'PATCH', url: `/api/models/${model.id}/dataset`, as: owner, payload: { triggerWord: 'dog' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toMatch(/everyday word/);
    const set = await t.request({ method: 'PATCH', url: `/api/models/${model.id}/dataset`, as: owner, payload: { triggerWord: 'RXQ_DOG', captionPrefix: 'a photo of' } });
    expect(set.json()).toEqual({ triggerWord: 'RXQ_DOG', triggerWordIsDefault: false, captionPrefix: 'a photo of' });

    const pkg = await t.ctx.datasets.buildPackage(model.id, 512, `trainings/test-${model.id}/dataset.zip`);
    expect(pkg.imageCount).toBe(3);
    const bytes = Buffer.concat(await Array.fromAsync(await t.ctx.storage.get(pkg.key)) as Buffer[]);
    const entries = await readZip(bytes);
    expect([...entries.keys()].sort()).toEqual(['0001.jpg', '0001.txt', '0002.jpg', '0002.txt', '0003.jpg', '0003.txt']);
    expect(entries.get('0001.txt')!.toString()).toBe('RXQ_DOG, a photo of on a beach at sunset');
    const meta = await sharp(entries.get('0001.jpg')!).metadata();
    expect(Math.min(meta.width!, meta.height!)).toBe(512);
    const again = await t.ctx.datasets.buildPackage(model.id, 512, `trainings/test2-${model.id}/dataset.zip`);
    expect(again.sha256).toBe(pkg.sha256);
  });

  it('deletes an image and its files; deleting the model removes all its files', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const results = await addDatasetImages(t.ctx, owner, model.id, 2, 700);
    const id = (results[0] as { image: { id: string } }).image.id;
    expect((await t.request({ method: 'DELETE', url: `/api/models/${model.id}/images/${id}`, as: owner })).statusCode).toBe(204);
    expect(await listKeys(t, `models/${model.id}/`)).toHaveLength(2);
    expect((await t.request({ method: 'DELETE', url: `/api/models/${model.id}`, as: owner })).statusCode).toBe(204);
    expect(await listKeys(t, `models/${model.id}/`)).toEqual([]);
  });
});
