/**
 * Decides what a file is from its first bytes only. File names and Content-Type headers are
 * chosen by whoever sends the file, so they are never consulted.
 */
export type AcceptedImageFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'heic';

export type SniffResult =
  | { kind: 'image'; format: AcceptedImageFormat }
  | { kind: 'zip' }
  | { kind: 'refused'; code: 'empty_file' | 'unsupported_type'; detected: string; reason: string };

const ACCEPTED_LIST = 'JPEG, PNG, WebP or AVIF';

const startsWith = (b: Uint8Array, bytes: number[], at = 0) =>
  b.length >= at + bytes.length && bytes.every((v, i) => b[at + i] === v);
const ascii = (b: Uint8Array, from: number, to: number) => Buffer.from(b.subarray(from, to)).toString('latin1');

const refused = (detected: string, reason: string): SniffResult => ({ kind: 'refused', code: 'unsupported_type', detected, reason });

const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);
const VIDEO_BRANDS = new Set(['isom', 'iso2', 'mp41', 'mp42', 'qt  ', 'M4V ', 'M4A ', '3gp4', '3gp5', 'avc1', 'dash']);

/** ISO base media files (AVIF, HEIC, MP4, MOV) name their flavour in the `ftyp` box. */
function sniffFtyp(b: Uint8Array): SniffResult {
  const boxSize = Buffer.from(b.subarray(0, 4)).readUInt32BE(0);
  const end = Math.min(b.length, Math.max(16, boxSize));
  const brands = [ascii(b, 8, 12)];
  for (let at = 16; at + 4 <= end; at += 4) brands.push(ascii(b, at, at + 4));
  if (brands.some((x) => AVIF_BRANDS.has(x))) return { kind: 'image', format: 'avif' };
  if (brands.some((x) => HEIC_BRANDS.has(x))) return { kind: 'image', format: 'heic' };
  if (brands.some((x) => VIDEO_BRANDS.has(x))) return refused('video', `This is a video, not a photo. Upload ${ACCEPTED_LIST} images.`);
  return refused('iso-media', `This file type (${brands[0]!.trim() || 'unknown'}) is not supported. Upload ${ACCEPTED_LIST} images.`);
}

function looksLikeMarkup(b: Uint8Array): string | undefined {
  let text = ascii(b, 0, Math.min(b.length, 1024));
  if (text.startsWith('\u00ef\u00bb\u00bf')) text = text.slice(3);
  text = text.trimStart().toLowerCase();
  if (!text.startsWith('<')) return undefined;
  if (text.includes('<svg')) return 'svg';
  if (text.includes('<html') || text.startsWith('<!doctype html')) return 'html';
  return 'xml';
}

/** `head`: at least the first 64 bytes of the file (more is fine). */
export function sniff(head: Uint8Array): SniffResult {
  if (head.length === 0) return { kind: 'refused', code: 'empty_file', detected: 'empty', reason: 'The file is empty (0 bytes).' };
  if (startsWith(head, [0xff, 0xd8, 0xff])) return { kind: 'image', format: 'jpeg' };
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { kind: 'image', format: 'png' };
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return { kind: 'image', format: 'webp' };
  if (head.length >= 12 && ascii(head, 4, 8) === 'ftyp') return sniffFtyp(head);
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04]) || startsWith(head, [0x50, 0x4b, 0x05, 0x06])) return { kind: 'zip' };

  if (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a')
    return refused('gif', `GIF images are limited to 256 colours and are usually animations, which makes them poor training material. Convert it to ${ACCEPTED_LIST}.`);
  if (startsWith(head, [0x49, 0x49, 0x2a, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2a]))
    return refused('tiff', `TIFF and camera RAW files are not supported. Export the photo as JPEG or PNG.`);
  if (ascii(head, 0, 2) === 'BM') return refused('bmp', `BMP images are not supported. Convert it to ${ACCEPTED_LIST}.`);
  if (ascii(head, 0, 5) === '%PDF-') return refused('pdf', `This is a PDF document, not an image.`);
  if (ascii(head, 0, 4) === '8BPS') return refused('psd', `Photoshop files are not supported. Export the image as JPEG or PNG.`);
  if (startsWith(head, [0xff, 0x0a]) || startsWith(head, [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20]))
    return refused('jxl', `JPEG XL images are not supported yet. Export the image as ${ACCEPTED_LIST}.`);
  if (startsWith(head, [0x1f, 0x8b]) || ascii(head, 0, 6) === '7z\u00bc\u00af\u0027\u001c' || ascii(head, 0, 4) === 'Rar!')
    return refused('archive', `Only .zip archives are supported.`);
  const markup = looksLikeMarkup(head);
  if (markup === 'svg')
    return refused('svg', `SVG drawings are not accepted: they can carry scripts and are not photos. Export it as PNG.`);
  if (markup) return refused(markup, `This is a ${markup.toUpperCase()} document, not an image.`);
  return refused('unknown', `This is not a supported image. Upload ${ACCEPTED_LIST} images.`);
}
