import { z } from 'zod';

/*
 * The same lists as ASPECT_RATIOS and OUTPUT_FORMATS in src/generations/controls.ts, and the same
 * `recipeParams` as src/generations/schemas.ts (the request side, with its error messages); they are
 * repeated because this folder imports nothing but zod, and test/unit/web/api-schemas.test.ts fails
 * when they differ.
 */
export const aspectRatio = z.enum(['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21']);
export const outputFormat = z.enum(['png', 'webp', 'jpg']);
const scale = z.number().finite();
const seed = z.number().int().min(0).max(2 ** 31 - 1);

/** The reusable part of a saved prompt: any subset of a generation's parameters. */
export const recipeParams = z
  .object({
    loraScale: scale.optional(),
    guidanceScale: scale.optional(),
    steps: z.number().int().optional(),
    seed: seed.nullable().optional(),
    aspectRatio: aspectRatio.optional(),
    numOutputs: z.number().int().min(1).max(4).optional(),
    outputFormat: outputFormat.optional(),
  })
  .strict();

/** One control of the Generate page: the base model's own range and default. */
export const controlRange = z.object({ min: z.number(), max: z.number(), default: z.number(), step: z.number() });

export const generationOptionsResponse = z.object({
  available: z.boolean(), unavailableReason: z.string().nullable(), baseModelLabel: z.string(), triggerWord: z.string().nullable(), triggerWordHelp: z.string().nullable(),
  controls: z.object({ baseModel: z.string(), negativePrompt: z.object({ supported: z.boolean(), reason: z.string().nullable() }), loraScale: controlRange, guidanceScale: controlRange, steps: controlRange, numOutputs: controlRange, aspectRatios: z.array(z.string()).readonly(), outputFormats: z.array(z.string()).readonly() }),
  quota: z.object({ maxConcurrent: z.number(), maxPerHour: z.number(), active: z.number(), usedThisHour: z.number() }),
});

/** The exact parameters a generation ran with, seed included. */
export const generationParams = z.object({ prompt: z.string(), negativePrompt: z.string().nullable(), loraScale: z.number(), guidanceScale: z.number(), steps: z.number(), seed: z.number(), aspectRatio: z.string(), numOutputs: z.number(), outputFormat: z.string() });

/** A generation's public link, shown to its owner only. */
export const linkView = z.object({
  url: z.string().describe('The public address: anyone with it sees the images, signed in or not'),
  includePrompt: z.boolean(),
  createdAt: z.string(),
});

export const generationView = z.object({
  id: z.string(), modelId: z.string(), trainingId: z.string(), status: z.string(), prompt: z.string(), negativePrompt: z.string().nullable(), params: generationParams, batchId: z.string().nullable(), shared: z.boolean(),
  error: z.string().nullable(), notice: z.string().nullable(),
  images: z.array(z.object({ position: z.number(), url: z.string(), downloadUrl: z.string(), width: z.number(), height: z.number(), contentType: z.string(), bytes: z.number() })),
  link: z.object({ url: z.string(), includePrompt: z.boolean(), createdAt: z.string() }).nullable().describe('Its public share link (owner only; see POST /api/generations/{id}/link)'),
  createdAt: z.string(), completedAt: z.string().nullable(),
});

export const generationEnvelope = z.object({ generation: generationView });
export const generationListResponse = z.object({ generations: z.array(generationView), nextCursor: z.string().nullable() });
export const showcaseResponse = z.object({ generations: z.array(generationView) });
export const comparisonResponse = z.object({ batchId: z.string(), seed: z.number(), generations: z.array(generationView) });

/** PATCH /api/generations/{id}: put it on the model's showcase, or take it off. */
export const shareInput = z.object({ shared: z.boolean({ error: 'Send {"shared": true} or {"shared": false}.' }) });

/** POST /api/generations/{id}/link; no body at all (curl -X POST) means the defaults. */
export const linkInput = z.object({ includePrompt: z.boolean({ error: 'includePrompt is true or false.' }).optional() }).nullish();
export const linkResponse = z.object({ link: linkView });

/** What anyone with a link sees: never the owner, the model or the settings. */
export const sharedView = z.object({
  madeAt: z.string(),
  prompt: z.string().nullable().describe('Only when the owner chose to include it'),
  images: z.array(z.object({ position: z.number(), url: z.string(), downloadUrl: z.string(), width: z.number(), height: z.number(), contentType: z.string() })),
});
export const sharedResponse = z.object({ shared: sharedView });

export const recipeView = z.object({ id: z.string(), modelId: z.string(), name: z.string(), prompt: z.string(), negativePrompt: z.string().nullable(), params: recipeParams, createdAt: z.string(), updatedAt: z.string() });
export const recipeEnvelope = z.object({ recipe: recipeView });
export const recipeListResponse = z.object({ recipes: z.array(recipeView) });
