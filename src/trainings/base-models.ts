/**
 * The base models the guide lists, and which of them a cloud trainer really trains.
 * SD 1.5 and 2.1 have no Replicate trainer that could be confirmed (the old DreamBooth API is
 * retired), so they are listed but unavailable, with the reason: never silently swapped.
 */
export const BASE_MODELS = ['flux-dev', 'sdxl', 'sd15', 'sd21'] as const;
export type BaseModel = (typeof BASE_MODELS)[number];

export interface TrainerRef {
  owner: string;
  name: string;
}

export interface BaseModelInfo {
  id: BaseModel;
  label: string;
  summary: string;
  trainer: TrainerRef | null;
  unavailableReason: string | null;
  /** Whether generation with the trained model accepts a negative prompt. */
  supportsNegativePrompt: boolean;
}

export const BASE_MODEL_INFO: Record<BaseModel, BaseModelInfo> = {
  'flux-dev': {
    id: 'flux-dev',
    label: 'FLUX.1 [dev]',
    summary: "Highest quality and best prompt following; trained with Replicate's Flux LoRA trainer (ostris/flux-dev-lora-trainer). Non-commercial licence outside Replicate.",
    trainer: { owner: 'ostris', name: 'flux-dev-lora-trainer' },
    unavailableReason: null,
    supportsNegativePrompt: false,
  },
  sdxl: {
    id: 'sdxl',
    label: 'SDXL',
    summary: "Stable Diffusion XL: high quality, supports negative prompts; trained with Replicate's SDXL trainer.",
    trainer: { owner: 'stability-ai', name: 'sdxl' },
    unavailableReason: null,
    supportsNegativePrompt: true,
  },
  sd15: {
    id: 'sd15',
    label: 'Stable Diffusion 1.5',
    summary: 'Faster but lower quality.',
    trainer: null,
    unavailableReason: 'No cloud trainer for Stable Diffusion 1.5 is available on Replicate, so The Way cannot train it. Choose FLUX.1 [dev] or SDXL.',
    supportsNegativePrompt: true,
  },
  sd21: {
    id: 'sd21',
    label: 'Stable Diffusion 2.1',
    summary: 'Good balance of quality and speed.',
    trainer: null,
    unavailableReason: 'No cloud trainer for Stable Diffusion 2.1 is available on Replicate, so The Way cannot train it. Choose FLUX.1 [dev] or SDXL.',
    supportsNegativePrompt: true,
  },
};
