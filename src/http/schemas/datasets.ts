import { z } from 'zod';

/** Step 3's shapes: what the dataset routes answer (see src/datasets/dataset-service.ts). */

export const badge = z.object({ code: z.string(), severity: z.enum(['error', 'warning', 'info']), message: z.string() });

export const datasetImage = z.object({
  id: z.string(), filename: z.string(), width: z.number(), height: z.number(), format: z.string(), bytes: z.number(),
  caption: z.string(), badges: z.array(badge), thumbnailUrl: z.string(), fileUrl: z.string(), createdAt: z.string(),
});

/** Each uploaded file's verdict (a zip yields one per image inside). */
export const uploadResult = z.union([
  z.object({ filename: z.string(), status: z.enum(['added', 'duplicate']), image: datasetImage }),
  z.object({ filename: z.string(), status: z.literal('rejected'), error: z.object({ code: z.string(), message: z.string() }) }),
  z.object({ filename: z.string(), status: z.literal('skipped'), reason: z.string() }),
]);

export const datasetSettings = z.object({ triggerWord: z.string(), triggerWordIsDefault: z.boolean(), captionPrefix: z.string() });

export const datasetResponse = z.object({
  resolution: z.number(),
  settings: datasetSettings,
  images: z.array(datasetImage),
  summary: z.object({
    count: z.number(),
    recommended: z.object({ min: z.number(), max: z.number() }),
    minimumToTrain: z.number(),
    duplicateRatio: z.number(),
    nearDuplicateGroups: z.array(z.array(z.string())),
    badges: z.array(badge),
    readiness: z.object({ ready: z.boolean(), canTrain: z.boolean(), verdict: z.enum(['ready', 'needs_attention', 'blocked']), topFixes: z.array(z.string()) }),
  }),
});
