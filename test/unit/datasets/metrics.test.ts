import { describe, expect, it } from 'vitest';
import { lumaMetrics, sharpnessMetrics } from '../../../src/datasets/image/metrics.ts';
import { hammingDistance, perceptualHash } from '../../../src/datasets/image/perceptual-hash.ts';

const filled = (n: number, value: number | ((i: number) => number)) => Uint8Array.from({ length: n }, (_, i) => (typeof value === 'number' ? value : value(i)));

describe('lumaMetrics', () => {
  it('measures mean brightness and clipped shares', () => {
    expect(lumaMetrics(filled(100, 0))).toEqual({ meanLuma: 0, clippedDark: 1, clippedBright: 0 });
    expect(lumaMetrics(filled(100, 255))).toEqual({ meanLuma: 255, clippedDark: 0, clippedBright: 1 });
    const half = lumaMetrics(filled(100, (i) => (i < 25 ? 0 : 128)));
    expect(half.clippedDark).toBe(0.25);
    expect(half.meanLuma).toBe(96);
  });
});

describe('sharpnessMetrics', () => {
  it('is zero on a flat image and high on a checkerboard', () => {
    expect(sharpnessMetrics(filled(64 * 64, 128), 64, 64).sharpness).toBe(0);
    const checker = filled(64 * 64, (i) => (((i % 64) + Math.floor(i / 64)) % 2 ? 255 : 0));
    expect(sharpnessMetrics(checker, 64, 64).sharpness).toBeGreaterThan(100_000);
  });

  it('rates an image by its sharpest region, so a sharp subject on a soft background stays sharp', () => {
    const w = 200;
    // Left 90%: smooth gradient. Right 10%: fine detail.
    const img = filled(w * w, (i) => {
      const x = i % w;
      const y = Math.floor(i / w);
      return x < 180 ? x : (x + y) % 2 ? 200 : 50;
    });
    const m = sharpnessMetrics(img, w, w);
    expect(m.sharpness).toBeGreaterThan(5 * m.globalLaplacianVariance);
  });

  it('does not crash on images too small to measure', () => {
    expect(sharpnessMetrics(filled(4, 9), 2, 2).sharpness).toBe(0);
  });
});

describe('perceptualHash', () => {
  it('is 64 bits, brightness-independent for a uniform shift, and rejects wrong input sizes', () => {
    const base = filled(1024, (i) => ((i % 32) * 4 + Math.floor(i / 32) * 3) % 200);
    const brighter = base.map((v) => v + 40);
    expect(perceptualHash(base)).toMatch(/^[0-9a-f]{16}$/);
    expect(perceptualHash(brighter)).toBe(perceptualHash(base));
    expect(() => perceptualHash(filled(100, 0))).toThrow(/1024/);
  });

  it('hammingDistance counts differing bits', () => {
    expect(hammingDistance('0000000000000000', '0000000000000000')).toBe(0);
    expect(hammingDistance('0000000000000000', 'ffffffffffffffff')).toBe(64);
    expect(hammingDistance('8000000000000001', '0000000000000000')).toBe(2);
  });
});
