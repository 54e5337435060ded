import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZipRejectedError, type ZipRejectionCode } from '../../../src/datasets/image/errors.ts';
import { processImage } from '../../../src/datasets/image/process-image.ts';
import { readImageZip, type ZipItem, type ZipLimits } from '../../../src/datasets/image/zip-import.ts';
import { buildZip, photoJpeg, photoPng, type RawZipEntry } from '../../support/images.ts';

async function collect(source: string | Buffer, limits?: Partial<ZipLimits>): Promise<ZipItem[]> {
  const items: ZipItem[] = [];
  for await (const item of readImageZip(source, { name: 'photos.zip', ...(limits ? { limits } : {}) })) items.push(item);
  return items;
}

async function expectZipRejected(source: Buffer, reason: ZipRejectionCode, limits?: Partial<ZipLimits>) {
  const error = await collect(source, limits).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ZipRejectedError);
  expect((error as ZipRejectedError).reason).toBe(reason);
  expect((error as ZipRejectedError).message).toContain('photos.zip');
  return error as ZipRejectedError;
}

const summary = (items: ZipItem[]) =>
  items.map((i) => (i.kind === 'image' ? { image: i.path, name: i.name, bytes: i.data.length, caption: i.caption } : { skipped: i.path }));

let jpg: Buffer;
let png: Buffer;
let dir: string;
beforeAll(async () => {
  jpg = await photoJpeg({ width: 320, height: 240, seed: 1 });
  png = await photoPng({ width: 320, height: 240, seed: 2 });
  dir = await mkdtemp(join(tmpdir(), 'theway-zip-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readImageZip: a normal archive', () => {
  it('yields images with their same-name captions, in folders too, and skips junk', async () => {
    const zip = buildZip([
      { name: 'set/', data: Buffer.alloc(0) },
      { name: 'set/b.txt', data: Buffer.from('\uFEFFa photo of TOK,\r\n smiling  \r\n'), method: 'deflate' }, // caption before its image
      { name: 'set/b.png', data: png, method: 'deflate' },
      { name: 'a.jpg', data: jpg },
      { name: 'a.txt', data: Buffer.from('TOK at the beach') },
      { name: 'empty.jpg', data: jpg },
      { name: 'empty.txt', data: Buffer.from('  \n') },
      { name: '__MACOSX/set/._b.png', data: Buffer.from('resource fork') },
      { name: 'set/.DS_Store', data: Buffer.from('finder') },
      { name: '._a.jpg', data: Buffer.from('apple double') },
      { name: 'orphan.txt', data: Buffer.from('no image for me') },
      { name: 'notes.pdf', data: Buffer.from('%PDF-1.4') },
    ]);
    const items = await collect(zip);
    expect(summary(items)).toEqual([
      { skipped: 'orphan.txt' },
      { image: 'set/b.png', name: 'b.png', bytes: png.length, caption: 'a photo of TOK,\n smiling' },
      { image: 'a.jpg', name: 'a.jpg', bytes: jpg.length, caption: 'TOK at the beach' },
      { image: 'empty.jpg', name: 'empty.jpg', bytes: jpg.length, caption: undefined },
      // Not judged by its extension here: processImage refuses it by content, with a clear message.
      { image: 'notes.pdf', name: 'notes.pdf', bytes: 8, caption: undefined },
    ]);
    const first = items[1];
    expect(first?.kind === 'image' && first.data.equals(png)).toBe(true);
    expect(items[3] && 'caption' in items[3]).toBe(false);
    const processed = await processImage((items[2] as Extract<ZipItem, { kind: 'image' }>).data, { name: 'a.jpg' });
    expect(processed.format).toBe('jpeg');
  });

  it('skips a caption that is not UTF-8 text but keeps its image', async () => {
    const zip = buildZip([
      { name: 'a.jpg', data: jpg },
      { name: 'a.txt', data: Buffer.from([0xff, 0xfe, 0x00, 0xd8]) },
    ]);
    expect(summary(await collect(zip))).toEqual([{ skipped: 'a.txt' }, { image: 'a.jpg', name: 'a.jpg', bytes: jpg.length, caption: undefined }]);
  });

  it('skips an oversized caption and an image whose declared size is over the per-image limit', async () => {
    const zip = buildZip([
      { name: 'a.jpg', data: jpg },
      { name: 'a.txt', data: Buffer.alloc(2000, 'x') },
      { name: 'big.png', data: png },
    ]);
    const items = await collect(zip, { maxCaptionBytes: 1000, maxEntryBytes: Math.max(jpg.length, png.length - 1) });
    expect(items.map((i) => [i.kind, i.path])).toEqual([
      ['skipped', 'big.png'],
      ['skipped', 'a.txt'],
      ['image', 'a.jpg'],
    ]);
  });

  it('reads from a path, and stops cleanly when the caller stops early', async () => {
    const path = join(dir, 'photos.zip');
    await writeFile(path, buildZip([{ name: '1.jpg', data: jpg }, { name: '2.jpg', data: jpg }]));
    for await (const item of readImageZip(path, { name: 'photos.zip' })) {
      expect(item).toMatchObject({ kind: 'image', path: '1.jpg' });
      break;
    }
    expect((await collect(path)).length).toBe(2);
  });
});

describe('readImageZip: hostile archives', () => {
  it.each(['../evil.jpg', 'set/../../evil.jpg', '/etc/cron.d/evil.jpg', 'C:/Windows/evil.jpg', 'set\\..\\evil.jpg', 'a\u0000b.jpg'])(
    'refuses the whole archive for the unsafe name %j, naming it',
    async (name) => {
      const error = await expectZipRejected(buildZip([{ name: 'fine.jpg', data: jpg }, { name, data: jpg }]), 'unsafe_entry_name');
      expect(error.message).toContain(name);
      expect(error.code).toBe('validation_failed');
    },
  );

  it('refuses too many entries (counting folders and junk too)', async () => {
    const entries: RawZipEntry[] = Array.from({ length: 6 }, (_, i) => ({ name: `__MACOSX/${i}`, data: Buffer.alloc(1) }));
    await expectZipRejected(buildZip(entries), 'too_many_entries', { maxEntries: 5 });
    expect(await collect(buildZip(entries.slice(0, 5)), { maxEntries: 5 })).toEqual([]);
  });

  it('refuses an overlapping-entry zip bomb by its total inflated size', async () => {
    const block = Buffer.alloc(4 * 1024 * 1024);
    const entries: RawZipEntry[] = [{ name: '0.png', data: block, method: 'deflate' }];
    for (let i = 1; i < 40; i++) entries.push({ name: `${i}.png`, reuseDataOf: 0 });
    const bomb = buildZip(entries);
    expect(bomb.length).toBeLessThan(100_000);
    const error = await expectZipRejected(bomb, 'too_large_inflated', { maxTotalInflatedBytes: 64 * 1024 * 1024 });
    expect(error.code).toBe('payload_too_large');
  });

  it('does not trust a header that understates the inflated size', async () => {
    const bomb = buildZip([{ name: 'bomb.png', data: Buffer.alloc(32 * 1024 * 1024), method: 'deflate', declaredSize: 1000 }]);
    expect(bomb.length).toBeLessThan(100_000);
    const error = await collect(bomb).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ZipRejectedError);
    expect(['corrupt_zip', 'entry_too_large']).toContain((error as ZipRejectedError).reason);
  });

  it('refuses what is not a zip, and a damaged zip', async () => {
    await expectZipRejected(jpg, 'not_a_zip');
    const zip = buildZip([{ name: 'a.jpg', data: jpg }, { name: 'b.jpg', data: jpg }]);
    await expectZipRejected(zip.subarray(0, zip.length - 30), 'corrupt_zip');
  });
});
