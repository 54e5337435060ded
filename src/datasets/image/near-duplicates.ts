import { hammingDistance } from './perceptual-hash.ts';
import { NEAR_DUPLICATE_MAX_DISTANCE } from './thresholds.ts';

export interface HashedImage {
  id: string;
  perceptualHash: string;
}

/**
 * Groups images whose perceptual hashes are within `maxDistance` bits, transitively (if A≈B
 * and B≈C they are one group). Only groups of two or more are returned, each in input order,
 * groups ordered by their first member, so the result is stable for a stable input.
 * O(n²) comparisons: a dataset is tens of images, at most a few hundred.
 */
export function findNearDuplicates(images: HashedImage[], maxDistance = NEAR_DUPLICATE_MAX_DISTANCE): string[][] {
  const parent = images.map((_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  for (let i = 0; i < images.length; i++) {
    for (let j = i + 1; j < images.length; j++) {
      if (hammingDistance(images[i]!.perceptualHash, images[j]!.perceptualHash) <= maxDistance) {
        const a = root(i);
        const b = root(j);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  }
  const groups = new Map<number, string[]>();
  images.forEach((image, i) => {
    const r = root(i);
    const group = groups.get(r) ?? [];
    group.push(image.id);
    groups.set(r, group);
  });
  return [...groups.entries()].filter(([, g]) => g.length > 1).sort(([a], [b]) => a - b).map(([, g]) => g);
}
