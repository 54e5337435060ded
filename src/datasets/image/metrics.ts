/**
 * Quality measurements on one greyscale analysis image (see ANALYSIS_LONG_SIDE). Pure
 * functions over pixels so they are cheap to test and do not depend on sharp.
 */
export interface LumaMetrics {
  /** Mean brightness, 0 (black) to 255 (white). */
  meanLuma: number;
  /** Fraction of pixels that are (nearly) pure black / pure white. */
  clippedDark: number;
  clippedBright: number;
}

export interface SharpnessMetrics {
  /**
   * Variance of the Laplacian in the sharpest tenth of the picture, after stretching the
   * contrast to the full range. Taking the sharp regions (not the whole frame) keeps a
   * portrait with a soft background "sharp"; stretching keeps a dark photo from also
   * counting as blurry.
   */
  sharpness: number;
  /** The plain, whole-frame variance of the Laplacian (for diagnostics). */
  globalLaplacianVariance: number;
}

export const CLIP_DARK_LEVEL = 8;
export const CLIP_BRIGHT_LEVEL = 247;
const GRID = 8;
const SHARPEST_FRACTION = 0.1;

/** Counts of each grey level; computed once per image and shared by both measurements. */
export function histogram(gray: Uint8Array): Uint32Array {
  const h = new Uint32Array(256);
  for (let i = 0; i < gray.length; i++) h[gray[i]!]!++;
  return h;
}

function percentile(hist: Uint32Array, total: number, p: number): number {
  const target = total * p;
  let acc = 0;
  for (let v = 0; v < 256; v++) {
    acc += hist[v]!;
    if (acc >= target) return v;
  }
  return 255;
}

export function lumaMetrics(gray: Uint8Array, hist: Uint32Array = histogram(gray)): LumaMetrics {
  let sum = 0;
  let dark = 0;
  let bright = 0;
  for (let v = 0; v < 256; v++) {
    const n = hist[v]!;
    sum += v * n;
    if (v <= CLIP_DARK_LEVEL) dark += n;
    if (v >= CLIP_BRIGHT_LEVEL) bright += n;
  }
  const total = Math.max(1, gray.length);
  return { meanLuma: sum / total, clippedDark: dark / total, clippedBright: bright / total };
}

export function sharpnessMetrics(gray: Uint8Array, width: number, height: number, hist: Uint32Array = histogram(gray)): SharpnessMetrics {
  if (width < 3 || height < 3) return { sharpness: 0, globalLaplacianVariance: 0 };
  const low = percentile(hist, gray.length, 0.01);
  const high = percentile(hist, gray.length, 0.99);
  // Never stretch more than 4× so that a nearly flat image does not turn its noise into "detail".
  const gain = 255 / Math.max(high - low, 64);

  const tilesX = Math.min(GRID, width - 2);
  const tilesY = Math.min(GRID, height - 2);
  const sums = new Float64Array(tilesX * tilesY);
  const squares = new Float64Array(tilesX * tilesY);
  const counts = new Float64Array(tilesX * tilesY);
  // Tile borders computed once instead of two divisions per pixel (this runs on the event loop
  // for every upload). Pixel x (1 ≤ x ≤ width-2) is in tile column min(tilesX-1, floor((x-1)·tilesX/(width-2))).
  const columnStart = new Int32Array(tilesX + 1);
  for (let tx = 0, x = 1; tx < tilesX; tx++) {
    columnStart[tx] = x;
    while (x < width - 1 && (tx === tilesX - 1 || Math.floor(((x - 1) * tilesX) / (width - 2)) <= tx)) x++;
    columnStart[tx + 1] = x;
  }
  let gSum = 0;
  let gSq = 0;
  for (let y = 1; y < height - 1; y++) {
    const ty = Math.min(tilesY - 1, Math.floor(((y - 1) * tilesY) / (height - 2)));
    const row = y * width;
    for (let tx = 0; tx < tilesX; tx++) {
      const t = ty * tilesX + tx;
      const end = row + columnStart[tx + 1]!;
      // Accumulated pixel by pixel in the same order as before, so the results are bit-identical.
      let s = sums[t]!;
      let q = squares[t]!;
      for (let i = row + columnStart[tx]!; i < end; i++) {
        const lap = (4 * gray[i]! - gray[i - 1]! - gray[i + 1]! - gray[i - width]! - gray[i + width]!) * gain;
        s += lap;
        q += lap * lap;
        gSum += lap;
        gSq += lap * lap;
      }
      sums[t] = s;
      squares[t] = q;
      counts[t]! += columnStart[tx + 1]! - columnStart[tx]!;
    }
  }
  const variances: number[] = [];
  for (let t = 0; t < sums.length; t++) {
    const n = counts[t]!;
    if (n === 0) continue;
    const mean = sums[t]! / n;
    variances.push(squares[t]! / n - mean * mean);
  }
  variances.sort((a, b) => b - a);
  const take = Math.max(1, Math.round(variances.length * SHARPEST_FRACTION));
  let top = 0;
  for (let i = 0; i < take; i++) top += variances[i]!;
  const n = (width - 2) * (height - 2);
  const gMean = gSum / n;
  return { sharpness: top / take, globalLaplacianVariance: gSq / n - gMean * gMean };
}
