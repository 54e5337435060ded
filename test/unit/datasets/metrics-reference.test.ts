import { describe, expect, it } from 'vitest';
import { histogram, lumaMetrics, sharpnessMetrics } from '../../../src/datasets/image/metrics.ts';

/**
 * The straightforward per-pixel version of sharpnessMetrics that the thresholds were calibrated
 * with. The production version computes tile borders once (it runs on the event loop for every
 * upload); it must give exactly the same numbers, not merely close ones.
 */
function referenceSharpness(gray: Uint8Array, width: number, height: number) {
  if (width < 3 || height < 3) return { sharpness: 0, globalLaplacianVariance: 0 };
  const hist = new Uint32Array(256);
  for (const v of gray) hist[v]!++;
  const pct = (p: number) => {
    let acc = 0;
    for (let v = 0; v < 256; v++) if ((acc += hist[v]!) >= gray.length * p) return v;
    return 255;
  };
  const gain = 255 / Math.max(pct(0.99) - pct(0.01), 64);
  const tilesX = Math.min(8, width - 2);
  const tilesY = Math.min(8, height - 2);
  const sums = new Float64Array(tilesX * tilesY);
  const squares = new Float64Array(tilesX * tilesY);
  const counts = new Float64Array(tilesX * tilesY);
  let gSum = 0;
  let gSq = 0;
  for (let y = 1; y < height - 1; y++) {
    const ty = Math.min(tilesY - 1, Math.floor(((y - 1) * tilesY) / (height - 2)));
    for (let x = 1; x < width - 1; x++) {
      const i = y * width + x;
      const lap = (4 * gray[i]! - gray[i - 1]! - gray[i + 1]! - gray[i - width]! - gray[i + width]!) * gain;
      const t = ty * tilesX + Math.min(tilesX - 1, Math.floor(((x - 1) * tilesX) / (width - 2)));
      sums[t]! += lap;
      squares[t]! += lap * lap;
      counts[t]!++;
      gSum += lap;
      gSq += lap * lap;
    }
  }
  const variances: number[] = [];
  for (let t = 0; t < sums.length; t++) {
    if (counts[t] === 0) continue;
    const mean = sums[t]! / counts[t]!;
    variances.push(squares[t]! / counts[t]! - mean * mean);
  }
  variances.sort((a, b) => b - a);
  const take = Math.max(1, Math.round(variances.length * 0.1));
  let top = 0;
  for (let i = 0; i < take; i++) top += variances[i]!;
  const n = (width - 2) * (height - 2);
  return { sharpness: top / take, globalLaplacianVariance: gSq / n - (gSum / n) ** 2 };
}

/** Deterministic pseudo-random grey image: noise over a gradient, so every tile differs. */
function image(width: number, height: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = Math.min(255, ((i % width) * 3 + Math.floor(i / width)) % 200 + (s >>> 27));
  }
  return out;
}

describe('sharpnessMetrics matches the per-pixel reference exactly', () => {
  // Odd sizes, sizes smaller than the 8×8 grid, and the analysis image's usual shapes.
  const sizes: Array<[number, number]> = [[3, 3], [4, 7], [9, 5], [10, 10], [17, 13], [101, 77], [640, 480], [1024, 768], [768, 1024], [1023, 3]];
  for (const [w, h] of sizes) {
    it(`${w}×${h}`, () => {
      for (const seed of [1, 2, 3]) {
        const gray = image(w, h, seed);
        expect(sharpnessMetrics(gray, w, h)).toStrictEqual(referenceSharpness(gray, w, h));
        expect(sharpnessMetrics(gray, w, h, histogram(gray))).toStrictEqual(referenceSharpness(gray, w, h));
      }
    });
  }

  it('lumaMetrics gives the same with a shared histogram', () => {
    const gray = image(300, 200, 9);
    expect(lumaMetrics(gray, histogram(gray))).toStrictEqual(lumaMetrics(gray));
  });
});
