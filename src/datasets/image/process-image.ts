import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { ImageRejectedError } from './errors.ts';
import { histogram, lumaMetrics, sharpnessMetrics } from './metrics.ts';
import { HASH_INPUT_SIZE, perceptualHash } from './perceptual-hash.ts';
import { sniff, type AcceptedImageFormat } from './sniff.ts';
import { applyJpegStrip, planJpegStrip } from './jpeg-strip.ts';
import {
  ANALYSIS_LONG_SIDE,
  DEFAULT_MAX_IMAGE_BYTES,
  DEFAULT_MAX_IMAGE_PIXELS,
  NORMALIZED_JPEG_QUALITY,
  NORMALIZED_LONG_SIDE,
  MAX_TRAINING_RESOLUTION,
  THUMBNAIL_LONG_SIDE,
  THUMBNAIL_WEBP_EFFORT,
  THUMBNAIL_WEBP_QUALITY,
} from './thresholds.ts';

export interface ProcessImageOptions {
  /** Shown to the user in every error, e.g. the uploaded file name. */
  name: string;
  maxBytes?: number;
  maxPixels?: number;
}

export interface ImageMetrics {
  sharpness: number;
  globalLaplacianVariance: number;
  meanLuma: number;
  clippedDark: number;
  clippedBright: number;
  /** Long side ÷ short side, ≥ 1. */
  aspect: number;
  /** 16 hex digits, see perceptual-hash.ts. */
  perceptualHash: string;
}

export interface ProcessedImage {
  /**
   * JPEG, upright, sRGB, no metadata at all. An upright sRGB JPEG upload keeps its own pixels
   * (metadata cut out losslessly); anything else is re-encoded with the long side ≤ NORMALIZED_LONG_SIDE.
   */
  normalized: Buffer;
  normalizedWidth: number;
  normalizedHeight: number;
  /** WebP, long side ≤ THUMBNAIL_LONG_SIDE, no metadata. */
  thumbnail: Buffer;
  thumbnailWidth: number;
  thumbnailHeight: number;
  /** Size of the original after EXIF orientation (what the user sees). */
  width: number;
  height: number;
  format: AcceptedImageFormat;
  /** True when the original had transparency, which was flattened onto white. */
  hadAlpha: boolean;
  bytes: number;
  sha256: string;
  metrics: ImageMetrics;
}

const WHITE = { r: 255, g: 255, b: 255 };

async function readBounded(path: string, maxBytes: number, name: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw tooLarge(name, size, maxBytes);
    // One read of the known size (readFile reads in 512 KB pieces: six trips through the thread pool for a photo).
    const bytes = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await handle.read(bytes, filled, size - filled, filled);
      if (bytesRead === 0) break; // the file got shorter meanwhile
      filled += bytesRead;
    }
    return filled === size ? bytes : bytes.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const tooLarge = (name: string, size: number, max: number) =>
  new ImageRejectedError('too_large_bytes', name, `The file is ${mb(size)}; the limit is ${mb(max)}.`);

/** Whether the file ends the way a complete file of its format must end. */
function looksTruncated(bytes: Buffer, format: AcceptedImageFormat): boolean {
  if (format === 'png') return bytes.lastIndexOf('IEND', undefined, 'latin1') === -1;
  if (format === 'jpeg') {
    // Some cameras append data after the end-of-image marker, so look near the end, not at it.
    const tail = bytes.subarray(Math.max(0, bytes.length - 64 * 1024));
    return tail.lastIndexOf(Buffer.from([0xff, 0xd9])) === -1;
  }
  if (format === 'webp') return bytes.length < 8 || bytes.readUInt32LE(4) + 8 > bytes.length;
  return false;
}

function decodeFailure(error: unknown, bytes: Buffer, format: AcceptedImageFormat, name: string): ImageRejectedError {
  const detail = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(detail)) {
    return new ImageRejectedError('too_many_pixels', name, 'The image has more pixels than allowed.');
  }
  if (format === 'heic') {
    return new ImageRejectedError(
      'unsupported_type',
      name,
      'HEIC photos cannot be decoded on this server. Export it as JPEG (on an iPhone: Settings → Camera → Formats → Most Compatible).',
    );
  }
  // Decoder messages cannot tell a cut-off file from a damaged one ("premature end of data
  // segment" is what libjpeg says about flipped bits too), so look at how the file ends.
  const truncated = format === 'avif' ? /truncated|unexpected end|end of file/i.test(detail) : looksTruncated(bytes, format);
  if (truncated) {
    return new ImageRejectedError('truncated', name, 'The file is incomplete (it was cut off while copying or uploading). Upload it again.');
  }
  return new ImageRejectedError('corrupt', name, 'The image data is damaged and cannot be read. Re-export or re-save the photo and upload it again.');
}

const SHARP_FORMAT: Record<AcceptedImageFormat, string> = { jpeg: 'jpeg', png: 'png', webp: 'webp', avif: 'heif', heic: 'heif' };

/**
 * Validates one untrusted image and derives everything the platform stores about it, with a
 * single full decode: the decoder writes an upright, sRGB, ≤2048-px raw copy, and the stored
 * JPEG, the thumbnail and the greyscale analysis image are all made from that small raw copy.
 */
/**
 * Long side of the stored copy. JPEG decoders can shrink by 2, 4 or 8 while decoding, which costs
 * a fraction of a full decode; when such a shrink still leaves the short side at the largest
 * training resolution, the stored copy takes that size instead of exactly NORMALIZED_LONG_SIDE.
 */
function storedLongSide(format: AcceptedImageFormat, width: number, height: number): number {
  const long = Math.max(width, height);
  if (format !== 'jpeg' || long <= NORMALIZED_LONG_SIDE) return NORMALIZED_LONG_SIDE;
  for (const factor of [2, 4, 8]) {
    if (Math.ceil(long / factor) <= NORMALIZED_LONG_SIDE) {
      return Math.min(width, height) / factor >= MAX_TRAINING_RESOLUTION ? Math.ceil(long / factor) : NORMALIZED_LONG_SIDE;
    }
  }
  return NORMALIZED_LONG_SIDE;
}

export async function processImage(input: Buffer | string, options: ProcessImageOptions): Promise<ProcessedImage> {
  const { name } = options;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS;

  const bytes = typeof input === 'string' ? await readBounded(input, maxBytes, name) : input;
  if (bytes.length > maxBytes) throw tooLarge(name, bytes.length, maxBytes);
  const originalBytes = bytes.length;

  const sniffed = sniff(bytes.subarray(0, 512));
  if (sniffed.kind === 'refused') throw new ImageRejectedError(sniffed.code, name, sniffed.reason);
  if (sniffed.kind === 'zip') {
    throw new ImageRejectedError('unsupported_type', name, 'This is a zip archive; upload it as an archive of images, not as an image.');
  }
  const format = sniffed.format;

  // The header alone tells the size: refuse pixel bombs before anything is decoded.
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw decodeFailure(error, bytes, format, name);
  }
  if (meta.format !== SHARP_FORMAT[format]) {
    throw new ImageRejectedError('corrupt', name, `The file starts like ${format.toUpperCase()} but is not a valid ${format.toUpperCase()} image.`);
  }
  const pixels = meta.width * meta.height;
  if (!(pixels > 0)) throw new ImageRejectedError('corrupt', name, 'The image has no pixels.');
  if (pixels > maxPixels) {
    throw new ImageRejectedError(
      'too_many_pixels',
      name,
      `The image is ${meta.width}×${meta.height} (${(pixels / 1e6).toFixed(1)} megapixels); the limit is ${(maxPixels / 1e6).toFixed(0)} megapixels. Resize it and upload again.`,
    );
  }
  const width = meta.autoOrient.width;
  const height = meta.autoOrient.height;

  // A plain upright sRGB JPEG keeps its original pixels: only its metadata is cut out, losslessly,
  // and a single reduced-size decode (validating every byte) feeds the thumbnail and the checks.
  const stripPlan = format === 'jpeg' && (meta.orientation ?? 1) === 1 && meta.space === 'srgb' && !meta.icc && meta.channels === 3 ? planJpegStrip(bytes) : null;
  const storedSide = stripPlan ? ANALYSIS_LONG_SIDE : storedLongSide(format, width, height);
  let base: { data: Buffer; info: OutputInfo };
  try {
    // failOn 'warning' (sharp's advice for untrusted input): a damaged photo is refused
    // rather than trained on with grey blocks in it.
    base = await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'warning', autoOrient: true })
      .resize({ width: storedSide, height: storedSide, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: WHITE })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw decodeFailure(error, bytes, format, name);
  }
  const raw = { width: base.info.width, height: base.info.height, channels: base.info.channels };
  const fromBase = () => sharp(base.data, { raw });

  // The thumbnail and the grey analysis image both come from one ≤1024-px colour copy, so the
  // large raw copy is resampled once for them rather than twice.
  const [encoded, mid] = await Promise.all([
    stripPlan ? Promise.resolve(null) : fromBase().jpeg({ quality: NORMALIZED_JPEG_QUALITY }).toBuffer({ resolveWithObject: true }),
    stripPlan
      ? Promise.resolve(base)
      : fromBase().resize({ width: ANALYSIS_LONG_SIDE, height: ANALYSIS_LONG_SIDE, fit: 'inside', withoutEnlargement: true }).raw().toBuffer({ resolveWithObject: true }),
  ]);
  const fromMid = () => sharp(mid.data, { raw: { width: mid.info.width, height: mid.info.height, channels: mid.info.channels as 3 } });
  const [thumbnail, analysis] = await Promise.all([
    fromMid()
      .resize({ width: THUMBNAIL_LONG_SIDE, height: THUMBNAIL_LONG_SIDE, fit: 'inside', withoutEnlargement: true })
      .webp({ quality: THUMBNAIL_WEBP_QUALITY, effort: THUMBNAIL_WEBP_EFFORT })
      .toBuffer({ resolveWithObject: true }),
    fromMid().toColourspace('b-w').raw().toBuffer({ resolveWithObject: true }),
  ]);
  const gray = analysis.data;
  if (analysis.info.channels !== 1) throw new Error(`analysis image has ${analysis.info.channels} channels, expected 1`);
  const hashInput = sharp(gray, { raw: { width: analysis.info.width, height: analysis.info.height, channels: 1 } })
    .resize(HASH_INPUT_SIZE, HASH_INPUT_SIZE, { fit: 'fill' })
    .toColourspace('b-w')
    .raw()
    .toBuffer();
  // The event loop measures while libvips makes the hash input.
  const hist = histogram(gray);
  const measured = {
    ...sharpnessMetrics(gray, analysis.info.width, analysis.info.height, hist),
    ...lumaMetrics(gray, hist),
    aspect: Math.max(width, height) / Math.min(width, height),
  };
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const hashPixels = await hashInput;
  // Last, once nothing reads the original any more: a file read here is ours, so the stripped copy
  // may reuse its memory (no second 12 MP buffer per upload, which is garbage-collection work).
  const normalized = encoded ?? { data: applyJpegStrip(bytes, stripPlan!, { reuseInput: typeof input === 'string' }), info: { width, height } };

  return {
    normalized: normalized.data,
    normalizedWidth: normalized.info.width,
    normalizedHeight: normalized.info.height,
    thumbnail: thumbnail.data,
    thumbnailWidth: thumbnail.info.width,
    thumbnailHeight: thumbnail.info.height,
    width,
    height,
    format,
    hadAlpha: meta.hasAlpha,
    bytes: originalBytes,
    sha256,
    metrics: { ...measured, perceptualHash: perceptualHash(hashPixels) },
  };
}
