/** Shapes of the datasets and trainings API (see src/http/routes/dataset-routes.ts and training-routes.ts). */
export interface Badge {
  code: string;
  severity: 'error' | 'warning' | 'info';
  message: string;
}

export interface DatasetImage {
  id: string;
  filename: string;
  width: number;
  height: number;
  format: string;
  bytes: number;
  caption: string;
  badges: Badge[];
  thumbnailUrl: string;
  fileUrl: string;
  createdAt: string;
}

export interface DatasetSettings {
  triggerWord: string;
  triggerWordIsDefault: boolean;
  captionPrefix: string;
}

export interface Dataset {
  resolution: number;
  settings: DatasetSettings;
  images: DatasetImage[];
  summary: {
    count: number;
    recommended: { min: number; max: number };
    minimumToTrain: number;
    duplicateRatio: number;
    nearDuplicateGroups: string[][];
    badges: Badge[];
    readiness: { ready: boolean; canTrain: boolean; verdict: 'ready' | 'needs_attention' | 'blocked'; topFixes: string[] };
  };
}

export type UploadResult =
  | { filename: string; status: 'added' | 'duplicate'; image: DatasetImage }
  | { filename: string; status: 'rejected'; error: { code: string; message: string } }
  | { filename: string; status: 'skipped'; reason: string };

export type TrainingStatus = 'draft' | 'queued' | 'submitting' | 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';

export interface Range {
  min: number;
  expected: number;
  max: number;
}

export interface Estimate {
  durationSeconds: Range;
  costUsd: Range;
  hardware: string;
  basis: 'table' | 'history';
  basedOnRuns: number;
}

export interface TrainingProgress {
  stage: string | null;
  step: number | null;
  totalSteps: number | null;
  percent: number | null;
  itPerSecond?: number | null;
  trainerEtaSeconds: number | null;
  loss: number | null;
}

export interface Training {
  id: string;
  modelId: string;
  status: TrainingStatus;
  settings: { baseModel: string; preset: string; resolution: number; epochs: number; steps: number; imageCount: number; triggerWord: string; formula: string; inputs: Record<string, unknown> };
  estimate: Estimate;
  progress: TrainingProgress;
  failure: { kind: string; message: string; nextStep: string } | null;
  cancelRequested: boolean;
  weightsAvailable: boolean;
  /** Succeeded, but the weights could not be copied: why. */
  weightsNotice: string | null;
  outputVersion: string | null;
  retrainOf: string | null;
  queuedAt: string | null;
  startedAt: string | null;
  completedAt: string | null;
  lastEventAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface TrainingOptions {
  providerConfigured: boolean;
  baseModels: Array<{ id: string; label: string; summary: string; available: boolean; unavailableReason: string | null; supportsNegativePrompt: boolean; overridableInputs: string[] }>;
  presets: string[];
  resolutions: number[];
  dataset: { imageCount: number; canTrain: boolean; reasons: string[]; triggerWord: string };
}

export interface TrainingSettings {
  baseModel: string;
  preset: string;
  resolution: number;
  epochs?: number;
  overrides?: Record<string, number | string | boolean>;
  retrainOf?: string;
}

export interface TrainingPlan {
  plan: { epochs: number; repeats: number; batchSize: number; formulaSteps: number; steps: number; clamped: 'min' | 'max' | null; formula: string; inputs: Record<string, unknown> };
  estimate: Estimate;
  imageCount: number;
  canStart: boolean;
  blockers: string[];
}

export interface LiveEvent {
  type: 'training.updated' | 'model.updated';
  ownerId: string;
  modelId: string;
  trainingId?: string;
  status?: TrainingStatus;
  progress?: TrainingProgress;
  at: string;
}
