import { z } from 'zod';

/**
 * The same list as TRAINING_STATUSES in src/trainings/state-machine.ts, repeated because this
 * folder imports nothing but zod; test/unit/web/api-schemas.test.ts fails when the two differ.
 */
export const trainingStatus = z.enum(['draft', 'queued', 'submitting', 'starting', 'processing', 'succeeded', 'failed', 'canceled']);

/** Duration and cost before paying: from the price table, or from this installation's own past runs. */
export const estimate = z.object({
  durationSeconds: z.object({ min: z.number(), expected: z.number(), max: z.number() }),
  costUsd: z.object({ min: z.number(), expected: z.number(), max: z.number() }),
  hardware: z.string(),
  basis: z.enum(['table', 'history']),
  basedOnRuns: z.number(),
});

export const trainingProgress = z.object({
  stage: z.string().nullable(), step: z.number().nullable(), totalSteps: z.number().nullable(), percent: z.number().nullable(),
  itPerSecond: z.number().nullable(), trainerEtaSeconds: z.number().nullable(), loss: z.number().nullable(),
});

export const trainingResponse = z.object({
  id: z.string(),
  modelId: z.string(),
  status: trainingStatus,
  settings: z.object({
    baseModel: z.string(), preset: z.string(), resolution: z.number(), epochs: z.number(), steps: z.number(),
    imageCount: z.number(), triggerWord: z.string(), formula: z.string(), inputs: z.record(z.string(), z.unknown()),
  }),
  estimate,
  progress: trainingProgress,
  failure: z.object({ kind: z.string(), message: z.string(), nextStep: z.string() }).nullable(),
  cancelRequested: z.boolean(),
  weightsAvailable: z.boolean(),
  /** Succeeded, but the weights could not be copied: why. */
  weightsNotice: z.string().nullable(),
  outputVersion: z.string().nullable(),
  retrainOf: z.string().nullable(),
  queuedAt: z.string().nullable(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
  lastEventAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const trainingEnvelope = z.object({ training: trainingResponse });
export const trainingListResponse = z.object({ trainings: z.array(trainingResponse) });

/** POST …/training-plan: what these settings would run, and whether Start Training may be pressed. */
export const planResponse = z.object({
  plan: z.object({
    epochs: z.number(), repeats: z.number(), batchSize: z.number(), formulaSteps: z.number(), steps: z.number(),
    clamped: z.enum(['min', 'max']).nullable(), formula: z.string(), inputs: z.record(z.string(), z.unknown()),
  }),
  estimate,
  imageCount: z.number(),
  canStart: z.boolean(),
  blockers: z.array(z.string()),
});

/** GET …/training-options: Step 4's choices, as plain strings and numbers the page echoes back. */
export const optionsResponse = z.object({
  providerConfigured: z.boolean(),
  baseModels: z.array(z.object({
    id: z.string(), label: z.string(), summary: z.string(), available: z.boolean(), unavailableReason: z.string().nullable(),
    supportsNegativePrompt: z.boolean(), overridableInputs: z.array(z.string()),
  })),
  presets: z.array(z.string()),
  resolutions: z.array(z.number()),
  dataset: z.object({ imageCount: z.number(), canTrain: z.boolean(), reasons: z.array(z.string()), triggerWord: z.string() }),
});

/** GET /api/models/{id}/card: null until the model has a finished training. */
export const modelCardResponse = z.object({
  card: z.object({
    baseModel: z.string(), baseModelLabel: z.string(), triggerWord: z.string(), preset: z.string(), resolution: z.number(), epochs: z.number(), steps: z.number(),
    imageCount: z.number(), trainedAt: z.string().nullable(), weightsUrl: z.string(), weightsBytes: z.number().nullable(),
  }).nullable(),
});

export const lossResponse = z.object({ points: z.array(z.object({ step: z.number(), loss: z.number(), meanLoss: z.number() })) });
export const logTailResponse = z.object({ tail: z.string() });
