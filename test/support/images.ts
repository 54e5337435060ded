import { crc32, deflateRawSync, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { seededRandom } from './replicate-emulator/rng.ts';

/**
 * Synthetic test images and archives. Everything is generated from a seed, so tests are
 * deterministic and need no fixture files. "Photo-like" means what the quality checks care
 * about: large smooth regions, hard edges, fine texture and sensor-like noise.
 */


const clampByte = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v | 0);

export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 3;
}

/** Raw RGB pixels of a textured, photo-like scene that differs from seed to seed. */
export function photoLikeRaw(width: number, height: number, seed = 1): RawImage {
  const rand = seededRandom(seed);
  const data = Buffer.alloc(width * height * 3);
  const c0 = [rand() * 255, rand() * 255, rand() * 255];
  const c1 = [rand() * 255, rand() * 255, rand() * 255];
  const angle = rand() * Math.PI * 2;
  const dx = Math.cos(angle) / width;
  const dy = Math.sin(angle) / height;
  const waveF = 2 + rand() * 4;
  const wavePhase = rand() * 6.28;
  // Smooth background: a gradient plus a slow wave (the sky/wall of a photo).
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = Math.min(1, Math.max(0, 0.5 + (x - width / 2) * dx + (y - height / 2) * dy));
      const wave = 25 * Math.sin((x / width) * waveF * 6.28 + wavePhase) * Math.cos((y / height) * waveF * 3.14);
      const i = (y * width + x) * 3;
      data[i] = clampByte(c0[0]! * (1 - t) + c1[0]! * t + wave);
      data[i + 1] = clampByte(c0[1]! * (1 - t) + c1[1]! * t + wave);
      data[i + 2] = clampByte(c0[2]! * (1 - t) + c1[2]! * t + wave);
    }
  }
  // Objects with hard edges, some of them covered with fine stripes (fabric, foliage).
  const shapes = 14;
  for (let s = 0; s < shapes; s++) {
    const cx = rand() * width;
    const cy = rand() * height;
    const rx = (0.05 + rand() * 0.2) * width;
    const ry = (0.05 + rand() * 0.2) * height;
    const ellipse = rand() < 0.5;
    const col = [rand() * 255, rand() * 255, rand() * 255];
    const period = 3 + rand() * 9;
    const stripeAngle = rand() * Math.PI;
    const sx = Math.cos(stripeAngle);
    const sy = Math.sin(stripeAngle);
    const striped = rand() < 0.6;
    const x0 = Math.max(0, Math.floor(cx - rx));
    const x1 = Math.min(width - 1, Math.ceil(cx + rx));
    const y0 = Math.max(0, Math.floor(cy - ry));
    const y1 = Math.min(height - 1, Math.ceil(cy + ry));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        if (ellipse) {
          const ex = (x - cx) / rx;
          const ey = (y - cy) / ry;
          if (ex * ex + ey * ey > 1) continue;
        }
        const stripe = striped ? 30 * Math.sin(((x * sx + y * sy) / period) * 6.28) : 0;
        const shade = ((y - y0) / (y1 - y0 + 1)) * 30;
        const i = (y * width + x) * 3;
        data[i] = clampByte(col[0]! + stripe - shade);
        data[i + 1] = clampByte(col[1]! + stripe - shade);
        data[i + 2] = clampByte(col[2]! + stripe - shade);
      }
    }
  }
  // Sensor-like noise.
  for (let i = 0; i < data.length; i++) data[i] = clampByte(data[i]! + (rand() - 0.5) * 16);
  return { data, width, height, channels: 3 };
}

const fromRaw = (raw: RawImage) => sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } });

export interface PhotoOptions {
  width?: number;
  height?: number;
  seed?: number;
  quality?: number;
}

export function photoJpeg({ width = 1024, height = 768, seed = 1, quality = 90 }: PhotoOptions = {}): Promise<Buffer> {
  return fromRaw(photoLikeRaw(width, height, seed)).jpeg({ quality }).toBuffer();
}

export function photoPng({ width = 800, height = 600, seed = 1 }: PhotoOptions = {}): Promise<Buffer> {
  return fromRaw(photoLikeRaw(width, height, seed)).png().toBuffer();
}

export function photoWebp({ width = 800, height = 600, seed = 1 }: PhotoOptions = {}): Promise<Buffer> {
  return fromRaw(photoLikeRaw(width, height, seed)).webp({ quality: 90 }).toBuffer();
}

export function photoAvif({ width = 640, height = 480, seed = 1 }: PhotoOptions = {}): Promise<Buffer> {
  return fromRaw(photoLikeRaw(width, height, seed)).avif({ quality: 70, effort: 0 }).toBuffer();
}

/** A PNG with a transparent border, like a cut-out product shot. */
export async function transparentPng({ width = 800, height = 800, seed = 1 }: PhotoOptions = {}): Promise<Buffer> {
  const inner = await fromRaw(photoLikeRaw(width - 200, height - 200, seed)).png().toBuffer();
  return sharp({ create: { width, height, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([{ input: inner, left: 100, top: 100 }])
    .png()
    .toBuffer();
}

export const blurred = (image: Buffer, sigma = 8) => sharp(image).blur(sigma).jpeg({ quality: 90 }).toBuffer();

/** Multiplies every value: 0.2 turns a normal photo into a badly underexposed one. */
export const darkened = (image: Buffer, factor = 0.2) => sharp(image).linear(factor, 0).jpeg({ quality: 90 }).toBuffer();

/** Pushes most of the image into clipped white. */
export const brightened = (image: Buffer) => sharp(image).linear(1.6, 140).jpeg({ quality: 90 }).toBuffer();

export const resized = (image: Buffer, width: number, height: number) =>
  sharp(image).resize(width, height, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();

/** A copy someone re-saved from a messenger: smaller, recompressed, slightly brighter. */
export const nearDuplicateOf = async (image: Buffer) => {
  const { width = 0 } = await sharp(image).metadata();
  return sharp(image).resize(Math.round(width * 0.8)).modulate({ brightness: 1.05 }).jpeg({ quality: 70 }).toBuffer();
};

export const SECRET_EXIF_TEXT = 'SECRET-HOME-ADDRESS';

/**
 * A portrait-mode phone photo: pixels stored landscape (width > height) with EXIF
 * Orientation 6, GPS coordinates and identifying text that must never be served.
 */
export async function exifRotatedWithGps({ width = 1024, height = 768, seed = 3 }: PhotoOptions = {}): Promise<Buffer> {
  return fromRaw(photoLikeRaw(width, height, seed))
    .withExif({
      IFD0: { ImageDescription: SECRET_EXIF_TEXT, Make: 'TestPhone' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2964/100', GPSLongitudeRef: 'E', GPSLongitude: '2/1 17/1 4000/100' },
    })
    .withMetadata({ orientation: 6 })
    .jpeg({ quality: 90 })
    .toBuffer();
}

// ---- Broken and hostile inputs ----------------------------------------------------------

export const zeroByte = () => Buffer.alloc(0);

export const truncated = (image: Buffer, keep = 0.6) => Buffer.from(image.subarray(0, Math.floor(image.length * keep)));

/** Flips bits throughout the compressed data but leaves the headers intact. */
export function bitFlipped(image: Buffer): Buffer {
  const copy = Buffer.from(image);
  for (let i = Math.min(2000, copy.length >> 2); i < copy.length - 64; i += 997) copy[i] = copy[i]! ^ 0x55;
  return copy;
}

export const svgImage = () =>
  Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="800" height="800"><script>alert(1)</script><rect width="800" height="800" fill="red"/></svg>');

export const plainText = () => Buffer.from('These are my holiday notes, not an image.\n');

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([len, typeAndData, crc]);
}

function pngFile(width: number, height: number, bitDepth: number, colorType: number, idat: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A valid PNG of `side`×`side` black pixels (1-bit grey): tens of kilobytes on disk that
 * inflate to `side`² pixels in memory (the default is 400 megapixels).
 */
export function decompressionBombPng(side = 20_000): Buffer {
  const rowBytes = 1 + Math.ceil(side / 8); // filter byte + packed pixels
  return pngFile(side, side, 1, 0, deflateSync(Buffer.alloc(rowBytes * side), { level: 9 }));
}

/** A PNG whose header claims 100 000 × 100 000 pixels with almost no data behind it. */
export const hugeDimensionHeaderPng = () => pngFile(100_000, 100_000, 8, 2, deflateSync(Buffer.alloc(64)));

/** The start of an ISO-BMFF file with the given major brand, e.g. an iPhone HEIC photo. */
export function ftypFile(brand: string, compatible: string[] = ['mif1', brand]): Buffer {
  const brands = Buffer.from([brand, '\0\0\0\0', ...compatible].join(''), 'latin1');
  const box = Buffer.alloc(8);
  box.writeUInt32BE(8 + brands.length);
  box.write('ftyp', 4, 'latin1');
  return Buffer.concat([box, brands, Buffer.alloc(256, 7)]);
}

// ---- Zip archives ---------------------------------------------------------------------

export interface RawZipEntry {
  /** Written as-is, so tests can use names a normal zip writer refuses (`../x.jpg`). */
  name: string;
  data?: Buffer;
  method?: 'store' | 'deflate';
  /** Lie about the inflated size in the headers. */
  declaredSize?: number;
  /** Point this entry at an earlier entry's data (overlapping-entry zip bomb). */
  reuseDataOf?: number;
}

/** A minimal zip writer that trusts its caller completely (it is for hostile test input). */
export function buildZip(entries: RawZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  const offsets: number[] = [];
  const meta: { crc: number; compressed: number; size: number; method: number }[] = [];
  let offset = 0;
  entries.forEach((entry, index) => {
    const name = Buffer.from(entry.name, 'utf8');
    const data = entry.data ?? Buffer.alloc(0);
    const method = entry.method === 'deflate' ? 8 : 0;
    let m: { crc: number; compressed: number; size: number; method: number };
    let localOffset: number;
    if (entry.reuseDataOf !== undefined) {
      m = meta[entry.reuseDataOf]!;
      localOffset = offsets[entry.reuseDataOf]!;
    } else {
      const body = method === 8 ? deflateRawSync(data) : data;
      m = { crc: crc32(data), compressed: body.length, size: entry.declaredSize ?? data.length, method };
      const header = Buffer.alloc(30);
      header.writeUInt32LE(0x04034b50, 0);
      header.writeUInt16LE(20, 4);
      header.writeUInt16LE(0x800, 6); // UTF-8 names
      header.writeUInt16LE(method, 8);
      header.writeUInt32LE(m.crc, 14);
      header.writeUInt32LE(m.compressed, 18);
      header.writeUInt32LE(m.size, 22);
      header.writeUInt16LE(name.length, 26);
      localOffset = offset;
      locals.push(header, name, body);
      offset += header.length + name.length + body.length;
    }
    meta[index] = m;
    offsets[index] = localOffset;
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(m.method, 10);
    central.writeUInt32LE(m.crc, 16);
    central.writeUInt32LE(m.compressed, 20);
    central.writeUInt32LE(m.size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(entry.name.endsWith('/') ? 0x10 : 0, 38);
    central.writeUInt32LE(localOffset, 42);
    centrals.push(central, name);
  });
  const centralDir = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(centralDir.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, centralDir, eocd]);
}
