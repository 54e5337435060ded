/**
 * Shapes of the trainings API, derived from the zod schemas the server answers with
 * (src/http/schemas/trainings.ts, events.ts) and validates requests with (src/trainings/schemas.ts).
 * `import type` only: the imports are erased, so neither zod nor server code reaches the bundle.
 */
import type { z } from 'zod';
import type { liveEvent } from '../../../src/http/schemas/events.ts';
import type {
  estimate, logTailResponse, lossResponse, optionsResponse, planResponse, trainingEnvelope, trainingListResponse, trainingProgress, trainingResponse, trainingStatus,
} from '../../../src/http/schemas/trainings.ts';
import type { trainingSettingsInput } from '../../../src/trainings/schemas.ts';
import type { AsListed } from './types.ts';

export type TrainingStatus = z.output<typeof trainingStatus>;
export type Estimate = z.output<typeof estimate>;
export type TrainingProgress = z.output<typeof trainingProgress>;
export type Training = z.output<typeof trainingResponse>;
export type TrainingEnvelope = z.output<typeof trainingEnvelope>;
export type TrainingList = z.output<typeof trainingListResponse>;
export type TrainingOptions = z.output<typeof optionsResponse>;
export type TrainingPlan = z.output<typeof planResponse>;
export type LossPoints = z.output<typeof lossResponse>;
export type LogTail = z.output<typeof logTailResponse>;

/** The body of POST …/training-plan and …/trainings; the values come from GET …/training-options. */
export type TrainingSettings = AsListed<z.input<typeof trainingSettingsInput>>;

/** One event of GET /api/events; `status` is a training's status on `training.updated`. */
export type LiveEvent = z.output<typeof liveEvent>;

/*
 * Datasets: still hand-written copies of src/http/routes/dataset-routes.ts, because that code is
 * being changed in parallel; derive them from src/http/schemas/ like the rest once it settles.
 */
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
