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

export function stripJpegMetadata(bytes: Buffer): Buffer | null {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI) return null;
  const kept: Buffer[] = [bytes.subarray(0, 2)];
  let offset = 2;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return null;
    const marker = bytes[offset + 1]!;
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    if (marker === SOS) {
      // From here on it is entropy-coded image data (and the markers inside it): keep all of it.
      kept.push(bytes.subarray(offset));
      return Buffer.concat(kept);
    }
    const length = bytes.readUInt16BE(offset + 2);
    if (length < 2 || offset + 2 + length > bytes.length) return null;
    const segment = bytes.subarray(offset, offset + 2 + length);
    if (marker === APP2 && segment.subarray(4, 15).toString('latin1') === 'ICC_PROFILE') return null;
    // APP0 (JFIF) and APP14 (Adobe: how to interpret the colour channels) describe the pixels;
    // every other APPn and comments are metadata.
    const isMetadata = (marker > APP0 && marker <= 0xef && marker !== APP14) || marker === COM;
    if (!isMetadata) kept.push(segment);
    offset += 2 + length;
  }
  return null;
}
