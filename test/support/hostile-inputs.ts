import { createHash } from 'node:crypto';
import { crc32, deflateRawSync } from 'node:zlib';
import yazl from 'yazl';
import sharp from 'sharp';
import { photoLikeRaw } from './images.ts';
import { seededRandom } from './replicate-emulator/rng.ts';

/**
 * Hostile upload inputs for the upload fuzz test: mutants of a few valid images and archives,
 * generated from one seed so a failing run can be replayed exactly (HOSTILE_SEED=<seed>).
 *
 * Every input says what the server must do with it:
 * - `reject`: certainly invalid by construction (cut before its end, wrong magic, a header
 *   claiming more pixels than allowed, an archive with a traversal name…). No verdict for it may
 *   be "added" and nothing of it may be stored.
 * - `either`: a mutation that may or may not still be a valid image (a flipped bit in pixel data
 *   often decodes). If the server accepts it, what it stored must be a valid image.
 * Zips list their entries' expectations separately, because one archive can carry good and bad files.
 */
export type Expectation = 'reject' | 'either';

export interface HostileInput {
  /** `h0042`: appears in the file name and in every name inside it, so each verdict can be traced back. */
  tag: string;
  category: string;
  /** The multipart filename. */
  name: string;
  contentType: string;
  data: Buffer;
  expect: Expectation;
  /** When set, a rejection must carry one of these codes ('skipped' for a skipped zip entry). */
  reasons?: string[];
  /** Content hashes that must never end up stored (the file itself, or images inside a refused archive). */
  forbiddenSha: string[];
  /** Must be sent alone: it may fail the whole request (a hostile multipart header). */
  alone?: boolean;
}

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

// ---- Random helpers ------------------------------------------------------------------------

export interface Rng {
  next(): number;
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  bytes(n: number): Buffer;
}

export function rng(seed: number): Rng {
  const next = seededRandom(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    pick: (items) => items[int(0, items.length - 1)]!,
    bytes: (n) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = int(0, 255);
      return b;
    },
  };
}

// ---- Valid seed material ---------------------------------------------------------------------

export interface SeedImage {
  label: string;
  format: 'jpeg' | 'png' | 'webp';
  data: Buffer;
  /** Offset of the end of the data a decoder needs (before trailers like PNG's IEND). */
  essentialEnd: number;
}

/** Small photo-like images, so decoding a thousand mutants stays quick. */
export async function seedImages(): Promise<SeedImage[]> {
  const raw = (w: number, h: number, seed: number) => {
    const r = photoLikeRaw(w, h, seed);
    return sharp(r.data, { raw: { width: r.width, height: r.height, channels: r.channels } });
  };
  const jpegs = [await raw(384, 288, 1).jpeg({ quality: 85 }).toBuffer(), await raw(320, 400, 2).jpeg({ quality: 70, progressive: true }).toBuffer()];
  const pngs = [await raw(256, 192, 3).png().toBuffer(), await raw(200, 260, 4).png({ palette: true }).toBuffer()];
  const webps = [await raw(384, 288, 5).webp({ quality: 80 }).toBuffer(), await raw(300, 300, 6).webp({ quality: 60 }).toBuffer()];
  return [
    ...jpegs.map((data, i) => ({ label: `jpeg${i}`, format: 'jpeg' as const, data, essentialEnd: data.length - 2 })),
    ...pngs.map((data, i) => ({ label: `png${i}`, format: 'png' as const, data, essentialEnd: data.length - 12 })),
    ...webps.map((data, i) => ({ label: `webp${i}`, format: 'webp' as const, data, essentialEnd: data.length })),
  ];
}

/** A valid image no other input shares: the seed plus a few bytes after its end marker. */
export function uniqueVariant(image: SeedImage, r: Rng): Buffer {
  if (image.format === 'webp') {
    // RIFF sizes must stay consistent: add an unknown (ignored) chunk and fix the RIFF size.
    const chunk = Buffer.concat([Buffer.from('ZZZZ'), Buffer.from([8, 0, 0, 0]), r.bytes(8)]);
    const out = Buffer.concat([image.data, chunk]);
    out.writeUInt32LE(out.length - 8, 4);
    return out;
  }
  return Buffer.concat([image.data, r.bytes(8)]);
}

// ---- Image mutations -------------------------------------------------------------------------

function flipBits(data: Buffer, r: Rng, from: number, to: number, count: number): Buffer {
  const copy = Buffer.from(data);
  for (let i = 0; i < count; i++) {
    const at = r.int(from, Math.max(from, Math.min(to, copy.length - 1)));
    copy[at] = copy[at]! ^ (1 << r.int(0, 7));
  }
  return copy;
}

/** Writes a PNG's IHDR size and recomputes its CRC, so only the size is a lie. */
export function pngWithSize(png: Buffer, width: number, height: number): Buffer {
  const copy = Buffer.from(png);
  copy.writeUInt32BE(width >>> 0, 16);
  copy.writeUInt32BE(height >>> 0, 20);
  copy.writeUInt32BE(crc32(copy.subarray(12, 29)), 29);
  return copy;
}

/** Writes the size in a JPEG's start-of-frame segment (SOF0/1/2), leaving the scan data as it is. */
export function jpegWithSize(jpeg: Buffer, width: number, height: number): Buffer {
  const copy = Buffer.from(jpeg);
  let at = 2;
  while (at + 9 < copy.length) {
    if (copy[at] !== 0xff) throw new Error(`no JPEG marker at ${at}`);
    const marker = copy[at + 1]!;
    const length = copy.readUInt16BE(at + 2);
    if (marker >= 0xc0 && marker <= 0xc2) {
      copy.writeUInt16BE(height, at + 5);
      copy.writeUInt16BE(width, at + 7);
      return copy;
    }
    at += 2 + length;
  }
  throw new Error('no SOF segment in JPEG');
}

/** Writes the size in a lossy WebP's VP8 frame header (14 bits each; VP8X canvas too if present). */
export function webpWithSize(webp: Buffer, width: number, height: number): Buffer {
  const copy = Buffer.from(webp);
  let at = 12;
  while (at + 8 <= copy.length) {
    const type = copy.toString('latin1', at, at + 4);
    const size = copy.readUInt32LE(at + 4);
    if (type === 'VP8X') {
      copy.writeUIntLE(width - 1, at + 12, 3);
      copy.writeUIntLE(height - 1, at + 15, 3);
    } else if (type === 'VP8 ') {
      copy.writeUInt16LE(Math.min(width, 0x3fff), at + 8 + 6);
      copy.writeUInt16LE(Math.min(height, 0x3fff), at + 8 + 8);
      return copy;
    }
    at += 8 + size + (size & 1);
  }
  throw new Error('no VP8 chunk in WebP');
}

const FOREIGN_CONTENT: Array<{ label: string; data: () => Buffer; reason?: string }> = [
  { label: 'gif', data: () => Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(200, 1)]) },
  { label: 'tiff', data: () => Buffer.concat([Buffer.from([0x49, 0x49, 0x2a, 0x00]), Buffer.alloc(200, 2)]) },
  { label: 'bmp', data: () => Buffer.concat([Buffer.from('BM'), Buffer.alloc(200, 3)]) },
  { label: 'pdf', data: () => Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n') },
  { label: 'psd', data: () => Buffer.concat([Buffer.from('8BPS'), Buffer.alloc(200, 4)]) },
  { label: 'jxl', data: () => Buffer.concat([Buffer.from([0xff, 0x0a]), Buffer.alloc(200, 5)]) },
  { label: 'gzip', data: () => Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(200, 6)]) },
  { label: 'rar', data: () => Buffer.concat([Buffer.from('Rar!\u001a\u0007\u0000'), Buffer.alloc(200, 7)]) },
  { label: 'svg', data: () => Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>') },
  { label: 'html', data: () => Buffer.from('<!doctype html><html><body><img src=x onerror=alert(1)></body></html>') },
  { label: 'text', data: () => Buffer.from('holiday notes, definitely not an image\n') },
  { label: 'json', data: () => Buffer.from('{"image":"nope","width":100000}') },
  { label: 'exe', data: () => Buffer.concat([Buffer.from('MZ'), Buffer.alloc(300, 0x90)]) },
  { label: 'mp4', data: () => Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom\u0000\u0000\u0002\u0000isomiso2'), Buffer.alloc(200, 8)]) },
  // Claims to be HEIC but is nothing: must be refused, never crash the HEIF decoder.
  { label: 'heic-garbage', data: () => Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic\u0000\u0000\u0000\u0000mif1heic'), Buffer.alloc(300, 9)]) },
  { label: 'avif-garbage', data: () => Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypavif\u0000\u0000\u0000\u0000mif1avif'), Buffer.alloc(300, 10)]) },
];

const IMAGE_NAMES = [
  ['photo.jpg', 'image/jpeg'],
  ['photo.jpeg', 'image/jpeg'],
  ['photo.png', 'image/png'],
  ['photo.webp', 'image/webp'],
  ['photo.avif', 'image/avif'],
  ['photo.gif', 'image/gif'],
  ['photo', 'application/octet-stream'],
  ['photo.zip', 'application/zip'],
] as const;

// ---- Zip archives ----------------------------------------------------------------------------

export interface RawEntry {
  name: string | Buffer;
  data?: Buffer;
  /** 0 stored, 8 deflate, anything else is written as-is (the data stays stored). */
  method?: number;
  /** Already-compressed body (for bombs built once): `size` and `crc` then describe the inflated data. */
  body?: Buffer;
  size?: number;
  crc?: number;
  /** A lie about the inflated size, written in both headers. */
  declaredSize?: number;
  /** Point at an earlier entry's local header (overlapping entries). */
  reuseDataOf?: number;
  /** General-purpose flags: bit 0 = encrypted. UTF-8 (bit 11) is always set. */
  flags?: number;
  /** Unix mode in the high 16 bits, e.g. 0o120777 for a symlink. */
  unixMode?: number;
}

/** A zip writer that trusts its caller completely: it writes names and sizes no real tool would. */
export function rawZip(entries: RawEntry[], options: { entryCount?: number } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  const placed: Array<{ offset: number; crc: number; compressed: number; size: number; method: number; flags: number }> = [];
  let offset = 0;
  entries.forEach((e) => {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name;
    const flags = 0x800 | (e.flags ?? 0);
    let p: (typeof placed)[number];
    if (e.reuseDataOf !== undefined) {
      p = placed[e.reuseDataOf]!;
    } else {
      const data = e.data ?? Buffer.alloc(0);
      const method = e.method ?? 0;
      const plain = e.body ?? (method === 8 ? deflateRawSync(data) : data);
      // An encrypted entry starts with the 12-byte ZipCrypto header, counted in its compressed size.
      const body = (e.flags ?? 0) & 1 ? Buffer.concat([Buffer.alloc(12, 0xa5), plain]) : plain;
      p = { offset, crc: e.crc ?? crc32(data), compressed: body.length, size: e.declaredSize ?? e.size ?? data.length, method, flags };
      const header = Buffer.alloc(30);
      header.writeUInt32LE(0x04034b50, 0);
      header.writeUInt16LE(20, 4);
      header.writeUInt16LE(flags, 6);
      header.writeUInt16LE(method, 8);
      header.writeUInt32LE(p.crc, 14);
      header.writeUInt32LE(p.compressed, 18);
      header.writeUInt32LE(p.size, 22);
      header.writeUInt16LE(name.length, 26);
      locals.push(header, name, body);
      offset += header.length + name.length + body.length;
    }
    placed.push(p);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(e.unixMode !== undefined ? 0x031e : 20, 4); // made by: Unix when a mode is given
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(p.method, 10);
    central.writeUInt32LE(p.crc, 16);
    central.writeUInt32LE(p.compressed, 20);
    central.writeUInt32LE(p.size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(e.unixMode !== undefined ? (e.unixMode << 16) >>> 0 : 0, 38);
    central.writeUInt32LE(p.offset, 42);
    centrals.push(central, name);
  });
  const dir = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  const count = Math.min(options.entryCount ?? entries.length, 0xffff);
  eocd.writeUInt16LE(count, 8);
  eocd.writeUInt16LE(count, 10);
  eocd.writeUInt32LE(dir.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, eocd]);
}

/** A well-formed zip made by a real writer (yazl), the base for truncation and bit flips. */
export function cleanZip(files: Array<{ name: string; data: Buffer; compress?: boolean }>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const f of files) zip.addBuffer(f.data, f.name, { compress: f.compress ?? true, mtime: new Date(Date.UTC(2024, 0, 1)), forceDosTimestamp: true });
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on('error', reject);
  });
}

// ---- The corpus ------------------------------------------------------------------------------

export interface CorpusOptions {
  seed: number;
  /** The server's per-image byte limit (MAX_IMAGE_MB) and per-file streaming limit (MAX_ZIP_MB). */
  maxImageBytes: number;
  maxUploadBytes: number;
  /** The server's zip entry limit (maxZipEntries). */
  maxZipEntries: number;
  /** The server's total inflated limit per archive. */
  maxZipInflatedBytes: number;
  /** How many times to repeat the per-seed mutation rounds (≥ 1). */
  rounds?: number;
}

/**
 * Builds the hostile corpus. Pure given the seed (sharp's encoders are deterministic for a given
 * libvips build, and the seed images only feed mutations).
 */
export async function hostileCorpus(options: CorpusOptions): Promise<HostileInput[]> {
  const r = rng(options.seed);
  const seeds = await seedImages();
  const inputs: HostileInput[] = [];
  const tag = () => `h${String(inputs.length).padStart(4, '0')}`;
  const add = (i: Omit<HostileInput, 'tag' | 'forbiddenSha' | 'name'> & { name: (tag: string) => string; forbiddenSha?: string[] }) => {
    const t = tag();
    inputs.push({ ...i, tag: t, name: i.name(t), forbiddenSha: i.forbiddenSha ?? (i.expect === 'reject' ? [sha256(i.data)] : []) });
  };
  const ext = (s: SeedImage) => (s.format === 'jpeg' ? 'jpg' : s.format);
  const typeOf = (s: SeedImage) => `image/${s.format}`;
  const rounds = options.rounds ?? 1;

  for (let round = 0; round < rounds; round++) {
    for (const s of seeds) {
      // Cut off at a random point before the data a decoder needs ends: never a whole image.
      for (let i = 0; i < 24; i++) {
        const keep = i < 3 ? r.int(1, 64) : r.int(1, s.essentialEnd - 1);
        add({ category: 'truncated', name: (t) => `${t}-cut.${ext(s)}`, contentType: typeOf(s), data: Buffer.from(s.data.subarray(0, keep)), expect: 'reject' });
      }
      // Cut inside the trailer (PNG IEND, JPEG EOI): the pixels are all there, decoders may accept it.
      for (let i = 0; i < 2; i++) {
        const keep = r.int(s.essentialEnd, s.data.length - 1);
        if (keep < s.data.length) add({ category: 'truncated-trailer', name: (t) => `${t}-cut-tail.${ext(s)}`, contentType: typeOf(s), data: Buffer.from(s.data.subarray(0, keep)), expect: 'either' });
      }
      for (let i = 0; i < 22; i++) {
        add({ category: 'bitflip-header', name: (t) => `${t}-flip-head.${ext(s)}`, contentType: typeOf(s), data: flipBits(s.data, r, 0, 600, r.int(1, 4)), expect: 'either' });
      }
      for (let i = 0; i < 22; i++) {
        add({ category: 'bitflip-body', name: (t) => `${t}-flip-body.${ext(s)}`, contentType: typeOf(s), data: flipBits(s.data, r, 600, s.data.length - 1, r.int(1, 16)), expect: 'either' });
      }
      // Foreign magic bytes over a real image's body, under a name and type that promise an image.
      for (let i = 0; i < 8; i++) {
        const foreign = r.pick(FOREIGN_CONTENT).data();
        const magic = foreign.subarray(0, Math.min(foreign.length, 24));
        const data = Buffer.concat([magic, s.data.subarray(magic.length)]);
        // (An ISO-media magic makes it a HEIC/AVIF to the sniffer, whose decoder then refuses it.)
        add({ category: 'wrong-magic', name: (t) => `${t}-magic.${ext(s)}`, contentType: typeOf(s), data, expect: 'reject', reasons: ['unsupported_type', 'corrupt', 'truncated'] });
      }
    }
  }

  // Headers that claim far more pixels than allowed (pixel bombs), each with a valid checksum.
  const [jpeg0, jpeg1, png0, png1, webp0, webp1] = seeds as [SeedImage, SeedImage, SeedImage, SeedImage, SeedImage, SeedImage];
  for (const [w, h] of [[100_000, 100_000], [65_535, 65_535], [2 ** 31 - 1, 2 ** 31 - 1], [1_000_000, 1], [1, 50_000_000], [8_000, 6_000], [40_000, 40_000], [7_000, 7_000]]) {
    for (const png of [png0, png1]) add({ category: 'huge-dimensions', name: (t) => `${t}-${w}x${h}.png`, contentType: 'image/png', data: pngWithSize(png.data, w!, h!), expect: 'reject', reasons: ['too_many_pixels', 'corrupt'] });
  }
  for (const [w, h] of [[65_500, 65_500], [65_535, 1_000], [10_000, 10_000], [7_000, 7_000], [65_535, 65_535]]) {
    for (const jpeg of [jpeg0, jpeg1]) add({ category: 'huge-dimensions', name: (t) => `${t}-${w}x${h}.jpg`, contentType: 'image/jpeg', data: jpegWithSize(jpeg.data, w!, h!), expect: 'reject', reasons: ['too_many_pixels', 'corrupt', 'truncated'] });
  }
  for (const [w, h] of [[16_383, 16_383], [16_383, 4_000], [9_000, 9_000]]) {
    for (const webp of [webp0, webp1]) add({ category: 'huge-dimensions', name: (t) => `${t}-${w}x${h}.webp`, contentType: 'image/webp', data: webpWithSize(webp.data, w!, h!), expect: 'reject', reasons: ['too_many_pixels', 'corrupt', 'truncated'] });
  }
  // Under the pixel limit but far larger than the data behind them: the decoder runs out of data.
  for (const [w, h] of [[6_000, 6_000], [4_000, 3_000], [6_300, 6_300]]) {
    for (const png of [png0, png1]) add({ category: 'lying-dimensions', name: (t) => `${t}-${w}x${h}.png`, contentType: 'image/png', data: pngWithSize(png.data, w!, h!), expect: 'reject', reasons: ['corrupt', 'truncated'] });
    for (const jpeg of [jpeg0, jpeg1]) add({ category: 'lying-dimensions', name: (t) => `${t}-${w}x${h}.jpg`, contentType: 'image/jpeg', data: jpegWithSize(jpeg.data, w!, h!), expect: 'reject', reasons: ['corrupt', 'truncated'] });
  }
  // Header says smaller than the data: decoders may read just that much, so either verdict is fine.
  for (const png of [png0, png1]) add({ category: 'shrunken-dimensions', name: (t) => `${t}-1x1.png`, contentType: 'image/png', data: pngWithSize(png.data, 1, 1), expect: 'either' });
  for (const jpeg of [jpeg0, jpeg1]) add({ category: 'shrunken-dimensions', name: (t) => `${t}-8x8.jpg`, contentType: 'image/jpeg', data: jpegWithSize(jpeg.data, 8, 8), expect: 'either' });
  for (const [w, h] of [[0, 100], [100, 0], [0, 0]]) {
    add({ category: 'zero-dimensions', name: (t) => `${t}-${w}x${h}.png`, contentType: 'image/png', data: pngWithSize(png0.data, w!, h!), expect: 'reject' });
    add({ category: 'zero-dimensions', name: (t) => `${t}-${w}x${h}.jpg`, contentType: 'image/jpeg', data: jpegWithSize(jpeg0.data, w!, h!), expect: 'reject' });
  }

  for (const [n, type] of IMAGE_NAMES) {
    add({ category: 'zero-byte', name: (t) => `${t}-${n}`, contentType: type, data: Buffer.alloc(0), expect: 'reject', reasons: ['empty_file'], forbiddenSha: [] });
  }
  // Not an image at all, under names and types that say it is.
  for (const f of FOREIGN_CONTENT) {
    for (let i = 0; i < 4; i++) {
      const [n, type] = r.pick(IMAGE_NAMES);
      add({ category: 'content-type-mismatch', name: (t) => `${t}-${f.label}-as-${n}`, contentType: type, data: f.data(), expect: 'reject', reasons: ['unsupported_type', 'corrupt', 'truncated'] });
    }
  }
  for (let i = 0; i < 12; i++) {
    const [n, type] = r.pick(IMAGE_NAMES);
    // Random bytes whose start matches no signature the sniffer accepts.
    const data = Buffer.concat([Buffer.from([0x00, 0x13, 0x37, 0x00, 0, 0, 0, 0]), r.bytes(r.int(1, 4000))]);
    add({ category: 'content-type-mismatch', name: (t) => `${t}-random-as-${n}`, contentType: type, data, expect: 'reject', reasons: ['unsupported_type'] });
  }

  // Over the byte limits: one read in full and refused by size, one cut off while streaming.
  add({ category: 'oversize', name: (t) => `${t}-padded.jpg`, contentType: 'image/jpeg', data: Buffer.concat([jpeg0.data, Buffer.alloc(options.maxImageBytes + 1000)]), expect: 'reject', reasons: ['too_large_bytes'] });
  add({ category: 'oversize', name: (t) => `${t}-huge.png`, contentType: 'image/png', data: Buffer.concat([png0.data, r.bytes(4096), Buffer.alloc(options.maxUploadBytes + 4096)]), expect: 'reject', reasons: ['too_large_bytes'] });

  // Hostile multipart file names with a valid image: stored (if at all) under a clean name.
  for (const evil of [(t: string) => `../../../etc/${t}.jpg`, (t: string) => `/etc/${t}.jpg`, (t: string) => `C:\\Windows\\${t}.jpg`, (t: string) => `${t}-${'é'.repeat(600)}-${t}.jpg`, (t: string) => `${t}\u0000.jpg-${t}`, (t: string) => `${t}\r\nX-Injected: 1-${t}.jpg`, (t: string) => `${t}"; name="other-${t}.jpg`]) {
    add({ category: 'hostile-filename', name: evil, contentType: 'image/jpeg', data: uniqueVariant(jpeg0, r), expect: 'either', alone: true });
  }

  // ---- Archives ----
  const zipAdd = (category: string, build: (t: string) => { data: Buffer; forbidden?: Buffer[] }, expect: Expectation, reasons?: string[], contentType = 'application/zip', ext = 'zip') => {
    const t = tag();
    const built = build(t);
    inputs.push({ tag: t, category, name: `${t}-${category}.${ext}`, contentType, data: built.data, expect, ...(reasons ? { reasons } : {}), forbiddenSha: (built.forbidden ?? []).map(sha256) });
  };
  const good = () => uniqueVariant(r.pick([jpeg0, png0, webp0]), r);
  const zeros = (n: number) => Buffer.alloc(n);

  // Bombs: inflated once, reused (the compressed body is all that is sent).
  const bombSize = Math.max(options.maxImageBytes * 4, 16 * 2 ** 20);
  const bombBody = deflateRawSync(zeros(bombSize), { level: 9 });
  const bombCrc = crc32(zeros(bombSize));
  const nearLimit = options.maxImageBytes - 1024;
  const nearBody = deflateRawSync(zeros(nearLimit), { level: 9 });
  const nearCrc = crc32(zeros(nearLimit));
  for (let i = 0; i < 4; i++) {
    // Honest header: refused by its declared size before anything is inflated.
    zipAdd('zip-bomb-ratio', (t) => ({ data: rawZip([{ name: `${t}e0.jpg`, method: 8, body: bombBody, size: bombSize, crc: bombCrc }]) }), 'reject', ['skipped', 'too_large_inflated']);
    // Lying header (claims 1 KB): caught while inflating.
    zipAdd('zip-bomb-lying-size', (t) => ({ data: rawZip([{ name: `${t}e0.jpg`, method: 8, body: bombBody, size: bombSize, crc: bombCrc, declaredSize: 1024 }]) }), 'reject', ['entry_too_large', 'corrupt_zip']);
  }
  for (let i = 0; i < 3; i++) {
    // Many near-limit entries sharing one compressed body: the total is what must stop it.
    const count = Math.ceil(options.maxZipInflatedBytes / nearLimit) + 2;
    zipAdd('zip-bomb-overlapping', (t) => ({
      data: rawZip([{ name: `${t}e0.jpg`, method: 8, body: nearBody, size: nearLimit, crc: nearCrc }, ...Array.from({ length: count - 1 }, (_, k) => ({ name: `${t}e${k + 1}.jpg`, reuseDataOf: 0 }))]),
    }), 'reject', ['too_large_inflated', 'too_many_entries']);
    // The same, each entry lying about its size: the inflated total must still stop it.
    zipAdd('zip-bomb-overlapping-lying', (t) => ({
      data: rawZip([{ name: `${t}e0.jpg`, method: 8, body: nearBody, size: nearLimit, crc: nearCrc, declaredSize: 100 }, ...Array.from({ length: count - 1 }, (_, k) => ({ name: `${t}e${k + 1}.jpg`, reuseDataOf: 0 }))]),
    }), 'reject', ['too_large_inflated', 'entry_too_large', 'corrupt_zip']);
  }
  for (let i = 0; i < 3; i++) {
    zipAdd('zip-many-entries', (t) => ({ data: rawZip(Array.from({ length: options.maxZipEntries + 1 + i * 100 }, (_, k) => ({ name: `${t}e${k}.jpg`, data: Buffer.from([k & 255]) }))) }), 'reject', ['too_many_entries']);
    // Directory claims 65 535 entries but holds three.
    zipAdd('zip-lying-entry-count', (t) => ({ data: rawZip([0, 1, 2].map((k) => ({ name: `${t}e${k}.jpg`, data: r.bytes(50) })), { entryCount: 0xffff }) }), 'reject', ['too_many_entries', 'corrupt_zip']);
  }
  // Nested archives: a zip is never an image, however deep.
  for (let i = 0; i < 4; i++) {
    zipAdd('zip-nested', (t) => {
      const inner = rawZip([{ name: `${t}inner.jpg`, data: good() }]);
      const middle = rawZip([{ name: `${t}middle.zip`, data: inner, method: 8 }]);
      return { data: rawZip([{ name: `${t}e0.jpg`, data: i % 2 ? middle : inner, method: 8 }, { name: `${t}e1.zip`, data: inner }]), forbidden: [inner, middle] };
    }, 'reject', ['unsupported_type']);
  }
  // Names that point outside the archive: the whole archive is refused, even with good images in it.
  const traversal = [
    (t: string) => `../${t}.jpg`, (t: string) => `a/../../${t}.jpg`, (t: string) => `/etc/${t}.jpg`, (t: string) => `C:\\${t}.jpg`, (t: string) => `C:/${t}.jpg`,
    (t: string) => `\\\\server\\share\\${t}.jpg`, (t: string) => `..\\..\\${t}.jpg`, (t: string) => `${t}\u0000.jpg`, (t: string) => `ok/${t}\u0007.jpg`, (t: string) => `..`, (t: string) => `x/../../../../../../tmp/${t}.jpg`, (t: string) => ``,
  ];
  for (const evil of traversal) {
    for (let i = 0; i < 2; i++) {
      zipAdd('zip-traversal-name', (t) => {
        const fine = good();
        const bad = good();
        const entries: RawEntry[] = [{ name: `${t}fine.jpg`, data: fine }, { name: evil(t), data: bad, method: i ? 8 : 0 }];
        return { data: rawZip(i ? entries.reverse() : entries), forbidden: [fine, bad] };
      }, 'reject', ['unsafe_entry_name']);
    }
  }
  // Very long names inside the archive, with a valid image: may be added, under a clean, bounded name.
  for (let i = 0; i < 3; i++) zipAdd('zip-long-name', (t) => ({ data: rawZip([{ name: `${'deep/'.repeat(100 * (i + 1))}${'x'.repeat(1000 * (i + 1))}${t}.jpg`, data: good() }]) }), 'either');
  for (let i = 0; i < 3; i++) zipAdd('zip-long-name-garbage', (t) => ({ data: rawZip([{ name: `${'y'.repeat(5000)}${t}.jpg`, data: r.bytes(300) }]) }), 'reject', ['unsupported_type']);
  // Symlinks: their content is the target path; nothing is ever followed or written by name.
  for (const target of ['/etc/passwd', '../../../../etc/shadow', 'C:\\Windows\\win.ini', '/proc/self/environ']) {
    zipAdd('zip-symlink', (t) => ({ data: rawZip([{ name: `${t}link.jpg`, data: Buffer.from(target), unixMode: 0o120777 }, { name: `${t}dirlink`, data: Buffer.from('/'), unixMode: 0o120777 }]) }), 'reject', ['unsupported_type', 'corrupt', 'truncated']);
  }
  // Encrypted entries (flag bit 0) and compression methods the server does not read: skipped.
  for (let i = 0; i < 4; i++) {
    zipAdd('zip-encrypted', (t) => {
      const image = good(); // plain bytes under the "encrypted" flag: still refused
      return { data: rawZip([{ name: `${t}e0.jpg`, data: r.bytes(400), flags: 1 }, { name: `${t}e1.jpg`, data: image, flags: 1 }]), forbidden: [image] };
    }, 'reject', ['skipped']);
    zipAdd('zip-unknown-method', (t) => {
      const image = good();
      return { data: rawZip([{ name: `${t}e0.jpg`, data: image, method: r.pick([1, 6, 12, 14, 95, 98, 99]) }]), forbidden: [image] };
    }, 'reject', ['skipped']);
  }
  // Duplicate names: each copy gets its own verdict; only the valid one may be added.
  for (let i = 0; i < 4; i++) {
    zipAdd('zip-duplicate-names', (t) => {
      const junk = r.bytes(500);
      return { data: rawZip([{ name: `${t}same.jpg`, data: good() }, { name: `${t}same.jpg`, data: junk }, { name: `${t}same.txt`, data: Buffer.from('a caption') }]), forbidden: [junk] };
    }, 'either');
    zipAdd('zip-duplicate-names-garbage', (t) => ({ data: rawZip([{ name: `${t}same.png`, data: r.bytes(200) }, { name: `${t}same.png`, data: r.bytes(200), method: 8 }]) }), 'reject', ['unsupported_type']);
  }
  // Nothing but files that are not images.
  for (let i = 0; i < 6; i++) {
    zipAdd('zip-non-images', (t) => ({
      data: rawZip([
        { name: `${t}notes.txt`, data: Buffer.from('caption without an image') },
        ...FOREIGN_CONTENT.slice(i, i + 4).map((f, k) => ({ name: `${t}e${k}.${r.pick(['jpg', 'png', 'exe', 'html', 'svg'])}`, data: f.data(), method: k % 2 ? 8 : 0 })),
        { name: `${t}empty.jpg`, data: Buffer.alloc(0) },
        { name: `${t}huge.png`, data: pngWithSize(png0.data, 100_000, 100_000) },
      ]),
    }), 'reject', ['skipped', 'unsupported_type', 'empty_file', 'too_many_pixels', 'corrupt']);
  }
  // Archives with nothing an upload could use: must still get a verdict, not silence.
  for (let i = 0; i < 2; i++) {
    zipAdd('zip-empty', () => ({ data: rawZip([]) }), 'reject', ['no_images']);
    zipAdd('zip-only-junk', (t) => {
      const image = good();
      return { data: rawZip([{ name: `__MACOSX/${t}e0.jpg`, data: image }, { name: `${t}dir/`, data: Buffer.alloc(0) }, { name: `.${t}hidden.jpg`, data: image }, { name: `${t}dir/.DS_Store`, data: r.bytes(20) }]), forbidden: [image] };
    }, 'reject', ['no_images']);
  }
  // A zip disguised as an image, and an image-looking archive with its magic broken.
  for (let i = 0; i < 3; i++) {
    zipAdd('zip-as-jpg', (t) => ({ data: rawZip([{ name: `${t}e0.jpg`, data: r.bytes(300) }]) }), 'reject', ['unsupported_type'], 'image/jpeg', 'jpg');
    zipAdd('zip-wrong-magic', (t) => {
      const image = good();
      const z = rawZip([{ name: `${t}e0.jpg`, data: image }]);
      z.write('PX', 0, 'latin1');
      return { data: z, forbidden: [image] };
    }, 'reject', ['unsupported_type']);
  }

  // Real archives (written by yazl), cut off and bit-flipped. A cut zip loses its directory: always refused.
  const realZip = (t: string, k: number) => cleanZip([
    { name: `${t}a.jpg`, data: good(), compress: k % 2 === 0 },
    { name: `${t}b.png`, data: good(), compress: true },
    { name: `${t}a.txt`, data: Buffer.from('caption') },
  ]);
  for (let i = 0; i < 40; i++) {
    const t = tag();
    const zip = await realZip(t, i);
    const keep = r.int(1, zip.length - 1);
    inputs.push({ tag: t, category: 'zip-truncated', name: `${t}-zip-truncated.zip`, contentType: 'application/zip', data: Buffer.from(zip.subarray(0, keep)), expect: 'reject', reasons: ['corrupt_zip', 'unsupported_type'], forbiddenSha: [] });
  }
  for (let i = 0; i < 40; i++) {
    const t = tag();
    const zip = await realZip(t, i);
    inputs.push({ tag: t, category: 'zip-bitflip', name: `${t}-zip-bitflip.zip`, contentType: 'application/zip', data: flipBits(zip, r, 0, zip.length - 1, r.int(1, 6)), expect: 'either', forbiddenSha: [] });
  }
  return inputs;
}
