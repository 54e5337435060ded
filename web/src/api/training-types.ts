/**
 * Shapes of the datasets and trainings API, derived from the zod schemas the server answers with
 * (src/http/schemas/datasets.ts, trainings.ts, events.ts) and validates requests with (src/trainings/schemas.ts).
 * `import type` only: the imports are erased, so neither zod nor server code reaches the bundle.
 */
import type { z } from 'zod';
import type { badge, datasetImage, datasetResponse, datasetSettings, uploadResult } from '../../../src/http/schemas/datasets.ts';
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

/** Step 3: the dataset review and each uploaded file's verdict (src/http/schemas/datasets.ts). */
export type Badge = z.output<typeof badge>;
export type DatasetImage = z.output<typeof datasetImage>;
export type DatasetSettings = z.output<typeof datasetSettings>;
export type Dataset = z.output<typeof datasetResponse>;
export type UploadResult = z.output<typeof uploadResult>;
