import { beforeAll, describe, expect, it } from 'vitest';
import { assessDataset, checkImage, type DatasetImage } from '../../../src/datasets/image/checks.ts';
import { findNearDuplicates } from '../../../src/datasets/image/near-duplicates.ts';
import { hammingDistance } from '../../../src/datasets/image/perceptual-hash.ts';
import { processImage, type ProcessedImage } from '../../../src/datasets/image/process-image.ts';
import { NEAR_DUPLICATE_MAX_DISTANCE } from '../../../src/datasets/image/thresholds.ts';
import * as img from '../../support/images.ts';

const run = (bytes: Buffer, name = 'x.jpg') => processImage(bytes, { name });
const codes = (p: ProcessedImage, resolution: 512 | 768 | 1024 = 512) => checkImage(p, resolution).map((b) => b.code);

let originals: Buffer[];
let sharpOnes: ProcessedImage[];
beforeAll(async () => {
  originals = await Promise.all([1, 2, 3].map((seed) => img.photoJpeg({ width: 1024, height: 768, seed })));
  sharpOnes = await Promise.all(originals.map((o) => run(o)));
});

describe('per-image thresholds, proven on synthetic images', () => {
  it('a sharp, well-exposed, big-enough photo gets no badge', () => {
    for (const p of sharpOnes) expect(checkImage(p, 512)).toEqual([]);
  });

  it('blur: the same photos blurred (sigma 8, and even sigma 2) are flagged', async () => {
    for (const o of originals) {
      expect(codes(await run(await img.blurred(o, 8)))).toEqual(['blurry']);
      expect(codes(await run(await img.blurred(o, 2)))).toEqual(['blurry']);
    }
  });

  it('exposure: darkened photos are underexposed (and not mistaken for blurry); blown-out ones overexposed', async () => {
    for (const o of originals) {
      expect(codes(await run(await img.darkened(o)))).toEqual(['underexposed']);
      expect(codes(await run(await img.brightened(o)))).toEqual(['overexposed']);
    }
  });

  it('resolution: tiny images are errors, small ones warnings, and the training resolution counts', async () => {
    const original = originals[0]!;
    const tiny = await run(await img.resized(original, 200, 200));
    expect(checkImage(tiny, 512)).toMatchObject([{ code: 'too_small', severity: 'error' }]);
    const small = await run(await img.resized(original, 300, 300));
    expect(checkImage(small, 512)).toMatchObject([{ code: 'below_recommended_size', severity: 'warning' }]);
    expect(checkImage(small, 512)[0]!.message).toMatch(/300×300/);
    // 1024×768: fine for 512 and 768, but its short side is below 1024.
    const p = sharpOnes[0]!;
    expect(codes(p, 768)).toEqual([]);
    expect(checkImage(p, 1024)).toMatchObject([{ code: 'below_training_resolution', severity: 'warning' }]);
  });

  it('aspect: 3000×600 is extreme, 16:9 is not', async () => {
    const panorama = await run(await img.photoJpeg({ width: 3000, height: 600, seed: 4 }));
    expect(codes(panorama)).toEqual(['extreme_aspect']);
    const wide = await run(await img.photoJpeg({ width: 1280, height: 720, seed: 4 }));
    expect(codes(wide)).toEqual([]);
  });

  it('transparency that was flattened is reported as information only', () => {
    const facts = { ...sharpOnes[0]!, hadAlpha: true };
    expect(checkImage(facts, 512)).toMatchObject([{ code: 'transparency_flattened', severity: 'info' }]);
  });

  it('near-duplicates: a resized, recompressed copy matches its original; different photos do not', async () => {
    for (let i = 0; i < originals.length; i++) {
      const copy = await run(await img.nearDuplicateOf(originals[i]!));
      expect(hammingDistance(copy.metrics.perceptualHash, sharpOnes[i]!.metrics.perceptualHash)).toBeLessThanOrEqual(NEAR_DUPLICATE_MAX_DISTANCE);
      for (let j = 0; j < originals.length; j++) {
        if (j === i) continue;
        expect(hammingDistance(copy.metrics.perceptualHash, sharpOnes[j]!.metrics.perceptualHash)).toBeGreaterThan(NEAR_DUPLICATE_MAX_DISTANCE * 2);
      }
    }
  });
});

describe('findNearDuplicates', () => {
  it('groups transitively, keeps input order, omits singletons', () => {
    const groups = findNearDuplicates([
      { id: 'a', perceptualHash: '0000000000000000' },
      { id: 'b', perceptualHash: 'ffffffffffffffff' },
      { id: 'c', perceptualHash: '00000000000000ff' }, // 8 bits from a
      { id: 'd', perceptualHash: '000000000000ffff' }, // 8 bits from c, 16 from a
      { id: 'e', perceptualHash: 'fffffffffffffff0' }, // 4 bits from b
      { id: 'f', perceptualHash: '0f0f0f0f0f0f0f0f' },
    ]);
    expect(groups).toEqual([
      ['a', 'c', 'd'],
      ['b', 'e'],
    ]);
  });
});

/** Facts for a clean image with a hash far from every other (seeded). */
function cleanImages(n: number): DatasetImage[] {
  let state = 12345;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8).toString(16).padStart(6, '0');
  };
  return Array.from({ length: n }, (_, i) => ({
    id: `img-${i + 1}`,
    label: `photo-${i + 1}.jpg`,
    width: 1536,
    height: 1024,
    perceptualHash: (next() + next() + next()).slice(0, 16),
    metrics: { sharpness: 800, meanLuma: 120, clippedDark: 0, clippedBright: 0, aspect: 1.5 },
  }));
}

describe('assessDataset', () => {
  it('is ready with 15–20 clean, varied images', () => {
    const images = cleanImages(18);
    expect(findNearDuplicates(images)).toEqual([]);
    const report = assessDataset(images, 1024);
    expect(report.readiness).toEqual({ ready: true, canTrain: true, verdict: 'ready', topFixes: [] });
    expect(report.badges).toEqual([]);
  });

  it('blocks fewer than 10 images, explaining why', () => {
    const report = assessDataset(cleanImages(9), 1024);
    expect(report.readiness).toMatchObject({ ready: false, canTrain: false, verdict: 'blocked' });
    expect(report.badges).toMatchObject([{ code: 'too_few_images', severity: 'error' }]);
    expect(report.badges[0]!.message).toMatch(/memorises/);
    expect(report.readiness.topFixes[0]).toMatch(/Add 1 more image/);
  });

  it('asks for attention below 15 and above 50, but allows training', () => {
    const few = assessDataset(cleanImages(12), 1024);
    expect(few.readiness).toMatchObject({ canTrain: true, verdict: 'needs_attention' });
    expect(few.badges).toMatchObject([{ code: 'fewer_than_recommended' }]);
    const many = assessDataset(cleanImages(51), 1024);
    expect(many.readiness).toMatchObject({ canTrain: true, verdict: 'needs_attention' });
    expect(many.badges).toMatchObject([{ code: 'too_many_images', severity: 'warning' }]);
    const some = assessDataset(cleanImages(30), 1024);
    expect(some.readiness.verdict).toBe('ready');
    expect(some.badges).toMatchObject([{ code: 'more_than_recommended', severity: 'info' }]);
  });

  it('marks near-duplicates with the names of the matching images and flags low variety', () => {
    const images = cleanImages(15);
    for (const i of [1, 2, 3]) images[i]!.perceptualHash = images[0]!.perceptualHash;
    const report = assessDataset(images, 1024);
    expect(report.nearDuplicateGroups).toEqual([['img-1', 'img-2', 'img-3', 'img-4']]);
    expect(report.duplicateRatio).toBeCloseTo(3 / 15);
    expect(report.badges).toEqual([]); // 20% is at the limit, not above it
    const first = report.images[0]!.badges;
    expect(first).toMatchObject([{ code: 'near_duplicate', severity: 'warning' }]);
    expect(first[0]!.message).toContain('photo-2.jpg, photo-3.jpg, photo-4.jpg');
    expect(report.readiness.topFixes).toEqual([expect.stringMatching(/3 images repeat/)]);

    images[4]!.perceptualHash = images[0]!.perceptualHash;
    expect(assessDataset(images, 1024).badges).toMatchObject([{ code: 'low_variety', severity: 'warning' }]);
  });

  it('blocks on an unusable image and orders fixes by importance', () => {
    const images = cleanImages(16);
    images[0] = { ...images[0]!, width: 200, height: 200 };
    images[1] = { ...images[1]!, metrics: { ...images[1]!.metrics, sharpness: 10 } };
    images[2] = { ...images[2]!, metrics: { ...images[2]!.metrics, sharpness: 10 } };
    images[3] = { ...images[3]!, width: 3000, height: 800, metrics: { ...images[3]!.metrics, aspect: 3.75 } };
    const report = assessDataset(images, 1024);
    expect(report.readiness).toMatchObject({ ready: false, canTrain: false, verdict: 'blocked' });
    expect(report.readiness.topFixes).toEqual([
      expect.stringMatching(/Replace 1 image that is too small/),
      expect.stringMatching(/Replace 2 blurry images/),
      expect.stringMatching(/smaller than the training resolution/),
      expect.stringMatching(/Crop 1 very wide or tall image/),
    ]);
  });
});
