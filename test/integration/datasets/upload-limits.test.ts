import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel } from '../../support/factories.ts';
import { multipartBody } from '../../support/dataset-factories.ts';
import { decompressionBombPng, hugeDimensionHeaderPng, photoJpeg } from '../../support/images.ts';
import { sweepStaleSpools } from '../../../src/http/multipart-uploads.ts';

type Result = { filename: string; status: string; image?: { id: string }; error?: { code: string; message: string } };

/** An app with small limits, so every limit is reachable with small synthetic images. */
const LIMITS = { MAX_IMAGE_MB: '0.1', MAX_ZIP_MB: '0.3', MAX_UPLOAD_FILES: '3', MAX_IMAGE_MEGAPIXELS: '2' };

describe.each(DIALECTS)('upload limits and interrupted uploads (%s)', (dialect) => {
  let t: TestApp;
  let owner: { id: string; token: string };
  beforeAll(async () => {
    t = await startTestApp(dialect, LIMITS);
    owner = await t.newUser();
  });
  afterAll(() => t.close());

  const post = (modelId: string, payload: Buffer, headers: Record<string, string>) =>
    t.request({ method: 'POST', url: `/api/models/${modelId}/images`, as: owner, payload, headers });
  const upload = (modelId: string, files: Array<{ name: string; data: Buffer }>) => {
    const m = multipartBody(files);
    return post(modelId, m.payload, m.headers);
  };
  const stored = async (modelId: string) => {
    const keys: string[] = [];
    for await (const k of t.ctx.storage.list(`models/${modelId}/`)) keys.push(k);
    const rows = await t.ctx.db.kysely.selectFrom('dataset_images').select(['image_key', 'thumb_key']).where('model_id', '=', modelId).execute();
    return { keys: keys.sort(), rows, rowKeys: rows.flatMap((r) => [r.image_key, r.thumb_key]).sort() };
  };
  const spoolFiles = () => readdirSync(join(t.config.dataDir, 'tmp')).filter((n) => n.startsWith('upload-'));

  it('refuses files over the byte limits, naming the file and the limit, and keeps the small one', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const small = await photoJpeg({ width: 300, height: 300, seed: 1 });
    const overImageLimit = Buffer.concat([small, Buffer.alloc(150_000)]); // > 0.1 MB, < 0.3 MB: read in full, refused by size
    const overUploadLimit = Buffer.concat([small, Buffer.alloc(400_000)]); // > 0.3 MB: cut off while streaming
    const res = await upload(model.id, [{ name: 'small.jpg', data: small }, { name: 'padded.jpg', data: overImageLimit }, { name: 'huge.jpg', data: overUploadLimit }]);
    expect(res.statusCode, res.body).toBe(200);
    const results = res.json().results as Result[];
    expect(results.map((r) => [r.filename, r.status, r.error?.code])).toEqual([
      ['small.jpg', 'added', undefined],
      ['padded.jpg', 'rejected', 'too_large_bytes'],
      ['huge.jpg', 'rejected', 'too_large_bytes'],
    ]);
    expect(results[1]!.error!.message).toMatch(/^"padded\.jpg": .*limit is 0\.1 MB/);
    expect(results[2]!.error!.message).toBe('"huge.jpg": the file is larger than the 0.3 MB limit per file.');
    const s = await stored(model.id);
    expect(s.rows).toHaveLength(1);
    expect(s.keys).toEqual(s.rowKeys);
    expect(spoolFiles()).toEqual([]);
  });

  it('refuses decompression bombs and absurd pixel counts before decoding them (422 when nothing was added)', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const res = await upload(model.id, [{ name: 'bomb.png', data: decompressionBombPng() }, { name: 'header.png', data: hugeDimensionHeaderPng() }]);
    expect(res.statusCode).toBe(422);
    const details = res.json().error.details as Result[];
    expect(details.map((r) => [r.filename, r.error!.code])).toEqual([['bomb.png', 'too_many_pixels'], ['header.png', 'too_many_pixels']]);
    expect(details[0]!.error!.message).toMatch(/^"bomb\.png": .*megapixels/);
    expect(await stored(model.id)).toMatchObject({ keys: [], rows: [] });
  });

  it('answers the files past the per-request limit as not received, keeping the ones before', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const files = await Promise.all([11, 12, 13, 14].map(async (seed) => ({ name: `p${seed}.jpg`, data: await photoJpeg({ width: 256, height: 256, seed }) })));
    const res = await upload(model.id, files);
    expect(res.statusCode, res.body).toBe(200);
    const results = res.json().results as Result[];
    expect(results.map((r) => r.status)).toEqual(['added', 'added', 'added', 'rejected']);
    expect(results[3]!.error!.code).toBe('too_many_files');
    expect(results[3]!.error!.message).toMatch(/Only 3 files are read per upload/);
    expect((await stored(model.id)).rows).toHaveLength(3);
  });

  it('answers 400 to a body cut off mid-file: complete files are kept, the cut one leaves nothing; a retry adds no duplicates', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const files = [
      { name: 'whole.jpg', data: await photoJpeg({ width: 256, height: 256, seed: 21 }) },
      { name: 'cut.jpg', data: await photoJpeg({ width: 256, height: 256, seed: 22 }) },
    ];
    const m = multipartBody(files);
    const res = await post(model.id, m.payload.subarray(0, m.payload.length - 3000), m.headers);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error.message).toMatch(/upload ended before every file arrived/);
    let s = await stored(model.id);
    expect(s.rows).toHaveLength(1);
    expect(s.keys).toEqual(s.rowKeys);
    expect(spoolFiles()).toEqual([]);
    // The client sends the whole batch again: the first is recognised, the second added.
    const retry = await upload(model.id, files);
    expect((retry.json().results as Result[]).map((r) => r.status)).toEqual(['duplicate', 'added']);
    s = await stored(model.id);
    expect(s.rows).toHaveLength(2);
    expect(s.keys).toEqual(s.rowKeys);
  });

  it('reuses a training package already built from the same images, and rebuilds when a caption changes', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Rex the dog' });
    const res = await upload(model.id, await Promise.all([31, 32].map(async (seed) => ({ name: `r${seed}.jpg`, data: await photoJpeg({ width: 300, height: 300, seed }) }))));
    const added = res.json().results as Result[];
    expect(added.map((r) => r.status)).toEqual(['added', 'added']);
    const key = `trainings/reuse-${model.id}/dataset.zip`;
    const first = await t.ctx.datasets.buildPackage(model.id, 512, key);
    const put = vi.spyOn(t.ctx.storage, 'put');
    try {
      const again = await t.ctx.datasets.buildPackage(model.id, 512, key);
      expect(again).toEqual(first);
      expect(put).not.toHaveBeenCalled();
      const id = added[0]!.image!.id;
      await t.request({ method: 'PATCH', url: `/api/models/${model.id}/images/${id}`, as: owner, payload: { caption: 'rexdog asleep' } });
      const rebuilt = await t.ctx.datasets.buildPackage(model.id, 512, key);
      expect(put.mock.calls.map((c) => c[0])).toEqual([key, `${key}.manifest.json`]);
      expect(rebuilt.sha256).not.toBe(first.sha256);
      expect((await t.ctx.storage.stat(key))!.size).toBe(rebuilt.size);
    } finally {
      put.mockRestore();
    }
  });
});

describe('stale upload spool sweep', () => {
  it('removes only old spool files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'theway-spool-'));
    try {
      for (const name of ['upload-old', 'upload-young', 'keep-me']) writeFileSync(join(dir, name), 'x');
      const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
      utimesSync(join(dir, 'upload-old'), twoDaysAgo, twoDaysAgo);
      utimesSync(join(dir, 'keep-me'), twoDaysAgo, twoDaysAgo);
      expect(await sweepStaleSpools(dir, 86_400_000)).toBe(1);
      expect(readdirSync(dir).sort()).toEqual(['keep-me', 'upload-young']);
      expect(await sweepStaleSpools(join(dir, 'missing'), 1)).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
