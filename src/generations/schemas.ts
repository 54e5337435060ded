import { z } from 'zod';
import { ASPECT_RATIOS, OUTPUT_FORMATS } from './controls.ts';

/**
 * Request shapes. Ranges that depend on the base model are checked by the service (with the
 * model's own range in the message), so these only bound what any model could accept.
 */
const prompt = z.string().trim().min(1, 'Write a prompt describing the image.').max(2000, 'Prompts are at most 2,000 characters.');
const seed = z.number().int('The seed is a whole number.').min(0, 'The seed is between 0 and 2147483647.').max(2 ** 31 - 1, 'The seed is between 0 and 2147483647.');
const scale = z.number().finite();

export const generationInput = z.object({
  prompt,
  negativePrompt: z.string().trim().max(2000, 'Negative prompts are at most 2,000 characters.').optional(),
  loraScale: scale.optional(),
  guidanceScale: scale.optional(),
  steps: z.number().int('Steps is a whole number.').optional(),
  seed: seed.optional(),
  aspectRatio: z.enum(ASPECT_RATIOS).optional(),
  numOutputs: z.number().int('The number of outputs is a whole number.').optional(),
  outputFormat: z.enum(OUTPUT_FORMATS).optional(),
  /** Put the trigger word in front of a prompt that lacks it (default true). */
  insertTriggerWord: z.boolean().default(true),
});
export type GenerationInput = z.infer<typeof generationInput>;

/** LoRA scales × guidance scales: a grid that still reads side by side. */
export const MAX_COMPARISON_IMAGES = 12;

export const comparisonInput = z.object({
  prompt,
  negativePrompt: z.string().trim().max(2000).optional(),
  /** One seed for every image, so the scale is the only difference (random when omitted). */
  seed: seed.optional(),
  loraScales: z.array(scale).min(2, 'Compare at least 2 LoRA scales.').max(6, 'Compare at most 6 LoRA scales.'),
  /** Optional second axis: every LoRA scale at each of these guidance scales. */
  guidanceScales: z.array(scale).min(1).max(3, 'Compare at most 3 guidance scales.').optional(),
  steps: z.number().int().optional(),
  aspectRatio: z.enum(ASPECT_RATIOS).optional(),
  outputFormat: z.enum(OUTPUT_FORMATS).optional(),
  insertTriggerWord: z.boolean().default(true),
}).refine((c) => c.loraScales.length * (c.guidanceScales?.length ?? 1) <= MAX_COMPARISON_IMAGES, {
  message: `A comparison renders at most ${MAX_COMPARISON_IMAGES} images (LoRA scales × guidance scales).`,
  path: ['guidanceScales'],
});
export type ComparisonInput = z.infer<typeof comparisonInput>;

/** The reusable part of a recipe: any subset of a generation's parameters (the prompt is separate). */
export const recipeParams = z
  .object({
    loraScale: scale.optional(),
    guidanceScale: scale.optional(),
    steps: z.number().int().optional(),
    seed: seed.nullable().optional(),
    aspectRatio: z.enum(ASPECT_RATIOS).optional(),
    numOutputs: z.number().int().min(1).max(4).optional(),
    outputFormat: z.enum(OUTPUT_FORMATS).optional(),
  })
  .strict();
export type RecipeParams = z.infer<typeof recipeParams>;

const recipeName = z.string().trim().min(1, 'Give the recipe a name.').max(80, 'Recipe names are at most 80 characters.');

export const recipeCreateInput = z.object({
  name: recipeName,
  /** Save a generation's prompt and parameters (seed included) as they were sent. */
  fromGeneration: z.uuid().optional(),
  prompt: prompt.optional(),
  negativePrompt: z.string().trim().max(2000).nullable().optional(),
  params: recipeParams.optional(),
});
export type RecipeCreateInput = z.infer<typeof recipeCreateInput>;

export const recipeUpdateInput = z.object({
  name: recipeName.optional(),
  prompt: prompt.optional(),
  negativePrompt: z.string().trim().max(2000).nullable().optional(),
  params: recipeParams.optional(),
});
export type RecipeUpdateInput = z.infer<typeof recipeUpdateInput>;

export const generationListQuery = z.object({
  modelId: z.uuid().optional(),
  batchId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(30),
  cursor: z.string().max(200).optional(),
});
