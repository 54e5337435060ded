import { z } from 'zod';

/**
 * What each base model's trained version really accepts (replicate-contract.md), as the controls
 * the Generate page shows. Flux has no negative prompt; ranges and defaults differ per model.
 */
export const ASPECT_RATIOS = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21'] as const;

export interface Range { min: number; max: number; default: number; step: number }
export interface Controls {
  baseModel: 'flux-dev' | 'sdxl';
  negativePrompt: { supported: boolean; reason: string | null };
  loraScale: Range;
  guidanceScale: Range;
  steps: Range;
  numOutputs: Range;
  aspectRatios: string[];
}

export const CONTROLS: Record<'flux-dev' | 'sdxl', Controls> = {
  'flux-dev': {
    baseModel: 'flux-dev',
    negativePrompt: { supported: false, reason: 'FLUX.1 has no negative prompt: describe what you want instead of what to avoid.' },
    loraScale: { min: -1, max: 3, default: 1, step: 0.05 },
    guidanceScale: { min: 0, max: 10, default: 3, step: 0.1 },
    steps: { min: 1, max: 50, default: 28, step: 1 },
    numOutputs: { min: 1, max: 4, default: 1, step: 1 },
    aspectRatios: [...ASPECT_RATIOS],
  },
  sdxl: {
    baseModel: 'sdxl',
    negativePrompt: { supported: true, reason: null },
    loraScale: { min: 0, max: 1, default: 0.6, step: 0.05 },
    guidanceScale: { min: 1, max: 50, default: 7.5, step: 0.5 },
    steps: { min: 1, max: 100, default: 50, step: 1 },
    numOutputs: { min: 1, max: 4, default: 1, step: 1 },
    aspectRatios: [...ASPECT_RATIOS],
  },
};

export const generationInput = z.object({
  prompt: z.string().trim().min(1, 'Write a prompt describing the image.').max(2000, 'Prompts are at most 2,000 characters.'),
  negativePrompt: z.string().trim().max(2000).optional(),
  loraScale: z.number().finite().optional(),
  guidanceScale: z.number().finite().optional(),
  steps: z.number().int().optional(),
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  aspectRatio: z.enum(ASPECT_RATIOS).optional(),
  numOutputs: z.number().int().optional(),
  /** Put the trigger word in front of a prompt that lacks it (default true). */
  insertTriggerWord: z.boolean().default(true),
});
export type GenerationInput = z.infer<typeof generationInput>;

export interface GenerationParams {
  prompt: string;
  negativePrompt: string | null;
  loraScale: number;
  guidanceScale: number;
  steps: number;
  seed: number;
  aspectRatio: string;
  numOutputs: number;
}

const SDXL_SIZES: Record<string, [number, number]> = {
  '1:1': [1024, 1024], '16:9': [1344, 768], '21:9': [1536, 640], '3:2': [1216, 832], '2:3': [832, 1216],
  '4:5': [896, 1120], '5:4': [1120, 896], '3:4': [896, 1152], '4:3': [1152, 896], '9:16': [768, 1344], '9:21': [640, 1536],
};

/** Checks one value against a range, with a message that says the range. */
function inRange(name: string, label: string, value: number, r: Range): string | null {
  return value < r.min || value > r.max ? `${label} must be between ${r.min} and ${r.max} for this base model (got ${value}).` : null;
}

/** The parameters to store and the exact provider input; throws a list of field problems. */
export function resolveParams(baseModel: 'flux-dev' | 'sdxl', input: GenerationInput, triggerWord: string, seed: number): { params: GenerationParams; input: Record<string, unknown>; problems: Array<{ path: string[]; message: string }> } {
  const c = CONTROLS[baseModel];
  const problems: Array<{ path: string[]; message: string }> = [];
  if (input.negativePrompt && !c.negativePrompt.supported) problems.push({ path: ['negativePrompt'], message: c.negativePrompt.reason! });
  const params: GenerationParams = {
    prompt: input.insertTriggerWord && !new RegExp(`\\b${triggerWord}\\b`, 'i').test(input.prompt) ? `${triggerWord} ${input.prompt}` : input.prompt,
    negativePrompt: c.negativePrompt.supported ? (input.negativePrompt || null) : null,
    loraScale: input.loraScale ?? c.loraScale.default,
    guidanceScale: input.guidanceScale ?? c.guidanceScale.default,
    steps: input.steps ?? c.steps.default,
    seed,
    aspectRatio: input.aspectRatio ?? '1:1',
    numOutputs: input.numOutputs ?? c.numOutputs.default,
  };
  for (const [key, label, value, range] of [
    ['loraScale', 'LoRA scale', params.loraScale, c.loraScale],
    ['guidanceScale', 'Guidance scale', params.guidanceScale, c.guidanceScale],
    ['steps', 'Steps', params.steps, c.steps],
    ['numOutputs', 'Number of outputs', params.numOutputs, c.numOutputs],
  ] as const) {
    const problem = inRange(key, label, value, range);
    if (problem) problems.push({ path: [key], message: problem });
  }
  const providerInput: Record<string, unknown> =
    baseModel === 'flux-dev'
      ? { prompt: params.prompt, aspect_ratio: params.aspectRatio, num_outputs: params.numOutputs, num_inference_steps: params.steps, guidance_scale: params.guidanceScale, lora_scale: params.loraScale, seed: params.seed, output_format: 'png', model: 'dev' }
      : { prompt: params.prompt, ...(params.negativePrompt && { negative_prompt: params.negativePrompt }), width: SDXL_SIZES[params.aspectRatio]![0], height: SDXL_SIZES[params.aspectRatio]![1], num_outputs: params.numOutputs, num_inference_steps: params.steps, guidance_scale: params.guidanceScale, lora_scale: params.loraScale, seed: params.seed };
  return { params, input: providerInput, problems };
}
