import type { ImageMetrics } from './process-image.ts';
import { findNearDuplicates } from './near-duplicates.ts';
import {
  MAX_ASPECT_RATIO,
  MAX_CLIPPED_BRIGHT,
  MAX_CLIPPED_DARK,
  MAX_DUPLICATE_RATIO,
  MIN_RECOMMENDED_SIDE,
  MIN_USABLE_SIDE,
  OVEREXPOSED_MEAN_LUMA,
  RECOMMENDED_MAX_IMAGES,
  RECOMMENDED_MIN_IMAGES,
  REQUIRED_MIN_IMAGES,
  SHARPNESS_BLURRY,
  UNDEREXPOSED_MEAN_LUMA,
  WARN_ABOVE_IMAGES,
  type TrainingResolution,
} from './thresholds.ts';

/**
 * The dataset doctor's judgement, as badges with plain-language reasons. Severity:
 * `error` = objectively unusable, blocks training until removed; `warning` = likely to
 * hurt the model, the user decides; `info` = worth knowing. Heuristics (blur, exposure,
 * duplicates) are never errors, because a heuristic can be wrong about a deliberate image.
 */
export type Severity = 'error' | 'warning' | 'info';

export type ImageBadgeCode =
  | 'too_small'
  | 'below_recommended_size'
  | 'below_training_resolution'
  | 'blurry'
  | 'underexposed'
  | 'overexposed'
  | 'extreme_aspect'
  | 'near_duplicate'
  | 'transparency_flattened';

export type DatasetBadgeCode = 'too_few_images' | 'fewer_than_recommended' | 'more_than_recommended' | 'too_many_images' | 'low_variety';

export interface Badge<Code extends string = ImageBadgeCode> {
  code: Code;
  severity: Severity;
  message: string;
}

export interface ImageFacts {
  /** Upright size of the original upload. */
  width: number;
  height: number;
  hadAlpha?: boolean;
  metrics: Pick<ImageMetrics, 'sharpness' | 'meanLuma' | 'clippedDark' | 'clippedBright' | 'aspect'>;
}

const pct = (x: number) => `${Math.round(x * 100)}%`;

/** The checks that need only the image itself (everything except near-duplicates). */
export function checkImage(image: ImageFacts, resolution: TrainingResolution): Badge[] {
  const badges: Badge[] = [];
  const short = Math.min(image.width, image.height);
  const size = `${image.width}×${image.height}`;
  const m = image.metrics;

  if (short < MIN_USABLE_SIDE) {
    badges.push({
      code: 'too_small',
      severity: 'error',
      message: `Too small (${size}): there is not enough detail to learn from. Replace it with a larger version (at least ${MIN_RECOMMENDED_SIDE}×${MIN_RECOMMENDED_SIDE}).`,
    });
  } else if (short < MIN_RECOMMENDED_SIDE) {
    badges.push({
      code: 'below_recommended_size',
      severity: 'warning',
      message: `Small image (${size}): the guide recommends at least ${MIN_RECOMMENDED_SIDE}×${MIN_RECOMMENDED_SIDE}. It will be enlarged for training and look soft.`,
    });
  } else if (short < resolution) {
    badges.push({
      code: 'below_training_resolution',
      severity: 'warning',
      message: `Its shorter side (${short} px) is below the ${resolution} px training resolution, so the trainer will enlarge it and detail will be soft. Use a larger original or a lower resolution.`,
    });
  }

  if (m.sharpness < SHARPNESS_BLURRY) {
    badges.push({
      code: 'blurry',
      severity: 'warning',
      message: 'Looks blurry or out of focus. The model learns blur too: replace it with a sharp photo.',
    });
  }

  if (m.meanLuma < UNDEREXPOSED_MEAN_LUMA || m.clippedDark > MAX_CLIPPED_DARK) {
    badges.push({
      code: 'underexposed',
      severity: 'warning',
      message: `Too dark (${pct(m.clippedDark)} of it is pure black). Details in the shadows are lost; use a well-lit photo.`,
    });
  } else if (m.meanLuma > OVEREXPOSED_MEAN_LUMA || m.clippedBright > MAX_CLIPPED_BRIGHT) {
    badges.push({
      code: 'overexposed',
      severity: 'warning',
      message: `Too bright (${pct(m.clippedBright)} of it is pure white), so detail is washed out. If it is a plain white background on purpose, you can ignore this.`,
    });
  }

  if (m.aspect > MAX_ASPECT_RATIO) {
    badges.push({
      code: 'extreme_aspect',
      severity: 'warning',
      message: `Very ${image.width > image.height ? 'wide' : 'tall'} (${m.aspect.toFixed(1)}:1). Training crops towards a square, so most of it would be cut off; crop it around the subject first.`,
    });
  }

  if (image.hadAlpha) {
    badges.push({
      code: 'transparency_flattened',
      severity: 'info',
      message: 'Transparent areas were filled with white.',
    });
  }
  return badges;
}

export interface DatasetImage extends ImageFacts {
  id: string;
  /** What the user calls it (file name), used in messages about other images. */
  label: string;
  perceptualHash: string;
}

export type Verdict = 'ready' | 'needs_attention' | 'blocked';

export interface Readiness {
  /** Nothing to fix: every image is clean and the count is in the recommended range. */
  ready: boolean;
  /** Training may start (warnings are the user's call, errors are not). */
  canTrain: boolean;
  verdict: Verdict;
  /** At most five, most important first, each phrased as something to do. */
  topFixes: string[];
}

export interface DatasetReport {
  images: { id: string; badges: Badge[] }[];
  /** Groups of image ids that look nearly identical. */
  nearDuplicateGroups: string[][];
  count: number;
  /** Images beyond the first of each near-duplicate group, ÷ count. */
  duplicateRatio: number;
  badges: Badge<DatasetBadgeCode>[];
  readiness: Readiness;
}

const MAX_FIXES = 5;

function countBadge(count: number): Badge<DatasetBadgeCode> | undefined {
  const range = `${RECOMMENDED_MIN_IMAGES}–${RECOMMENDED_MAX_IMAGES}`;
  if (count < REQUIRED_MIN_IMAGES) {
    return {
      code: 'too_few_images',
      severity: 'error',
      message: `${count} image${count === 1 ? '' : 's'}: at least ${REQUIRED_MIN_IMAGES} are needed, because with fewer the model memorises those exact pictures instead of learning the subject. ${range} are recommended.`,
    };
  }
  if (count < RECOMMENDED_MIN_IMAGES) {
    return { code: 'fewer_than_recommended', severity: 'warning', message: `${count} images: training works, but ${range} give noticeably better results.` };
  }
  if (count > WARN_ABOVE_IMAGES) {
    return {
      code: 'too_many_images',
      severity: 'warning',
      message: `${count} images: more than ${WARN_ABOVE_IMAGES} makes training longer and costlier with little gain. Keep the best ${range}.`,
    };
  }
  if (count > RECOMMENDED_MAX_IMAGES) {
    return { code: 'more_than_recommended', severity: 'info', message: `${count} images: more than the recommended ${range} is fine if every one is good.` };
  }
  return undefined;
}

const plural = (n: number, one: string, many: string) => (n === 1 ? `1 ${one}` : `${n} ${many}`);

const FIX_FOR: Record<ImageBadgeCode, ((n: number) => string) | undefined> = {
  too_small: (n) => `Replace ${plural(n, 'image that is', 'images that are')} too small to use.`,
  blurry: (n) => `Replace ${plural(n, 'blurry image', 'blurry images')} with sharp ones.`,
  near_duplicate: (n) => `Remove near-duplicates: ${plural(n, 'image repeats', 'images repeat')} another one; keep the best of each group.`,
  underexposed: (n) => `Replace ${plural(n, 'image that is', 'images that are')} too dark.`,
  overexposed: (n) => `Check ${plural(n, 'image that is', 'images that are')} too bright.`,
  below_recommended_size: (n) => `Use larger versions of ${plural(n, 'small image', 'small images')} (at least ${MIN_RECOMMENDED_SIDE}×${MIN_RECOMMENDED_SIDE}).`,
  below_training_resolution: (n) => `${plural(n, 'image is', 'images are')} smaller than the training resolution: use larger originals or pick a lower resolution.`,
  extreme_aspect: (n) => `Crop ${plural(n, 'very wide or tall image', 'very wide or tall images')} around the subject.`,
  transparency_flattened: undefined,
};
/** Order of the fixes: what hurts a model most first. */
const FIX_ORDER: ImageBadgeCode[] = [
  'too_small',
  'blurry',
  'near_duplicate',
  'underexposed',
  'overexposed',
  'below_recommended_size',
  'below_training_resolution',
  'extreme_aspect',
];

export function assessDataset(images: DatasetImage[], resolution: TrainingResolution): DatasetReport {
  const groups = findNearDuplicates(images);
  const labelOf = new Map(images.map((i) => [i.id, i.label]));
  const groupOf = new Map<string, string[]>();
  for (const group of groups) for (const id of group) groupOf.set(id, group);

  const perImage = images.map((image) => {
    const badges = checkImage(image, resolution);
    const group = groupOf.get(image.id);
    if (group) {
      const others = group.filter((id) => id !== image.id).map((id) => labelOf.get(id) ?? id);
      badges.push({
        code: 'near_duplicate',
        severity: 'warning',
        message: `Nearly identical to ${others.join(', ')}. Repeats teach the model less than different photos: keep the best one.`,
      });
    }
    return { id: image.id, badges };
  });

  const count = images.length;
  const redundant = groups.reduce((n, g) => n + g.length - 1, 0);
  const duplicateRatio = count === 0 ? 0 : redundant / count;

  const datasetBadges: Badge<DatasetBadgeCode>[] = [];
  const countProblem = countBadge(count);
  if (countProblem) datasetBadges.push(countProblem);
  if (duplicateRatio > MAX_DUPLICATE_RATIO) {
    datasetBadges.push({
      code: 'low_variety',
      severity: 'warning',
      message: `${pct(duplicateRatio)} of the images repeat others. Variety (angles, lighting, backgrounds) is what lets the model generalise.`,
    });
  }

  // Fixes: dataset blockers, then per-image problems by importance (counted, not listed one by one).
  const fixes: string[] = [];
  if (countProblem?.severity === 'error') {
    fixes.push(`Add ${REQUIRED_MIN_IMAGES - count} more image${REQUIRED_MIN_IMAGES - count === 1 ? '' : 's'} (at least ${REQUIRED_MIN_IMAGES}; ${RECOMMENDED_MIN_IMAGES}–${RECOMMENDED_MAX_IMAGES} recommended).`);
  }
  const byCode = new Map<ImageBadgeCode, number>();
  for (const { badges } of perImage) for (const b of badges) byCode.set(b.code, (byCode.get(b.code) ?? 0) + 1);
  for (const code of FIX_ORDER) {
    const n = code === 'near_duplicate' ? redundant : (byCode.get(code) ?? 0);
    const fix = FIX_FOR[code];
    if (n > 0 && fix) fixes.push(fix(n));
  }
  if (countProblem?.code === 'fewer_than_recommended') fixes.push(`Add ${RECOMMENDED_MIN_IMAGES - count} more varied image${RECOMMENDED_MIN_IMAGES - count === 1 ? '' : 's'} to reach the recommended ${RECOMMENDED_MIN_IMAGES}.`);
  if (countProblem?.code === 'too_many_images') fixes.push(`Keep only your best ${RECOMMENDED_MIN_IMAGES}–${RECOMMENDED_MAX_IMAGES} images.`);

  const allBadges = [...datasetBadges, ...perImage.flatMap((i) => i.badges)];
  const blocked = allBadges.some((b) => b.severity === 'error');
  const attention = allBadges.some((b) => b.severity === 'warning') || (countProblem !== undefined && countProblem.severity !== 'info');
  const verdict: Verdict = blocked ? 'blocked' : attention ? 'needs_attention' : 'ready';
  return {
    images: perImage,
    nearDuplicateGroups: groups,
    count,
    duplicateRatio,
    badges: datasetBadges,
    readiness: { ready: verdict === 'ready', canTrain: !blocked, verdict, topFixes: fixes.slice(0, MAX_FIXES) },
  };
}
