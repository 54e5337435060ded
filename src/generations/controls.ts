/**
 * What each base model's trained version really accepts (replicate-contract.md), as the controls
 * the Generate page shows, and the mapping from our parameters to the provider's input names.
 * Flux has no negative prompt; ranges and defaults differ per model.
 */
export const ASPECT_RATIOS = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21'] as const;
export const OUTPUT_FORMATS = ['png', 'webp', 'jpg'] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export type GenerationBaseModel = 'flux-dev' | 'sdxl';

export interface Range { min: number; max: number; default: number; step: number }
export interface Controls {
  baseModel: GenerationBaseModel;
  negativePrompt: { supported: boolean; reason: string | null };
  loraScale: Range;
  guidanceScale: Range;
  steps: Range;
  numOutputs: Range;
  aspectRatios: readonly string[];
  /** The file formats this base model can return (the first is the default). */
  outputFormats: readonly OutputFormat[];
}

export const CONTROLS: Record<GenerationBaseModel, Controls> = {
  'flux-dev': {
    baseModel: 'flux-dev',
    negativePrompt: { supported: false, reason: 'FLUX.1 has no negative prompt: describe what you want instead of what to avoid.' },
    loraScale: { min: -1, max: 3, default: 1, step: 0.05 },
    guidanceScale: { min: 0, max: 10, default: 3, step: 0.1 },
    steps: { min: 1, max: 50, default: 28, step: 1 },
    numOutputs: { min: 1, max: 4, default: 1, step: 1 },
    aspectRatios: ASPECT_RATIOS,
    outputFormats: OUTPUT_FORMATS,
  },
  sdxl: {
    baseModel: 'sdxl',
    negativePrompt: { supported: true, reason: null },
    loraScale: { min: 0, max: 1, default: 0.6, step: 0.05 },
    guidanceScale: { min: 1, max: 50, default: 7.5, step: 0.5 },
    steps: { min: 1, max: 100, default: 50, step: 1 },
    numOutputs: { min: 1, max: 4, default: 1, step: 1 },
    aspectRatios: ASPECT_RATIOS,
    // The SDXL predictor has no output_format: it always returns PNG.
    outputFormats: ['png'],
  },
};

/** What a user may set; everything but the prompt falls back to the base model's default. */
export interface GenerationRequest {
  prompt: string;
  negativePrompt?: string | undefined;
  loraScale?: number | undefined;
  guidanceScale?: number | undefined;
  steps?: number | undefined;
  seed?: number | undefined;
  aspectRatio?: AspectRatio | undefined;
  numOutputs?: number | undefined;
  outputFormat?: OutputFormat | undefined;
  /** Put the trigger word in front of a prompt that lacks it (default true). */
  insertTriggerWord?: boolean | undefined;
}

/** Stored with every generation: enough to reproduce it exactly. */
export interface GenerationParams {
  prompt: string;
  negativePrompt: string | null;
  loraScale: number;
  guidanceScale: number;
  steps: number;
  seed: number;
  aspectRatio: string;
  numOutputs: number;
  outputFormat: OutputFormat;
}

export interface FieldProblem { path: string[]; message: string }

/** SDXL takes pixel sizes; these keep ~1 megapixel, multiples of 64, at each aspect ratio. */
export const SDXL_SIZES: Record<AspectRatio, [number, number]> = {
  '1:1': [1024, 1024], '16:9': [1344, 768], '21:9': [1536, 640], '3:2': [1216, 832], '2:3': [832, 1216],
  '4:5': [896, 1120], '5:4': [1120, 896], '3:4': [896, 1152], '4:3': [1152, 896], '9:16': [768, 1344], '9:21': [640, 1536],
};

/** Our parameter name for each provider input, so a refusal names the field the user set. */
export const PROVIDER_FIELD_TO_PARAM: Record<string, string> = {
  prompt: 'prompt', negative_prompt: 'negativePrompt', lora_scale: 'loraScale', guidance_scale: 'guidanceScale', num_inference_steps: 'steps',
  seed: 'seed', aspect_ratio: 'aspectRatio', width: 'aspectRatio', height: 'aspectRatio', num_outputs: 'numOutputs', output_format: 'outputFormat',
};

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether the prompt already calls up the trigger word (as a whole word, any case). */
export function mentionsTriggerWord(prompt: string, triggerWord: string): boolean {
  return new RegExp(`(^|[^\\p{L}\\p{N}_])${escapeRegExp(triggerWord)}($|[^\\p{L}\\p{N}_])`, 'iu').test(prompt);
}

/**
 * The parameters to store (defaults filled in, trigger word inserted, the seed fixed) and the
 * exact provider input, plus every problem found against the base model's controls.
 */
export function resolveParams(baseModel: GenerationBaseModel, request: GenerationRequest, triggerWord: string, seed: number): { params: GenerationParams; input: Record<string, unknown>; problems: FieldProblem[] } {
  const c = CONTROLS[baseModel];
  const problems: FieldProblem[] = [];
  if (request.negativePrompt && !c.negativePrompt.supported) problems.push({ path: ['negativePrompt'], message: c.negativePrompt.reason! });
  const outputFormat = request.outputFormat ?? c.outputFormats[0]!;
  if (!c.outputFormats.includes(outputFormat)) problems.push({ path: ['outputFormat'], message: `This base model only returns ${c.outputFormats.join(', ')} images.` });
  const insert = request.insertTriggerWord ?? true;
  const params: GenerationParams = {
    prompt: insert && !mentionsTriggerWord(request.prompt, triggerWord) ? `${triggerWord} ${request.prompt}` : request.prompt,
    negativePrompt: c.negativePrompt.supported ? request.negativePrompt || null : null,
    loraScale: request.loraScale ?? c.loraScale.default,
    guidanceScale: request.guidanceScale ?? c.guidanceScale.default,
    steps: request.steps ?? c.steps.default,
    seed,
    aspectRatio: request.aspectRatio ?? '1:1',
    numOutputs: request.numOutputs ?? c.numOutputs.default,
    outputFormat,
  };
  for (const [key, label, value, range] of [
    ['loraScale', 'LoRA scale', params.loraScale, c.loraScale],
    ['guidanceScale', 'Guidance scale', params.guidanceScale, c.guidanceScale],
    ['steps', 'Steps', params.steps, c.steps],
    ['numOutputs', 'Number of outputs', params.numOutputs, c.numOutputs],
  ] as const) {
    if (value < range.min || value > range.max) problems.push({ path: [key], message: `${label} must be between ${range.min} and ${range.max} for ${baseModel === 'flux-dev' ? 'FLUX.1' : 'SDXL'} (got ${value}).` });
  }
  const size = SDXL_SIZES[params.aspectRatio as AspectRatio] ?? SDXL_SIZES['1:1'];
  const input: Record<string, unknown> =
    baseModel === 'flux-dev'
      ? { prompt: params.prompt, aspect_ratio: params.aspectRatio, num_outputs: params.numOutputs, num_inference_steps: params.steps, guidance_scale: params.guidanceScale, lora_scale: params.loraScale, seed: params.seed, output_format: params.outputFormat, ...(params.outputFormat !== 'png' && { output_quality: 90 }), model: 'dev' }
      : { prompt: params.prompt, ...(params.negativePrompt && { negative_prompt: params.negativePrompt }), width: size[0], height: size[1], num_outputs: params.numOutputs, num_inference_steps: params.steps, guidance_scale: params.guidanceScale, lora_scale: params.loraScale, seed: params.seed };
  return { params, input, problems };
}
