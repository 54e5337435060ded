import sharp from 'sharp';
import yauzl from 'yauzl';
import { seedFromString, seededRandom } from './rng.ts';

/** Real files the emulator serves: trained_model.tar with a valid safetensors, and output images. */

/** A small but valid safetensors file: 8-byte little-endian header length, JSON header, tensor bytes. */
export function fakeSafetensors(rank = 4, metadata: Record<string, string> = {}): Buffer {
  const tensors: Record<string, unknown> = { __metadata__: { format: 'pt', ...metadata } };
  // `lora_unet.weight` is kept because platform tests look for it; the others are real flux LoRA keys.
  const names = ['transformer.single_transformer_blocks.0.attn.to_k.lora_A.weight', 'transformer.single_transformer_blocks.0.attn.to_k.lora_B.weight', 'lora_unet.weight'];
  const width = 8;
  let offset = 0;
  for (const name of names) {
    const bytes = rank * width * 2; // F16
    tensors[name] = { dtype: 'F16', shape: name.endsWith('lora_B.weight') ? [width, rank] : [rank, width], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let header = JSON.stringify(tensors);
  // The spec recommends padding the header with spaces to an 8-byte boundary.
  header += ' '.repeat((8 - (Buffer.byteLength(header) % 8)) % 8);
  const headerBytes = Buffer.from(header, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.length));
  return Buffer.concat([length, headerBytes, Buffer.alloc(offset, 0x3c)]);
}

export interface TarEntry {
  path: string;
  /** Omit for a directory. */
  content?: Buffer;
}

/** Minimal POSIX ustar writer: enough for `tar -tf` and for tar readers in tests. */
export function createTar(entries: readonly TarEntry[], mtimeSeconds = 1_700_000_000): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const isDir = entry.content === undefined;
    const name = isDir && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
    if (Buffer.byteLength(name) > 100) throw new Error(`tar path too long: ${name}`);
    const header = Buffer.alloc(512, 0);
    header.write(name, 0, 100, 'utf8');
    header.write(isDir ? '0000755\0' : '0000644\0', 100, 8, 'ascii');
    header.write('0000000\0', 108, 8, 'ascii');
    header.write('0000000\0', 116, 8, 'ascii');
    header.write(`${(entry.content?.length ?? 0).toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
    header.write(`${mtimeSeconds.toString(8).padStart(11, '0')}\0`, 136, 12, 'ascii');
    header.write('        ', 148, 8, 'ascii');
    header.write(isDir ? '5' : '0', 156, 1, 'ascii');
    header.write('ustar\0', 257, 6, 'ascii');
    header.write('00', 263, 2, 'ascii');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    blocks.push(header);
    if (entry.content) {
      blocks.push(entry.content);
      const pad = (512 - (entry.content.length % 512)) % 512;
      if (pad) blocks.push(Buffer.alloc(pad, 0));
    }
  }
  blocks.push(Buffer.alloc(1024, 0));
  return Buffer.concat(blocks);
}

/** Reads a ustar archive back (for tests). */
export function readTar(archive: Buffer): Array<{ path: string; content: Buffer; directory: boolean }> {
  const out: Array<{ path: string; content: Buffer; directory: boolean }> = [];
  let offset = 0;
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const path = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 48);
    offset += 512;
    out.push({ path, content: archive.subarray(offset, offset + size), directory: type === '5' });
    offset += Math.ceil(size / 512) * 512;
  }
  return out;
}

export function fluxWeightsTar(options: { triggerWord: string; steps: number; loraRank: number; captions: string[] }): Buffer {
  const config = [
    'job: extension',
    'config:',
    '  name: flux_train_replicate',
    '  process:',
    '  - type: sd_trainer',
    '    network:',
    '      type: lora',
    `      linear: ${options.loraRank}`,
    `      linear_alpha: ${options.loraRank}`,
    '    train:',
    `      steps: ${options.steps}`,
    `    trigger_word: ${options.triggerWord}`,
    '',
  ].join('\n');
  return createTar([
    { path: 'output/flux_train_replicate/' },
    { path: 'output/flux_train_replicate/lora.safetensors', content: fakeSafetensors(Math.min(options.loraRank, 16), { trigger_word: options.triggerWord }) },
    { path: 'output/flux_train_replicate/config.yaml', content: Buffer.from(config) },
    { path: 'output/flux_train_replicate/captions/' },
    ...options.captions.map((caption, i) => ({
      path: `output/flux_train_replicate/captions/image_${String(i + 1).padStart(2, '0')}.txt`,
      content: Buffer.from(caption),
    })),
  ]);
}

export function sdxlWeightsTar(tokenString: string): Buffer {
  return createTar([
    { path: 'lora.safetensors', content: fakeSafetensors(8) },
    { path: 'embeddings.pti', content: fakeSafetensors(2) },
    { path: 'special_params.json', content: Buffer.from(JSON.stringify({ [tokenString]: '<s0><s1>' })) },
  ]);
}

export type ImageFormat = 'png' | 'webp' | 'jpg';

/** A deterministic diagonal gradient whose colours derive from prompt, seed and output index. */
export async function renderOutputImage(options: {
  prompt: string;
  seed: number;
  index: number;
  width: number;
  height: number;
  format: ImageFormat;
  quality?: number;
}): Promise<Buffer> {
  const random = seededRandom(seedFromString(`${options.prompt}\u0000${options.seed}\u0000${options.index}`));
  const from = [random() * 255, random() * 255, random() * 255];
  const to = [random() * 255, random() * 255, random() * 255];
  const { width, height } = options;
  const pixels = Buffer.alloc(width * height * 3);
  const span = Math.max(1, width + height - 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x + y) / span;
      const i = (y * width + x) * 3;
      pixels[i] = from[0]! + (to[0]! - from[0]!) * t;
      pixels[i + 1] = from[1]! + (to[1]! - from[1]!) * t;
      pixels[i + 2] = from[2]! + (to[2]! - from[2]!) * t;
    }
  }
  const image = sharp(pixels, { raw: { width, height, channels: 3 } });
  const quality = options.quality ?? 80;
  if (options.format === 'png') return image.png().toBuffer();
  if (options.format === 'jpg') return image.jpeg({ quality }).toBuffer();
  return image.webp({ quality }).toBuffer();
}

export interface ZipSummary {
  images: string[];
  captions: string[];
}

/** Lists the images and caption files of a training zip the way the flux trainer would. */
export async function inspectTrainingZip(bytes: Buffer): Promise<ZipSummary> {
  const zip = await yauzl.fromBufferPromise(bytes, { lazyEntries: true });
  const summary: ZipSummary = { images: [], captions: [] };
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      const name = entry.fileName;
      const base = name.split('/').pop() ?? '';
      const skipped = name.endsWith('/') || name.includes('__MACOSX') || base.startsWith('._');
      if (!skipped && /\.(jpe?g|png|webp)$/i.test(base)) summary.images.push(name);
      else if (!skipped && /\.txt$/i.test(base)) summary.captions.push(name);
      zip.readEntry();
    });
    zip.on('end', () => resolve());
    zip.on('error', reject);
    zip.readEntry();
  });
  zip.close();
  return summary;
}
