import type { ModelType } from '../db/schema.ts';
import type { BaseModel } from './base-models.ts';

export const PRESETS = ['beginner', 'standard', 'expert'] as const;
export type Preset = (typeof PRESETS)[number];
export const RESOLUTIONS = [512, 768, 1024] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

/**
 * How a preset turns into the trainer's inputs. The formula (shown to the user):
 *
 *   steps = ceil(epochs × images × repeats / batch size), clamped to the trainer's limits
 *
 * `repeats` is how often each image is seen per epoch; it depends on the model type because a
 * style needs more passes over varied images than a single subject. Defaults follow the guide:
 * Beginner is fast (1 epoch), Standard balanced (2), Expert thorough (3, higher rank).
 */
export interface PresetRecipe {
  defaultEpochs: number;
  repeats: Record<ModelType, number>;
  learningRate: number;
  rank: number;
  batchSize: number;
}

export const FLUX_RECIPES: Record<Preset, PresetRecipe> = {
  beginner: { defaultEpochs: 1, repeats: { person: 25, object: 25, style: 30 }, learningRate: 4e-4, rank: 16, batchSize: 1 },
  standard: { defaultEpochs: 2, repeats: { person: 25, object: 25, style: 30 }, learningRate: 4e-4, rank: 16, batchSize: 1 },
  expert: { defaultEpochs: 3, repeats: { person: 25, object: 25, style: 30 }, learningRate: 3e-4, rank: 32, batchSize: 1 },
};

export const SDXL_RECIPES: Record<Preset, PresetRecipe> = {
  beginner: { defaultEpochs: 1, repeats: { person: 40, object: 40, style: 50 }, learningRate: 1e-4, rank: 32, batchSize: 4 },
  standard: { defaultEpochs: 2, repeats: { person: 40, object: 40, style: 50 }, learningRate: 1e-4, rank: 32, batchSize: 4 },
  expert: { defaultEpochs: 3, repeats: { person: 40, object: 40, style: 50 }, learningRate: 8e-5, rank: 64, batchSize: 4 },
};

/** The trainers' documented input limits (replicate-contract.md). */
export const LIMITS = {
  flux: { minSteps: 3, maxSteps: 6000, minRank: 1, maxRank: 128 },
  sdxl: { minSteps: 3, maxSteps: 6000, minRank: 1, maxRank: 128 },
} as const;

export const MAX_EPOCHS = 20;

export interface PlanRequest {
  baseModel: Extract<BaseModel, 'flux-dev' | 'sdxl'>;
  modelType: ModelType;
  preset: Preset;
  resolution: Resolution;
  epochs?: number | undefined;
  imageCount: number;
  triggerWord: string;
  /** Expert only: replaces computed inputs after the formula (still clamped). */
  overrides?: Partial<Record<string, number | string | boolean>> | undefined;
}

export interface TrainingPlan {
  epochs: number;
  repeats: number;
  batchSize: number;
  /** Steps before clamping, to explain a clamp to the user. */
  formulaSteps: number;
  steps: number;
  clamped: 'min' | 'max' | null;
  formula: string;
  /** Exactly what is sent to the trainer as `input` (input_images is added at submission). */
  inputs: Record<string, number | string | boolean>;
}

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

/** Flux trains on aspect buckets up to the chosen size; the lower sizes add variety at little cost. */
const fluxResolutionBuckets = (r: Resolution) => (r === 512 ? '512' : r === 768 ? '512,768' : '512,768,1024');

const FLUX_OVERRIDABLE = new Set(['steps', 'learning_rate', 'lora_rank', 'batch_size', 'caption_dropout_rate', 'optimizer', 'autocaption']);
const SDXL_OVERRIDABLE = new Set(['max_train_steps', 'lora_lr', 'lora_rank', 'train_batch_size', 'use_face_detection_instead', 'crop_based_on_salience']);
export const overridableInputs = (baseModel: PlanRequest['baseModel']) => [...(baseModel === 'flux-dev' ? FLUX_OVERRIDABLE : SDXL_OVERRIDABLE)];

export function planTraining(req: PlanRequest): TrainingPlan {
  const recipe = (req.baseModel === 'flux-dev' ? FLUX_RECIPES : SDXL_RECIPES)[req.preset];
  const limits = req.baseModel === 'flux-dev' ? LIMITS.flux : LIMITS.sdxl;
  const epochs = clamp(Math.round(req.epochs ?? recipe.defaultEpochs), 1, MAX_EPOCHS);
  const repeats = recipe.repeats[req.modelType];
  const formulaSteps = Math.ceil((epochs * req.imageCount * repeats) / recipe.batchSize);
  const steps = clamp(formulaSteps, limits.minSteps, limits.maxSteps);
  const clamped = steps > formulaSteps ? 'min' : steps < formulaSteps ? 'max' : null;
  const formula = `${epochs} epoch${epochs === 1 ? '' : 's'} × ${req.imageCount} images × ${repeats} repeats ÷ batch ${recipe.batchSize} = ${formulaSteps} steps${clamped ? ` (limited to ${steps} by the trainer)` : ''}`;

  let inputs: Record<string, number | string | boolean>;
  if (req.baseModel === 'flux-dev') {
    inputs = {
      trigger_word: req.triggerWord,
      steps,
      learning_rate: recipe.learningRate,
      lora_rank: recipe.rank,
      batch_size: recipe.batchSize,
      resolution: fluxResolutionBuckets(req.resolution),
      // Our captions come with the images; the autocaptioner only fills in images without one.
      autocaption: true,
      caption_dropout_rate: 0.05,
      optimizer: 'adamw8bit',
    };
  } else {
    inputs = {
      token_string: req.triggerWord,
      caption_prefix: `a photo of ${req.triggerWord}, `,
      max_train_steps: steps,
      num_train_epochs: epochs,
      lora_lr: recipe.learningRate,
      lora_rank: recipe.rank,
      train_batch_size: recipe.batchSize,
      resolution: req.resolution,
      is_lora: true,
      use_face_detection_instead: req.modelType === 'person',
      crop_based_on_salience: true,
      input_images_filetype: 'zip',
    };
  }
  if (req.preset === 'expert' && req.overrides) inputs = applyOverrides(req.baseModel, inputs, req.overrides, limits);
  return { epochs, repeats, batchSize: Number(inputs.batch_size ?? inputs.train_batch_size), formulaSteps, steps: Number(inputs.steps ?? inputs.max_train_steps), clamped, formula, inputs };
}

function applyOverrides(
  baseModel: PlanRequest['baseModel'],
  inputs: Record<string, number | string | boolean>,
  overrides: NonNullable<PlanRequest['overrides']>,
  limits: (typeof LIMITS)['flux'],
): Record<string, number | string | boolean> {
  const allowed = baseModel === 'flux-dev' ? FLUX_OVERRIDABLE : SDXL_OVERRIDABLE;
  const out = { ...inputs };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined || !allowed.has(key)) continue;
    out[key] = value;
  }
  for (const key of ['steps', 'max_train_steps'] as const) {
    if (typeof out[key] === 'number') out[key] = clamp(Math.round(out[key]), limits.minSteps, limits.maxSteps);
  }
  if (typeof out.lora_rank === 'number') out.lora_rank = clamp(Math.round(out.lora_rank), limits.minRank, limits.maxRank);
  return out;
}
