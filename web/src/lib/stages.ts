import type { TrainingStatus } from '../api/training-types.ts';

/** The stages a training goes through, in order, with what a person should know at each. */
export const STAGES: Array<{ id: string; label: string; tip: string }> = [
  { id: 'queued', label: 'Queued', tip: 'Your images are being packaged for the trainer. This takes a few seconds.' },
  { id: 'submitting', label: 'Submitting', tip: 'Uploading your training set to Replicate and reserving the trainer.' },
  { id: 'booting', label: 'Waiting for a GPU', tip: 'Replicate is starting a GPU machine for your training. Usually under two minutes; at busy times it can take longer. You are not billed while waiting.' },
  { id: 'downloading_weights', label: 'Downloading the base model', tip: 'The trainer downloads the base model weights (tens of GB) when they are not cached. A few minutes at most.' },
  { id: 'extracting', label: 'Unpacking images', tip: 'Your images are unpacked on the trainer.' },
  { id: 'captioning', label: 'Captioning', tip: 'Images without a caption get one written automatically, with your trigger word added. Your own captions are kept as they are.' },
  { id: 'loading_model', label: 'Loading the model', tip: 'The base model is loaded onto the GPU and prepared for LoRA training.' },
  { id: 'caching_latents', label: 'Preparing images', tip: 'Each image is encoded once at the training resolutions, so training steps are fast.' },
  { id: 'training', label: 'Training', tip: 'The LoRA learns your subject or style, step by step. The loss should trend down; small bumps are normal. This is the longest stage.' },
  { id: 'saving', label: 'Saving', tip: 'The trained LoRA is saved and packaged.' },
  { id: 'uploading', label: 'Finishing', tip: 'Replicate stores the new version, and The Way copies your LoRA weights into its own storage so they never expire.' },
  { id: 'finished', label: 'Ready', tip: 'Your model is ready. Open it to generate images: use the trigger word in your prompts.' },
];

export const stageIndex = (stage: string | null, status: TrainingStatus): number => {
  if (status === 'succeeded' && (stage === 'finished' || !stage)) return STAGES.length - 1;
  if (status === 'queued') return 0;
  if (status === 'submitting') return 1;
  if (status === 'starting' && (!stage || stage === 'booting' || stage === 'submitting' || stage === 'queued')) return 2;
  const i = STAGES.findIndex((s) => s.id === stage);
  return i >= 0 ? i : 2;
};

/** How long a stage may stay silent before the page says so instead of spinning. */
export const STALL_AFTER_MS: Record<string, number> = {
  queued: 3 * 60_000,
  submitting: 5 * 60_000,
  booting: 10 * 60_000,
  downloading_weights: 10 * 60_000,
  training: 3 * 60_000,
};

export const PRESET_INFO: Record<string, { label: string; guide: string }> = {
  beginner: { label: 'Beginner', guide: 'Fastest training (30-40 min), good for testing' },
  standard: { label: 'Standard', guide: 'Balanced quality and speed (40-60 min)' },
  expert: { label: 'Expert', guide: 'Highest quality results but slower (60-120 min)' },
};

export const RESOLUTION_INFO: Record<number, string> = {
  512: 'Fast training, good for testing',
  768: 'Balanced choice for most uses',
  1024: 'Higher quality, but slower training',
};

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export const formatUsd = (n: number) => `$${n.toFixed(2)}`;
