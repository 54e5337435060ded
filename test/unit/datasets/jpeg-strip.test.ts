import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyJpegStrip, planJpegStrip, stripJpegMetadata } from '../../../src/datasets/image/jpeg-strip.ts';
import { processImage } from '../../../src/datasets/image/process-image.ts';
import * as img from '../../support/images.ts';

/** A JPEG with EXIF (APP1), a comment and an XMP-like APP1 around the JFIF and quantisation segments. */
async function taggedJpeg(): Promise<Buffer> {
  const base = await sharp(await img.photoJpeg({ width: 640, height: 480, seed: 11 }))
    .withExif({ IFD0: { ImageDescription: img.SECRET_EXIF_TEXT }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2964/100' } })
    .jpeg({ quality: 90 })
    .toBuffer();
  // Add a comment segment (COM) right after SOI, so metadata sits both before and between kept segments.
  const comment = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x0e]), Buffer.from('hello there!')]);
  return Buffer.concat([base.subarray(0, 2), comment, base.subarray(2)]);
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'theway-strip-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('JPEG metadata strip', () => {
  it('moving the kept segments in place gives the same bytes as copying them', async () => {
    const tagged = await taggedJpeg();
    const plan = planJpegStrip(tagged)!;
    expect(plan.keep.length).toBeGreaterThan(1);
    const copied = applyJpegStrip(tagged, plan);
    expect(copied).not.toBe(tagged);
    expect(copied.length).toBeLessThan(tagged.length);
    expect(copied.includes(img.SECRET_EXIF_TEXT)).toBe(false);
    expect(copied.includes('hello there!')).toBe(false);

    const scratch = Buffer.from(tagged);
    const inPlace = applyJpegStrip(scratch, plan, { reuseInput: true });
    expect(inPlace.buffer).toBe(scratch.buffer);
    expect(Buffer.compare(inPlace, copied)).toBe(0);
    // Same pixels as the original.
    const [a, b] = await Promise.all([sharp(tagged).raw().toBuffer(), sharp(inPlace).raw().toBuffer()]);
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it('leaves the caller\'s buffer alone unless told it may reuse it', async () => {
    const tagged = await taggedJpeg();
    const before = Buffer.from(tagged);
    stripJpegMetadata(tagged);
    applyJpegStrip(tagged, planJpegStrip(tagged)!);
    expect(Buffer.compare(tagged, before)).toBe(0);
  });

  it('returns a metadata-free JPEG itself instead of copying it', async () => {
    const plain = await img.photoJpeg({ width: 320, height: 240 });
    expect(stripJpegMetadata(plain)).toBe(plain);
  });

  it('processImage strips a tagged file read from disk the same way as the same bytes in memory', async () => {
    const tagged = await taggedJpeg();
    const path = join(dir, 'tagged.jpg');
    await writeFile(path, tagged);
    const fromMemory = await processImage(Buffer.from(tagged), { name: 'a.jpg' });
    const fromDisk = await processImage(path, { name: 'a.jpg' });
    expect(Buffer.compare(fromDisk.normalized, fromMemory.normalized)).toBe(0);
    expect(fromDisk.sha256).toBe(createHash('sha256').update(tagged).digest('hex'));
    expect(fromDisk.bytes).toBe(tagged.length);
    expect(fromDisk.normalized.includes(img.SECRET_EXIF_TEXT)).toBe(false);
    expect(fromDisk.metrics).toEqual(fromMemory.metrics);
  });
});
