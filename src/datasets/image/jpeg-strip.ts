/**
 * Removes metadata from a JPEG without re-encoding it: the segments before the image data are
 * copied except EXIF/XMP (APP1), IPTC/Photoshop (APP13), other application segments and comments.
 * The compressed image data is copied byte for byte, so the stored photo loses no quality and no
 * CPU is spent encoding it again. Returns null when the file is not a plain JPEG this can handle
 * safely (the caller then re-encodes): colour profiles (APP2 ICC) change how pixels look, so
 * they are never dropped silently.
 */
const SOI = 0xd8;
const SOS = 0xda;
const APP0 = 0xe0;
const APP2 = 0xe2;
const APP14 = 0xee;
const COM = 0xfe;

/** What to keep: header ranges [start, end) before the image data, which starts at `sos`. */
export interface JpegStripPlan {
  keep: Array<[number, number]>;
  sos: number;
}

/** Finds what stripping would keep, without copying anything; null when the file cannot be stripped safely. */
export function planJpegStrip(bytes: Buffer): JpegStripPlan | null {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI) return null;
  const keep: Array<[number, number]> = [[0, 2]];
  const keepRange = (start: number, end: number) => {
    const last = keep[keep.length - 1]!;
    if (last[1] === start) last[1] = end;
    else keep.push([start, end]);
  };
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return null;
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    // From SOS on it is entropy-coded image data (and the markers inside it): all of it is kept.
    if (marker === SOS) return { keep, sos: offset };
    const length = bytes.readUInt16BE(offset + 2);
    if (length < 2 || offset + 2 + length > bytes.length) return null;
    if (marker === APP2 && bytes.subarray(offset + 4, offset + 15).toString('latin1') === 'ICC_PROFILE') return null;
    // APP0 (JFIF) and APP14 (Adobe: how to interpret the colour channels) describe the pixels;
    // every other APPn and comments are metadata.
    const isMetadata = (marker > APP0 && marker <= 0xef && marker !== APP14) || marker === COM;
    if (!isMetadata) keepRange(offset, offset + 2 + length);
    offset += 2 + length;
  }
  return null;
}

/**
 * The stripped JPEG. A file without metadata comes back as `bytes` itself (nothing is copied).
 * With `reuseInput`, the kept header segments are moved up against the image data inside `bytes`
 * and a view of it is returned, so a 12 MP photo is not copied just to drop a few kilobytes of
 * EXIF; `bytes` no longer holds the original afterwards. Otherwise a new buffer is made.
 */
export function applyJpegStrip(bytes: Buffer, plan: JpegStripPlan, options: { reuseInput?: boolean } = {}): Buffer {
  const { keep, sos } = plan;
  if (keep.length === 1 && keep[0]![0] === 0 && keep[0]![1] === sos) return bytes;
  if (!options.reuseInput) return Buffer.concat([...keep.map(([s, e]) => bytes.subarray(s, e)), bytes.subarray(sos)]);
  // Right to left: each range moves right (towards the image data) and never over a range not yet moved.
  let to = sos;
  for (let i = keep.length - 1; i >= 0; i--) {
    const [start, end] = keep[i]!;
    to -= end - start;
    bytes.copy(bytes, to, start, end);
  }
  return bytes.subarray(to);
}

export function stripJpegMetadata(bytes: Buffer): Buffer | null {
  const plan = planJpegStrip(bytes);
  return plan && applyJpegStrip(bytes, plan);
}
