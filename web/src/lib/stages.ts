import type { TrainingStatus } from '../api/training-types.ts';

/** The stages a training goes through, in order, with what a person should know at each. */
export const STAGES: Array<{ id: string; label: string; tip: string }> = [
  { id: 'queued', label: 'Queued', tip: 'The Way is packaging your images and captions into a training set. This takes a few seconds; nothing is billed yet.' },
  { id: 'submitting', label: 'Submitting', tip: 'Uploading your training set to Replicate and creating the training. If Replicate is briefly unreachable, The Way retries on its own.' },
  { id: 'booting', label: 'Waiting for a GPU', tip: 'Replicate is starting a GPU machine for your training. Usually one or two minutes; at busy times it can take longer. You are not billed while it waits, and you can close this page.' },
  { id: 'downloading_weights', label: 'Downloading the base model', tip: 'The trainer downloads the base model weights (tens of GB) unless the machine already has them cached. A few minutes at most.' },
  { id: 'extracting', label: 'Unpacking images', tip: 'Your images are unpacked on the trainer and checked once more. Seconds.' },
  { id: 'captioning', label: 'Captioning', tip: 'LLaVA is writing a caption for each image without one, with your trigger word in front. Your own captions are kept as they are. About a minute for 20 images.' },
  { id: 'loading_model', label: 'Loading the model', tip: 'The base model is loaded onto the GPU and prepared for LoRA training. A minute or two.' },
  { id: 'caching_latents', label: 'Preparing images', tip: 'Each image is encoded once at the training resolution, so the training steps themselves are fast. Higher resolutions take a little longer here.' },
  { id: 'training', label: 'Training', tip: 'The LoRA learns your subject or style, step by step; this is the longest stage and the time left comes from the trainer itself. The loss should trend down; small bumps are normal.' },
  { id: 'saving', label: 'Saving', tip: 'The trained LoRA weights are written out and packaged. Under a minute.' },
  { id: 'uploading', label: 'Finishing', tip: 'Replicate stores the new version, and The Way copies your LoRA weights into its own storage so they never expire. Almost there.' },
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

/** "6–13 min" rather than "6 min – 13 min" when both ends share a unit. */
export function formatDurationRange(min: number, max: number): string {
  const a = formatDuration(min);
  const b = formatDuration(max);
  if (a === b) return a;
  const unit = / (s|min)$/;
  const ua = a.match(unit)?.[1];
  return ua && ua === b.match(unit)?.[1] && !a.includes(' h ') ? `${a.replace(unit, '')}–${b}` : `${a} – ${b}`;
}

export const formatUsdRange = (min: number, max: number) => (min.toFixed(2) === max.toFixed(2) ? formatUsd(min) : `${formatUsd(min)} – ${formatUsd(max)}`);

/** Training statuses in the words a person uses. */
export const TRAINING_STATUS_LABELS: Record<TrainingStatus, string> = {
  draft: 'Draft',
  queued: 'Queued',
  submitting: 'Submitting to Replicate',
  starting: 'Starting',
  processing: 'Training',
  succeeded: 'Succeeded',
  failed: 'Failed',
  canceled: 'Canceled',
};
export const trainingStatusLabel = (s: TrainingStatus): string => TRAINING_STATUS_LABELS[s] ?? s;

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'canceled']);

/**
 * Whether the page should say "no progress for a while" instead of spinning: each stage has its own
 * normal silence (booting waits for a GPU, training reports every few seconds).
 */
export function stallInfo(training: { status: TrainingStatus; progress: { stage: string | null }; lastEventAt: string | null; updatedAt: string }, now: number): { stalled: boolean; silentMs: number } {
  if (TERMINAL_STATUSES.has(training.status)) return { stalled: false, silentMs: 0 };
  const last = Date.parse(training.lastEventAt ?? training.updatedAt);
  const silentMs = Math.max(0, now - last);
  const key = training.progress.stage ?? (training.status === 'starting' ? 'booting' : training.status);
  return { stalled: silentMs > (STALL_AFTER_MS[key] ?? 10 * 60_000), silentMs };
}
