import type { ModelStatus, ModelType, Visibility } from '../api/types.ts';

/** Wording from the Model Training Guide ("Types of Models You Can Train"). */
export const MODEL_TYPES: { value: ModelType; label: string; description: string }[] = [
  {
    value: 'person',
    label: 'Person/Character',
    description: 'Train on images of a specific person or character to generate new images of them.',
  },
  {
    value: 'style',
    label: 'Style',
    description: 'Train on images with a consistent artistic style to apply that style to new generations.',
  },
  {
    value: 'object',
    label: 'Object',
    description: 'Train on images of specific objects to generate variations or place them in new contexts.',
  },
];

export const VISIBILITIES: { value: Visibility; label: string; description: string }[] = [
  { value: 'private', label: 'Private', description: 'Only you can see and use this model.' },
  { value: 'public', label: 'Public', description: 'Everyone on this server can find it under Public models.' },
];

export const modelTypeLabel = (t: ModelType): string => MODEL_TYPES.find((m) => m.value === t)?.label ?? t;
export const visibilityLabel = (v: Visibility): string => (v === 'public' ? 'Public' : 'Private');

export const STATUS_LABELS: Record<ModelStatus, string> = {
  draft: 'Draft',
  training: 'Training',
  ready: 'Ready',
  failed: 'Failed',
};
export const statusLabel = (s: ModelStatus): string => STATUS_LABELS[s] ?? s;

/** The guide's training steps after "Access the Model Creation Page". */
export const CREATION_STEPS = [
  'Basic information',
  'Upload training images',
  'Training parameters',
  'Start training',
] as const;
