import type { JsonSchemaProperty, OpenApiSchema } from '../../../src/providers/replicate/types.ts';

/**
 * Input schemas the emulator publishes in `openapi_schema` and validates against, following the
 * inputs listed in docs/replicate-contract.md.
 */

export type SchemaKind = 'flux-trainer' | 'sdxl-trainer' | 'flux-trained' | 'sdxl-trained';

type Props = Record<string, JsonSchemaProperty>;

const ASPECT_RATIOS = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21', 'custom'];
const OPTIMIZERS = ['adamw8bit', 'prodigy', 'adam8bit', 'lion8bit', 'adam', 'adamw', 'lion', 'adagrad', 'adafactor'];

let order = 0;
const p = (prop: JsonSchemaProperty): JsonSchemaProperty => ({ ...prop, 'x-order': order++ });

function fluxTrainer(): { props: Props; required: string[] } {
  order = 0;
  return {
    required: ['input_images'],
    props: {
      input_images: p({ type: 'string', format: 'uri', description: 'A zip file containing the images that will be used for training.' }),
      trigger_word: p({ type: 'string', default: 'TOK' }),
      autocaption: p({ type: 'boolean', default: true }),
      autocaption_prefix: p({ type: 'string' }),
      autocaption_suffix: p({ type: 'string' }),
      steps: p({ type: 'integer', default: 1000, minimum: 3, maximum: 6000 }),
      learning_rate: p({ type: 'number', default: 0.0004 }),
      batch_size: p({ type: 'integer', default: 1 }),
      resolution: p({ type: 'string', default: '512,768,1024' }),
      lora_rank: p({ type: 'integer', default: 16, minimum: 1, maximum: 128 }),
      caption_dropout_rate: p({ type: 'number', default: 0.05, minimum: 0, maximum: 1 }),
      optimizer: p({ type: 'string', default: 'adamw8bit', enum: OPTIMIZERS }),
      cache_latents_to_disk: p({ type: 'boolean', default: false }),
      gradient_checkpointing: p({ type: 'boolean', default: false }),
      layers_to_optimize_regex: p({ type: 'string' }),
      hf_repo_id: p({ type: 'string' }),
      hf_token: p({ type: 'string', format: 'password' }),
      wandb_api_key: p({ type: 'string', format: 'password' }),
      wandb_project: p({ type: 'string', default: 'flux_train_replicate' }),
    },
  };
}

function sdxlTrainer(): { props: Props; required: string[] } {
  order = 0;
  return {
    required: ['input_images'],
    props: {
      input_images: p({ type: 'string', format: 'uri' }),
      input_images_filetype: p({ type: 'string', default: 'infer', enum: ['zip', 'tar', 'infer'] }),
      seed: p({ type: 'integer' }),
      resolution: p({ type: 'integer', default: 768 }),
      train_batch_size: p({ type: 'integer', default: 4 }),
      num_train_epochs: p({ type: 'integer', default: 4000 }),
      max_train_steps: p({ type: 'integer', default: 1000 }),
      is_lora: p({ type: 'boolean', default: true }),
      unet_learning_rate: p({ type: 'number', default: 1e-6 }),
      ti_lr: p({ type: 'number', default: 0.0003 }),
      lora_lr: p({ type: 'number', default: 0.0001 }),
      lora_rank: p({ type: 'integer', default: 32 }),
      lr_scheduler: p({ type: 'string', default: 'constant', enum: ['constant', 'linear'] }),
      token_string: p({ type: 'string', default: 'TOK' }),
      caption_prefix: p({ type: 'string', default: 'a photo of TOK, ' }),
      mask_target_prompts: p({ type: 'string' }),
      crop_based_on_salience: p({ type: 'boolean', default: true }),
      use_face_detection_instead: p({ type: 'boolean', default: false }),
      clipseg_temperature: p({ type: 'number', default: 1 }),
      verbose: p({ type: 'boolean', default: true }),
      checkpointing_steps: p({ type: 'integer', default: 999999 }),
    },
  };
}

function fluxTrained(): { props: Props; required: string[] } {
  order = 0;
  return {
    required: ['prompt'],
    props: {
      prompt: p({ type: 'string' }),
      image: p({ type: 'string', format: 'uri' }),
      mask: p({ type: 'string', format: 'uri' }),
      aspect_ratio: p({ type: 'string', default: '1:1', enum: ASPECT_RATIOS }),
      height: p({ type: 'integer', minimum: 256, maximum: 1440 }),
      width: p({ type: 'integer', minimum: 256, maximum: 1440 }),
      prompt_strength: p({ type: 'number', default: 0.8, minimum: 0, maximum: 1 }),
      model: p({ type: 'string', default: 'dev', enum: ['dev', 'schnell'] }),
      num_outputs: p({ type: 'integer', default: 1, minimum: 1, maximum: 4 }),
      num_inference_steps: p({ type: 'integer', default: 28, minimum: 1, maximum: 50 }),
      guidance_scale: p({ type: 'number', default: 3, minimum: 0, maximum: 10 }),
      seed: p({ type: 'integer' }),
      output_format: p({ type: 'string', default: 'webp', enum: ['webp', 'jpg', 'png'] }),
      output_quality: p({ type: 'integer', default: 80, minimum: 0, maximum: 100 }),
      disable_safety_checker: p({ type: 'boolean', default: false }),
      go_fast: p({ type: 'boolean', default: false }),
      megapixels: p({ type: 'string', default: '1', enum: ['1', '0.25'] }),
      lora_scale: p({ type: 'number', default: 1, minimum: -1, maximum: 3 }),
      extra_lora: p({ type: 'string' }),
      extra_lora_scale: p({ type: 'number', default: 1, minimum: -1, maximum: 3 }),
    },
  };
}

function sdxlTrained(): { props: Props; required: string[] } {
  order = 0;
  return {
    required: [],
    props: {
      prompt: p({ type: 'string', default: 'An astronaut riding a rainbow unicorn' }),
      negative_prompt: p({ type: 'string', default: '' }),
      image: p({ type: 'string', format: 'uri' }),
      mask: p({ type: 'string', format: 'uri' }),
      width: p({ type: 'integer', default: 1024 }),
      height: p({ type: 'integer', default: 1024 }),
      num_outputs: p({ type: 'integer', default: 1, minimum: 1, maximum: 4 }),
      scheduler: p({ type: 'string', default: 'K_EULER', enum: ['DDIM', 'DPMSolverMultistep', 'HeunDiscrete', 'KarrasDPM', 'K_EULER_ANCESTRAL', 'K_EULER', 'PNDM'] }),
      num_inference_steps: p({ type: 'integer', default: 50, minimum: 1, maximum: 500 }),
      guidance_scale: p({ type: 'number', default: 7.5, minimum: 1, maximum: 50 }),
      prompt_strength: p({ type: 'number', default: 0.8, minimum: 0, maximum: 1 }),
      seed: p({ type: 'integer' }),
      refine: p({ type: 'string', default: 'no_refiner', enum: ['no_refiner', 'expert_ensemble_refiner', 'base_image_refiner'] }),
      high_noise_frac: p({ type: 'number', default: 0.8, minimum: 0, maximum: 1 }),
      refine_steps: p({ type: 'integer' }),
      apply_watermark: p({ type: 'boolean', default: true }),
      lora_scale: p({ type: 'number', default: 0.6, minimum: 0, maximum: 1 }),
      disable_safety_checker: p({ type: 'boolean', default: false }),
    },
  };
}

const BUILDERS: Record<SchemaKind, () => { props: Props; required: string[] }> = {
  'flux-trainer': fluxTrainer,
  'sdxl-trainer': sdxlTrainer,
  'flux-trained': fluxTrained,
  'sdxl-trained': sdxlTrained,
};

export function openApiSchemaFor(kind: SchemaKind): OpenApiSchema {
  const { props, required } = BUILDERS[kind]();
  return {
    openapi: '3.0.2',
    info: { title: 'Cog', version: '0.1.0' },
    components: {
      schemas: {
        Input: { type: 'object', title: 'Input', properties: props, required },
        Output: kind.endsWith('trainer')
          ? { type: 'object', title: 'TrainingOutput', properties: { weights: { type: 'string', format: 'uri' } } }
          : { type: 'array', title: 'Output', items: { type: 'string', format: 'uri' } },
      },
    },
  };
}

export interface InvalidFieldOut {
  type: string;
  field: string;
  description: string;
}

/** Validates like Cog: unknown fields are ignored, types and ranges are checked. */
export function validateInput(kind: SchemaKind, input: unknown): InvalidFieldOut[] {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return [{ type: 'type', field: 'input', description: 'input must be an object' }];
  }
  const { props, required } = BUILDERS[kind]();
  const values = input as Record<string, unknown>;
  const problems: InvalidFieldOut[] = [];
  for (const field of required) {
    if (values[field] === undefined || values[field] === null) {
      problems.push({ type: 'required', field: `input.${field}`, description: `${field} is required` });
    }
  }
  for (const [field, value] of Object.entries(values)) {
    const prop = props[field];
    if (!prop || value === undefined || value === null) continue;
    const where = `input.${field}`;
    const typeOk =
      prop.type === 'integer' ? Number.isInteger(value)
      : prop.type === 'number' ? typeof value === 'number' && Number.isFinite(value)
      : prop.type === 'boolean' ? typeof value === 'boolean'
      : prop.type === 'string' ? typeof value === 'string'
      : true;
    if (!typeOk) {
      problems.push({ type: 'type', field: where, description: `Invalid type. Expected: ${prop.type}, given: ${typeof value}` });
      continue;
    }
    if (typeof value === 'number') {
      if (prop.minimum !== undefined && value < prop.minimum) {
        problems.push({ type: 'number_gte', field: where, description: `Must be greater than or equal to ${prop.minimum}` });
      }
      if (prop.maximum !== undefined && value > prop.maximum) {
        problems.push({ type: 'number_lte', field: where, description: `Must be less than or equal to ${prop.maximum}` });
      }
    }
    if (prop.enum && !prop.enum.includes(value)) {
      problems.push({ type: 'enum', field: where, description: `${field} must be one of the following: ${prop.enum.map((e) => `"${String(e)}"`).join(', ')}` });
    }
    if (prop.format === 'uri' && typeof value === 'string' && !/^(https?:|data:)/.test(value)) {
      problems.push({ type: 'format', field: where, description: 'Does not match format \'uri\'' });
    }
  }
  return problems;
}

function inputSchemaOf(kind: SchemaKind): { type: 'object'; properties: Record<string, JsonSchemaProperty>; required: string[] } {
  const { props, required } = BUILDERS[kind]();
  return { type: 'object', properties: props, required };
}

/** The `Input` schemas of trained versions, for tests that need them without an emulator. */
export const FLUX_VERSION_INPUT = inputSchemaOf('flux-trained');
export const SDXL_VERSION_INPUT = inputSchemaOf('sdxl-trained');
export const FLUX_TRAINER_INPUT = inputSchemaOf('flux-trainer');
export const SDXL_TRAINER_INPUT = inputSchemaOf('sdxl-trainer');
