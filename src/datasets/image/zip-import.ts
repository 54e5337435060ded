import { open as openFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { ZipRejectedError } from './errors.ts';
import { sniff } from './sniff.ts';
import { DEFAULT_ZIP_LIMITS } from './thresholds.ts';

/**
 * Reads an uploaded .zip of images (+ same-name .txt captions) one entry at a time. Nothing
 * is ever written to disk under a name from the archive: the caller stores each image under
 * its own id, so the archive's names only serve for pairing captions and for messages.
 *
 * Limits are enforced on the bytes actually inflated, not on the sizes the headers claim.
 */
export interface ZipLimits {
  /** Central-directory records of any kind (files, folders, junk). */
  maxEntries: number;
  /** Sum of inflated bytes of everything read. */
  maxTotalInflatedBytes: number;
  /** One image. */
  maxEntryBytes: number;
  /** One caption file. */
  maxCaptionBytes: number;
}

export type ZipItem =
  | {
      kind: 'image';
      /** Path inside the archive, for messages ("holiday/IMG_1.jpg"). */
      path: string;
      /** File name without folders, for display and as the image's label. */
      name: string;
      /** Not yet validated: pass it to processImage, which judges it by its content. */
      data: Buffer;
      /** Text of the same-name .txt file, trimmed; undefined when there is none or it is empty. */
      caption?: string;
    }
  | { kind: 'skipped'; path: string; reason: string };

const JUNK_NAMES = new Set(['.ds_store', 'thumbs.db', 'desktop.ini']);

function isJunk(path: string): boolean {
  const segments = path.split('/');
  const base = segments[segments.length - 1]!;
  // macOS resource forks and Finder files, Windows thumbnails, hidden files.
  return segments.includes('__MACOSX') || base.startsWith('.') || JUNK_NAMES.has(base.toLowerCase());
}

/** Why a name is unsafe, or undefined when it is fine. */
function unsafeName(path: string): string | undefined {
  if (path.length === 0) return 'an empty name';
  if (path.includes('\\')) return 'a backslash in its name';
  if (path.startsWith('/') || /^[a-zA-Z]:/.test(path)) return 'an absolute path';
  if (path.split('/').includes('..')) return 'a ".." path that points outside the archive';
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'control characters in its name';
  return undefined;
}

const stemOf = (path: string) => {
  const dot = path.lastIndexOf('.');
  return dot > path.lastIndexOf('/') ? path.slice(0, dot) : path;
};
const isCaption = (path: string) => /\.txt$/i.test(path);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

async function openZip(source: string | Buffer, archiveName: string): Promise<ZipFile> {
  let head: Buffer;
  if (typeof source === 'string') {
    const handle = await openFile(source, 'r');
    try {
      head = Buffer.alloc(8);
      const { bytesRead } = await handle.read(head, 0, 8, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } else {
    head = source.subarray(0, 8);
  }
  if (sniff(head).kind !== 'zip') throw new ZipRejectedError('not_a_zip', archiveName, 'This is not a .zip archive.');
  const options = { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: true };
  try {
    return typeof source === 'string' ? await yauzl.openPromise(source, options) : await yauzl.fromBufferPromise(source, options);
  } catch (error) {
    throw corrupt(archiveName, error);
  }
}

const corrupt = (archiveName: string, error: unknown) =>
  new ZipRejectedError('corrupt_zip', archiveName, `The archive is damaged and cannot be read (${error instanceof Error ? error.message : String(error)}).`);

interface Planned {
  entry: Entry;
  path: string;
}

export async function* readImageZip(
  source: string | Buffer,
  options: { name: string; limits?: Partial<ZipLimits> },
): AsyncGenerator<ZipItem, void, undefined> {
  const archive = options.name;
  const limits: ZipLimits = { ...DEFAULT_ZIP_LIMITS, ...options.limits };
  const zip = await openZip(source, archive);
  try {
    const tooMany = () =>
      new ZipRejectedError('too_many_entries', archive, `The archive holds more than ${limits.maxEntries} files; a training set needs 15–20 images.`);
    if (zip.entryCount > limits.maxEntries) throw tooMany();

    // Pass 1: the central directory only (no inflating): names, pairing, size plan.
    const images: Planned[] = [];
    const captions = new Map<string, Planned>();
    const skipped: ZipItem[] = [];
    let seen = 0;
    let declaredTotal = 0;
    try {
      for await (const entry of zip.eachEntry()) {
        if (++seen > limits.maxEntries) throw tooMany();
        const path = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
        const unsafe = unsafeName(path);
        if (unsafe) {
          throw new ZipRejectedError('unsafe_entry_name', archive, `The archive contains "${path}" with ${unsafe}. Such archives are refused; re-create the zip from a plain folder.`);
        }
        if (path.endsWith('/') || isJunk(path)) continue;
        if (entry.isEncrypted()) {
          skipped.push({ kind: 'skipped', path, reason: 'It is password-protected.' });
          continue;
        }
        if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
          skipped.push({ kind: 'skipped', path, reason: 'It uses a compression method this server does not read; re-create the zip with standard settings.' });
          continue;
        }
        if (isCaption(path)) {
          captions.set(stemOf(path), { entry, path });
          continue;
        }
        if (entry.uncompressedSize > limits.maxEntryBytes) {
          skipped.push({ kind: 'skipped', path, reason: `It is ${mb(entry.uncompressedSize)}; the limit per image is ${mb(limits.maxEntryBytes)}.` });
          continue;
        }
        declaredTotal += entry.uncompressedSize;
        images.push({ entry, path });
      }
    } catch (error) {
      if (error instanceof ZipRejectedError) throw error;
      throw corrupt(archive, error);
    }
    if (declaredTotal > limits.maxTotalInflatedBytes) {
      throw new ZipRejectedError('too_large_inflated', archive, `The archive unpacks to more than ${mb(limits.maxTotalInflatedBytes)}.`);
    }

    const pairedStems = new Set(images.map((i) => stemOf(i.path)));
    for (const [stem, caption] of captions) {
      if (!pairedStems.has(stem)) skipped.push({ kind: 'skipped', path: caption.path, reason: 'A caption file without an image of the same name.' });
    }
    yield* skipped;

    // Pass 2: inflate one entry at a time, counting real bytes.
    let inflated = 0;
    const read = async ({ entry, path }: Planned, maxBytes: number, tooLarge: () => Error): Promise<Buffer> => {
      let stream: Readable;
      try {
        stream = await zip.openReadStreamPromise(entry);
      } catch (error) {
        throw corrupt(archive, error);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          size += chunk.length;
          inflated += chunk.length;
          if (size > maxBytes) throw tooLarge();
          if (inflated > limits.maxTotalInflatedBytes) {
            throw new ZipRejectedError('too_large_inflated', archive, `The archive unpacks to more than ${mb(limits.maxTotalInflatedBytes)}.`);
          }
          chunks.push(chunk);
        }
      } catch (error) {
        stream.destroy();
        if (error instanceof ZipRejectedError || error instanceof CaptionTooLong) throw error;
        throw corrupt(archive, new Error(`${path}: ${error instanceof Error ? error.message : String(error)}`));
      }
      return Buffer.concat(chunks, size);
    };

    for (const image of images) {
      let caption: string | undefined;
      const captionEntry = captions.get(stemOf(image.path));
      if (captionEntry) {
        try {
          const text = await read(captionEntry, limits.maxCaptionBytes, () => new CaptionTooLong());
          const decoded = decodeCaption(text);
          if (decoded === null) yield { kind: 'skipped', path: captionEntry.path, reason: 'The caption is not plain UTF-8 text.' };
          else caption = decoded;
        } catch (error) {
          if (!(error instanceof CaptionTooLong)) throw error;
          yield { kind: 'skipped', path: captionEntry.path, reason: `The caption is longer than ${limits.maxCaptionBytes / 1024} KB.` };
        }
      }
      const data = await read(image, limits.maxEntryBytes, () => {
        // The header said the entry was small enough: it lied.
        return new ZipRejectedError('entry_too_large', archive, `"${image.path}" unpacks to more than its declared size.`);
      });
      const name = image.path.slice(image.path.lastIndexOf('/') + 1);
      yield caption === undefined ? { kind: 'image', path: image.path, name, data } : { kind: 'image', path: image.path, name, data, caption };
    }
  } finally {
    zip.close();
  }
}

class CaptionTooLong extends Error {}

/** UTF-8 text without BOM, trimmed; '' becomes undefined; null when it is not UTF-8. */
function decodeCaption(bytes: Buffer): string | undefined | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
  if (/[\u0000-\u0008\u000e-\u001f]/.test(text)) return null;
  const trimmed = text.replace(/\r\n?/g, '\n').trim();
  return trimmed === '' ? undefined : trimmed;
}
