import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { processImage } from '../../../src/datasets/image/process-image.ts';
import { packageSize, writeTrainingPackage, type PackageItem } from '../../../src/datasets/image/training-package.ts';
import { photoJpeg, photoPng } from '../../support/images.ts';

async function build(items: PackageItem[], resolution: 512 | 768 | 1024 = 512) {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const entries = await writeTrainingPackage(items, { resolution }, out);
  return { zip: Buffer.concat(chunks), entries };
}

async function unzip(zip: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const z = await yauzl.fromBufferPromise(zip, { lazyEntries: true });
  for await (const entry of z.eachEntry()) {
    const stream = await z.openReadStreamPromise(entry);
    const parts: Buffer[] = [];
    for await (const part of stream as AsyncIterable<Buffer>) parts.push(part);
    files.set(entry.fileName, Buffer.concat(parts));
  }
  z.close();
  return files;
}

let stored: Buffer[];
beforeAll(async () => {
  // What the platform stores: the normalized output of processImage.
  const originals = [
    await photoJpeg({ width: 2400, height: 1600, seed: 1 }),
    await photoJpeg({ width: 600, height: 800, seed: 2 }),
    await photoPng({ width: 3000, height: 600, seed: 3 }),
  ];
  stored = await Promise.all(originals.map(async (o, i) => (await processImage(o, { name: `${i}` })).normalized));
});

const items = (): PackageItem[] => [
  { key: 'c', loadImage: async () => stored[2]!, caption: null },
  { key: 'a', loadImage: async () => stored[0]!, caption: '  a photo of TOK\r\non a beach  ' },
  { key: 'b', loadImage: async () => stored[1]!, caption: 'TOK, portrait' },
];

describe('packageSize', () => {
  it('brings the short side down to the resolution, caps the long side at twice it, never enlarges', () => {
    expect(packageSize(2048, 1365, 512)).toEqual({ width: 768, height: 512 });
    expect(packageSize(2048, 1365, 1024)).toEqual({ width: 1536, height: 1024 });
    expect(packageSize(600, 800, 1024)).toEqual({ width: 600, height: 800 });
    expect(packageSize(2048, 410, 512)).toEqual({ width: 1024, height: 205 });
    expect(packageSize(1024, 1024, 1024)).toEqual({ width: 1024, height: 1024 });
  });
});

describe('writeTrainingPackage', () => {
  it('writes sorted, numbered images with same-name captions at the training size', async () => {
    const { zip, entries } = await build(items(), 512);
    expect(entries).toEqual([
      { key: 'a', image: '0001.jpg', caption: '0001.txt', width: 768, height: 512 },
      { key: 'b', image: '0002.jpg', caption: '0002.txt', width: 512, height: 683 },
      { key: 'c', image: '0003.jpg', caption: undefined, width: 1024, height: 205 },
    ]);
    const files = await unzip(zip);
    expect([...files.keys()]).toEqual(['0001.jpg', '0001.txt', '0002.jpg', '0002.txt', '0003.jpg']);
    expect(files.get('0001.txt')!.toString('utf8')).toBe('a photo of TOK\non a beach');
    expect(files.get('0002.txt')!.toString('utf8')).toBe('TOK, portrait');
    for (const entry of entries) {
      const meta = await sharp(files.get(entry.image)!).metadata();
      expect(meta).toMatchObject({ format: 'jpeg', width: entry.width, height: entry.height });
      expect(meta.exif).toBeUndefined();
    }
  });

  it('copies an image that is already the right size byte for byte', async () => {
    const { zip } = await build([{ key: 'x', loadImage: async () => stored[1]! }], 1024);
    expect((await unzip(zip)).get('0001.jpg')!.equals(stored[1]!)).toBe(true);
  });

  it('is byte-identical on every run, whatever the input order and time zone', async () => {
    const first = await build(items(), 768);
    const reversed = await build(items().reverse(), 768);
    const originalTz = process.env.TZ;
    process.env.TZ = 'Pacific/Kiritimati';
    let third: Awaited<ReturnType<typeof build>>;
    try {
      third = await build(items(), 768);
    } finally {
      if (originalTz === undefined) delete process.env.TZ;
      else process.env.TZ = originalTz;
    }
    const hash = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(hash(reversed.zip)).toBe(hash(first.zip));
    expect(hash(third.zip)).toBe(hash(first.zip));
  });

  it('fails, and destroys the output, when an image cannot be loaded', async () => {
    const out = new PassThrough();
    out.resume();
    const failing: PackageItem[] = [...items(), { key: 'd', loadImage: async () => { throw new Error('storage unavailable'); } }];
    await expect(writeTrainingPackage(failing, { resolution: 512 }, out)).rejects.toThrow('storage unavailable');
    expect(out.destroyed).toBe(true);
  });

  it('refuses duplicate keys', async () => {
    await expect(build([{ key: 'a', loadImage: async () => stored[0]! }, { key: 'a', loadImage: async () => stored[1]! }])).rejects.toThrow(/duplicate/);
  });
});
