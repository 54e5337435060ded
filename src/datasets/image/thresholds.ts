/**
 * Every number the dataset doctor judges by, in one place. Each quality threshold has a test
 * on synthetic images in test/unit/datasets/ that shows a good image passing and a bad one
 * failing; change a number here and those tests say whether it still separates them.
 */

// ---- Upload limits (defaults; the caller may pass configured values) -------------------
export const DEFAULT_MAX_IMAGE_BYTES = 30 * 1024 * 1024;
/** 40 MP: more than any phone's main camera in its default mode, far below what would exhaust memory. */
export const DEFAULT_MAX_IMAGE_PIXELS = 40_000_000;

// ---- Derived images ----------------------------------------------------------------------
/** Stored copy: enough for 1024-px training of any reasonable aspect ratio, no more. */
export const NORMALIZED_LONG_SIDE = 2048;
/** The largest training resolution: the stored copy's short side never drops below it through shrinking. */
export const MAX_TRAINING_RESOLUTION = 1024;
export const NORMALIZED_JPEG_QUALITY = 90;
export const THUMBNAIL_LONG_SIDE = 384;
export const THUMBNAIL_WEBP_QUALITY = 78;
/**
 * libwebp's effort (0–6, default 4). At 2 a 384-px thumbnail takes about half the CPU of the
 * default for about 5% more bytes; it is made for every upload, so this is upload time.
 */
export const THUMBNAIL_WEBP_EFFORT = 2;
/** The greyscale picture every measurement is taken on, so metrics do not depend on camera size. */
export const ANALYSIS_LONG_SIDE = 1024;

// ---- Per-image checks --------------------------------------------------------------------
export const TRAINING_RESOLUTIONS = [512, 768, 1024] as const;
export type TrainingResolution = (typeof TRAINING_RESOLUTIONS)[number];

/** The guide: "at least 512×512 pixels". Shorter side below this always gets a warning. */
export const MIN_RECOMMENDED_SIDE = 512;
/** Below this the image is too small to teach anything and must be replaced. */
export const MIN_USABLE_SIDE = 256;

/**
 * Sharpness (see metrics.ts) below this is flagged as blurry. On the 1024-px analysis image a
 * crisp synthetic photo measures ~1 000–3 600, the same blurred with sigma 1 ~200–800,
 * sigma 2 ~35–90, sigma 4 and up ≤ 15.
 */
export const SHARPNESS_BLURRY = 100;

/** Mean brightness (0–255) and clipped-pixel fractions for exposure. */
export const UNDEREXPOSED_MEAN_LUMA = 50;
export const OVEREXPOSED_MEAN_LUMA = 205;
export const MAX_CLIPPED_DARK = 0.3;
export const MAX_CLIPPED_BRIGHT = 0.35;

/** Long side ÷ short side above this is cropped heavily by the trainer's buckets. */
export const MAX_ASPECT_RATIO = 2.5;

/** Perceptual hashes this many bits apart or closer (of 64) are near-duplicates. */
export const NEAR_DUPLICATE_MAX_DISTANCE = 10;

// ---- Dataset rules (from the user guide) -------------------------------------------------
export const RECOMMENDED_MIN_IMAGES = 15;
export const RECOMMENDED_MAX_IMAGES = 20;
/** Fewer usable images than this blocks training. */
export const REQUIRED_MIN_IMAGES = 10;
/** More than this gets a warning: longer, costlier training with diminishing returns. */
export const WARN_ABOVE_IMAGES = 50;
/** Share of redundant images (duplicates beyond the first of each group) that signals low variety. */
export const MAX_DUPLICATE_RATIO = 0.2;

// ---- Zip import ------------------------------------------------------------------------
export const DEFAULT_ZIP_LIMITS = {
  maxEntries: 500,
  maxTotalInflatedBytes: 1024 * 1024 * 1024,
  maxEntryBytes: DEFAULT_MAX_IMAGE_BYTES,
  maxCaptionBytes: 16 * 1024,
};

// ---- Training package ------------------------------------------------------------------
export const PACKAGE_JPEG_QUALITY = 92;
