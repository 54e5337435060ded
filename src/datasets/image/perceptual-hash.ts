/**
 * A 64-bit DCT perceptual hash (the "pHash" family): the signs of the lowest spatial
 * frequencies of a 32×32 greyscale thumbnail relative to their median. Re-compression,
 * resizing and small brightness changes keep it within a few bits; different scenes land
 * about 32 bits apart.
 */
export const HASH_INPUT_SIZE = 32;
const LOW = 8;

const cosTable = (() => {
  const t = new Float64Array(LOW * HASH_INPUT_SIZE);
  for (let k = 0; k < LOW; k++) {
    for (let n = 0; n < HASH_INPUT_SIZE; n++) t[k * HASH_INPUT_SIZE + n] = Math.cos((Math.PI / HASH_INPUT_SIZE) * (n + 0.5) * k);
  }
  return t;
})();

/** `pixels`: 32×32 single-channel values, row-major. Returns 16 lowercase hex digits. */
export function perceptualHash(pixels: Uint8Array): string {
  const N = HASH_INPUT_SIZE;
  if (pixels.length !== N * N) throw new Error(`perceptualHash needs ${N * N} grey pixels, got ${pixels.length}`);
  // Separable 2-D DCT-II, only the 8×8 lowest frequencies are needed.
  const rows = new Float64Array(N * LOW);
  for (let y = 0; y < N; y++) {
    for (let k = 0; k < LOW; k++) {
      let s = 0;
      for (let x = 0; x < N; x++) s += pixels[y * N + x]! * cosTable[k * N + x]!;
      rows[y * LOW + k] = s;
    }
  }
  const coeffs = new Float64Array(LOW * LOW);
  for (let ky = 0; ky < LOW; ky++) {
    for (let kx = 0; kx < LOW; kx++) {
      let s = 0;
      for (let y = 0; y < N; y++) s += rows[y * LOW + kx]! * cosTable[ky * N + y]!;
      coeffs[ky * LOW + kx] = s;
    }
  }
  // The DC term only encodes overall brightness: leave it out of the median.
  const ac = Array.from(coeffs.subarray(1)).sort((a, b) => a - b);
  const median = (ac[31]! + ac[32]!) / 2;
  let hex = '';
  for (let nibble = 0; nibble < 16; nibble++) {
    let v = 0;
    for (let b = 0; b < 4; b++) {
      const i = nibble * 4 + b;
      const bit = i === 0 ? 0 : coeffs[i]! > median ? 1 : 0;
      v = (v << 1) | bit;
    }
    hex += v.toString(16);
  }
  return hex;
}

/** Number of differing bits between two 64-bit hex hashes. */
export function hammingDistance(a: string, b: string): number {
  let x = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let count = 0;
  while (x > 0n) {
    x &= x - 1n;
    count++;
  }
  return count;
}
