import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageRejectedError, type ImageRejectionCode } from '../../../src/datasets/image/errors.ts';
import { hammingDistance } from '../../../src/datasets/image/perceptual-hash.ts';
import { processImage } from '../../../src/datasets/image/process-image.ts';
import { AppError } from '../../../src/shared/errors.ts';
import * as img from '../../support/images.ts';

async function rejection(input: Buffer | string, opts: { name?: string; maxBytes?: number; maxPixels?: number } = {}) {
  const error = await processImage(input, { name: opts.name ?? 'photo.jpg', ...opts }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ImageRejectedError);
  return error as ImageRejectedError;
}

async function expectRejected(input: Buffer | string, reason: ImageRejectionCode, opts: Parameters<typeof rejection>[1] = {}) {
  const error = await rejection(input, opts);
  expect(error.reason).toBe(reason);
  expect(error.message).toContain(opts.name ?? 'photo.jpg');
  return error;
}

let photo: Buffer;
let dir: string;
beforeAll(async () => {
  photo = await img.photoJpeg({ width: 1024, height: 768, seed: 1 });
  dir = await mkdtemp(join(tmpdir(), 'theway-img-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('processImage: derived outputs', () => {
  it('produces a normalized JPEG, a WebP thumbnail, sizes, hash of the original and metrics', async () => {
    const p = await processImage(photo, { name: 'photo.jpg' });
    expect(p.format).toBe('jpeg');
    expect([p.width, p.height]).toEqual([1024, 768]);
    expect(p.sha256).toBe(createHash('sha256').update(photo).digest('hex'));
    expect(p.bytes).toBe(photo.length);

    const normalized = await sharp(p.normalized).metadata();
    expect(normalized).toMatchObject({ format: 'jpeg', width: 1024, height: 768, space: 'srgb' });
    expect([p.normalizedWidth, p.normalizedHeight]).toEqual([1024, 768]);

    const thumb = await sharp(p.thumbnail).metadata();
    expect(thumb).toMatchObject({ format: 'webp', width: 384, height: 288 });
    expect([p.thumbnailWidth, p.thumbnailHeight]).toEqual([384, 288]);

    expect(p.metrics.perceptualHash).toMatch(/^[0-9a-f]{16}$/);
    expect(p.metrics.aspect).toBeCloseTo(4 / 3);
    expect(p.metrics.meanLuma).toBeGreaterThan(60);
    expect(p.metrics.meanLuma).toBeLessThan(200);
  });

  it('keeps an upright sRGB JPEG\'s own pixels and cuts its metadata out losslessly', async () => {
    const original = await sharp(await img.photoJpeg({ width: 1200, height: 900, seed: 6 }))
      .withExif({ IFD0: { ImageDescription: img.SECRET_EXIF_TEXT }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2964/100' } })
      .jpeg({ quality: 90 })
      .toBuffer();
    expect((await sharp(original).metadata()).exif).toBeDefined();
    const p = await processImage(original, { name: 'tagged.jpg' });
    const meta = await sharp(p.normalized).metadata();
    expect(meta.exif).toBeUndefined();
    expect(p.normalized.includes(Buffer.from(img.SECRET_EXIF_TEXT))).toBe(false);
    expect([p.normalizedWidth, p.normalizedHeight]).toEqual([1200, 900]);
    const [a, b] = await Promise.all([sharp(original).raw().toBuffer(), sharp(p.normalized).raw().toBuffer()]);
    expect(Buffer.compare(a, b)).toBe(0);
  });

  it('lets a re-encoded large JPEG shrink while decoding when its short side stays at the top training resolution', async () => {
    // EXIF-rotated photos must be re-encoded upright; a 4000×3000 one can be halved while decoding.
    const halved = await processImage(await img.exifRotatedWithGps({ width: 4000, height: 3000, seed: 4 }), { name: 'camera.jpg' });
    expect([halved.normalizedWidth, halved.normalizedHeight]).toEqual([1500, 2000]);
    // Halving would leave the short side at 800 px, under 1024: keep the 2048-px copy instead.
    const wide = await processImage(await img.exifRotatedWithGps({ width: 4096, height: 1600, seed: 5 }), { name: 'wide.jpg' });
    expect([wide.normalizedWidth, wide.normalizedHeight]).toEqual([800, 2048]);
  });

  it('limits the stored copy to 2048 px on the long side and never enlarges small images', async () => {
    const big = await processImage(await img.photoPng({ width: 2600, height: 1300, seed: 2 }), { name: 'big.png' });
    expect([big.width, big.height]).toEqual([2600, 1300]);
    expect([big.normalizedWidth, big.normalizedHeight]).toEqual([2048, 1024]);
    expect(big.format).toBe('png');

    const small = await processImage(await img.photoJpeg({ width: 300, height: 200 }), { name: 'small.jpg' });
    expect([small.normalizedWidth, small.normalizedHeight]).toEqual([300, 200]);
    expect([small.thumbnailWidth, small.thumbnailHeight]).toEqual([300, 200]);
  });

  it('accepts WebP and AVIF, reporting the detected format', async () => {
    expect((await processImage(await img.photoWebp(), { name: 'a.webp' })).format).toBe('webp');
    expect((await processImage(await img.photoAvif(), { name: 'a.avif' })).format).toBe('avif');
  });

  it('applies EXIF orientation, then strips every piece of metadata (GPS included) from what it outputs', async () => {
    const phone = await img.exifRotatedWithGps({ width: 1024, height: 768, seed: 3 });
    const input = await sharp(phone).metadata();
    expect(input.orientation).toBe(6);
    expect(input.exif?.includes(img.SECRET_EXIF_TEXT)).toBe(true);
    expect(input.exif?.includes(Buffer.from([0x25, 0x88]))).toBe(true); // GPS IFD pointer tag (little-endian)

    const p = await processImage(phone, { name: 'IMG_0001.jpg' });
    expect([p.width, p.height]).toEqual([768, 1024]);
    expect([p.normalizedWidth, p.normalizedHeight]).toEqual([768, 1024]);
    for (const output of [p.normalized, p.thumbnail]) {
      const meta = await sharp(output).metadata();
      expect(meta.exif).toBeUndefined();
      expect(meta.xmp).toBeUndefined();
      expect(meta.iptc).toBeUndefined();
      expect(meta.icc).toBeUndefined();
      expect(meta.orientation).toBeUndefined();
      expect(output.includes(img.SECRET_EXIF_TEXT)).toBe(false);
      expect(output.includes('TestPhone')).toBe(false);
      expect(output.includes('Exif\0')).toBe(false);
    }
    // Rotated the right way (clockwise), not just given swapped dimensions.
    const upright = await sharp(img.photoLikeRaw(1024, 768, 3).data, { raw: { width: 1024, height: 768, channels: 3 } })
      .rotate(90)
      .jpeg()
      .toBuffer();
    const reference = await processImage(upright, { name: 'ref.jpg' });
    expect(hammingDistance(p.metrics.perceptualHash, reference.metrics.perceptualHash)).toBeLessThanOrEqual(2);
  });

  it('flattens transparency onto white and says so', async () => {
    const p = await processImage(await img.transparentPng(), { name: 'cutout.png' });
    expect(p.hadAlpha).toBe(true);
    const { data } = await sharp(p.normalized).raw().toBuffer({ resolveWithObject: true });
    expect([data[0], data[1], data[2]].every((v) => v! > 245)).toBe(true);
    expect((await sharp(p.normalized).metadata()).hasAlpha).toBe(false);
  });

  it('normalizes greyscale, CMYK and 16-bit inputs to 8-bit sRGB', async () => {
    const variants = [
      await sharp(photo).greyscale().jpeg().toBuffer(),
      await sharp(photo).toColourspace('cmyk').jpeg().toBuffer(),
      await sharp(photo).toColourspace('rgb16').png().toBuffer(),
    ];
    for (const variant of variants) {
      const p = await processImage(variant, { name: 'variant' });
      const meta = await sharp(p.normalized).metadata();
      expect(meta).toMatchObject({ space: 'srgb', channels: 3, depth: 'uchar', width: 1024, height: 768 });
      expect(p.metrics.perceptualHash).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  it('reads from a file path too', async () => {
    const path = join(dir, 'on-disk.jpg');
    await writeFile(path, photo);
    const p = await processImage(path, { name: 'on-disk.jpg' });
    expect(p.sha256).toBe(createHash('sha256').update(photo).digest('hex'));
  });
});

describe('processImage: refusals name the file and the reason', () => {
  it('is an AppError the HTTP layer can map', async () => {
    const error = await expectRejected(img.svgImage(), 'unsupported_type', { name: 'logo.svg' });
    expect(error).toBeInstanceOf(AppError);
    expect(error.code).toBe('unsupported_media_type');
    expect(error.message).toMatch(/SVG/);
    expect(error.details).toEqual({ file: 'logo.svg', reason: 'unsupported_type' });
  });

  it('refuses empty files, text, GIF and zips by content', async () => {
    await expectRejected(img.zeroByte(), 'empty_file', { name: 'empty.jpg' });
    await expectRejected(img.plainText(), 'unsupported_type', { name: 'notes.jpg' });
    await expectRejected(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00', 'latin1'), 'unsupported_type', { name: 'anim.gif' });
    await expectRejected(img.buildZip([{ name: 'a.jpg', data: photo }]), 'unsupported_type', { name: 'photos.jpg' });
  });

  it('refuses files over the byte limit, from a buffer and from a path (before reading it)', async () => {
    const error = await expectRejected(photo, 'too_large_bytes', { maxBytes: 10_000 });
    expect(error.code).toBe('payload_too_large');
    const path = join(dir, 'big.jpg');
    await writeFile(path, photo);
    await expectRejected(path, 'too_large_bytes', { maxBytes: 10_000 });
  });

  it('refuses images over the pixel limit from the header, including decompression bombs', async () => {
    const bomb = img.decompressionBombPng();
    expect(bomb.length).toBeLessThan(200_000); // small file, 400 megapixels
    const error = await expectRejected(bomb, 'too_many_pixels', { name: 'bomb.png' });
    expect(error.message).toMatch(/20000×20000/);
    await expectRejected(img.hugeDimensionHeaderPng(), 'too_many_pixels', { name: 'huge.png' });
    await expectRejected(photo, 'too_many_pixels', { maxPixels: 500_000 });
  });

  it('tells truncated files from corrupted ones', async () => {
    await expectRejected(img.truncated(photo), 'truncated');
    await expectRejected(img.truncated(await img.photoPng({ width: 400, height: 300 })), 'truncated', { name: 'cut.png' });
    await expectRejected(img.truncated(photo, 0.02), 'truncated');
    await expectRejected(img.bitFlipped(photo), 'corrupt');
    await expectRejected(img.bitFlipped(await img.photoPng({ width: 400, height: 300 })), 'corrupt', { name: 'flipped.png' });
  });

  it('explains that HEIC cannot be decoded here', async () => {
    const error = await expectRejected(img.ftypFile('heic'), 'unsupported_type', { name: 'IMG_1234.HEIC' });
    expect(error.message).toMatch(/HEIC/);
  });
});
