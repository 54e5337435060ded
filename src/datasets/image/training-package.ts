import { Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import sharp from 'sharp';
import yazl from 'yazl';
import { PACKAGE_JPEG_QUALITY, type TrainingResolution } from './thresholds.ts';

/**
 * Builds the zip the LoRA trainer downloads: `0001.jpg` + `0001.txt`, … Deterministic (the
 * same items give byte-identical output, so a package can be cached and compared by hash)
 * and streamed (one image in memory at a time, produced when the zip writer needs it).
 */
export interface PackageItem {
  /** Orders the package (compared as plain strings); must be unique, e.g. the image id or a padded position. */
  key: string;
  /** The stored normalized image (any format sharp reads; our stored copies are JPEG). */
  loadImage: () => Promise<Buffer>;
  /** Written as a same-name .txt; none when absent or blank (the trainer then autocaptions). */
  caption?: string | null;
}

export interface PackagedEntry {
  key: string;
  image: string;
  caption: string | undefined;
  width: number;
  height: number;
}

/**
 * DOS timestamps in a zip are local wall-clock fields: a date built from local fields, at
 * the time of use, gives the same fields in every time zone (the Unix-time extra field is off).
 */
const fixedMtime = () => new Date(2000, 0, 1, 0, 0, 0);
const FILE_MODE = 0o100644;

/**
 * The size an image is packaged at: its shorter side brought down to the training
 * resolution (the trainer's buckets crop towards that), its longer side at most twice the
 * resolution, and never enlarged (enlarging adds bytes, not detail).
 */
export function packageSize(width: number, height: number, resolution: TrainingResolution): { width: number; height: number } {
  const scale = Math.min(1, resolution / Math.min(width, height), (2 * resolution) / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

async function packageImage(source: Buffer, resolution: TrainingResolution) {
  const meta = await sharp(source).metadata();
  const width = meta.autoOrient.width;
  const height = meta.autoOrient.height;
  const target = packageSize(width, height, resolution);
  const untouched = target.width === width && target.height === height;
  // Already the right size and a clean JPEG: copy it, re-encoding would only lose quality.
  if (untouched && meta.format === 'jpeg' && !meta.exif && !meta.icc && !meta.xmp && !meta.iptc) {
    return { data: source, ...target };
  }
  const data = await sharp(source, { autoOrient: true })
    .resize(target.width, target.height, { fit: 'fill' })
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .jpeg({ quality: PACKAGE_JPEG_QUALITY })
    .toBuffer();
  return { data, ...target };
}

const cleanCaption = (caption: string | null | undefined) => {
  const text = caption?.replace(/\r\n?/g, '\n').trim();
  return text ? text : undefined;
};

/** Writes the package to `output` and resolves when it is finished; on failure `output` is destroyed. */
export async function writeTrainingPackage(
  items: PackageItem[],
  options: { resolution: TrainingResolution },
  output: Writable,
): Promise<PackagedEntry[]> {
  const sorted = [...items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.key === sorted[i - 1]!.key) throw new Error(`duplicate package key ${sorted[i]!.key}`);
  }
  const digits = Math.max(4, String(sorted.length).length);
  const zip = new yazl.ZipFile();
  const entries: PackagedEntry[] = [];
  const fileOptions = { mtime: fixedMtime(), mode: FILE_MODE, compress: false, forceDosTimestamp: true };

  const failed = new Promise<never>((_, reject) => {
    zip.on('error', reject);
    output.on('error', reject);
  });
  failed.catch(() => {}); // handled by the race below; this only silences a late rejection
  zip.outputStream.pipe(output);

  sorted.forEach((item, index) => {
    const stem = String(index + 1).padStart(digits, '0');
    const caption = cleanCaption(item.caption);
    const entry: PackagedEntry = { key: item.key, image: `${stem}.jpg`, caption: caption === undefined ? undefined : `${stem}.txt`, width: 0, height: 0 };
    entries.push(entry);
    zip.addReadStreamLazy(entry.image, fileOptions, (callback) => {
      item
        .loadImage()
        .then((source) => packageImage(source, options.resolution))
        .then(
          (image) => {
            entry.width = image.width;
            entry.height = image.height;
            callback(null, Readable.from([image.data]));
          },
          (error: unknown) => callback(error, Readable.from([])),
        );
    });
    if (caption !== undefined) zip.addBuffer(Buffer.from(caption, 'utf8'), `${stem}.txt`, fileOptions);
  });
  zip.end();

  try {
    await Promise.race([finished(output), failed]);
  } catch (error) {
    // Half a zip is of no use to anyone: make sure the destination is not mistaken for one.
    zip.outputStream.unpipe(output);
    output.destroy(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
  return entries;
}
