import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { TrainingService } from '../../trainings/training-service.ts';
import { trainingSettingsInput } from '../../trainings/schemas.ts';
import { TRAINING_STATUSES } from '../../trainings/state-machine.ts';
import { requireUser } from '../auth.ts';
import { commonErrors, errorResponse, idParams } from '../response-schemas.ts';

const estimate = z.object({
  durationSeconds: z.object({ min: z.number(), expected: z.number(), max: z.number() }),
  costUsd: z.object({ min: z.number(), expected: z.number(), max: z.number() }),
  hardware: z.string(),
  basis: z.enum(['table', 'history']),
  basedOnRuns: z.number(),
});

export const trainingResponse = z.object({
  id: z.string(),
  modelId: z.string(),
  status: z.enum(TRAINING_STATUSES),
  settings: z.object({
    baseModel: z.string(), preset: z.string(), resolution: z.number(), epochs: z.number(), steps: z.number(),
    imageCount: z.number(), triggerWord: z.string(), formula: z.string(), inputs: z.record(z.string(), z.unknown()),
  }),
  estimate,
  progress: z.object({
    stage: z.string().nullable(), step: z.number().nullable(), totalSteps: z.number().nullable(), percent: z.number().nullable(),
    itPerSecond: z.number().nullable(), trainerEtaSeconds: z.number().nullable(), loss: z.number().nullable(),
  }),
  failure: z.object({ kind: z.string(), message: z.string(), nextStep: z.string() }).nullable(),
  cancelRequested: z.boolean(),
  weightsAvailable: z.boolean(),
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

const planResponse = z.object({
  plan: z.object({
    epochs: z.number(), repeats: z.number(), batchSize: z.number(), formulaSteps: z.number(), steps: z.number(),
    clamped: z.enum(['min', 'max']).nullable(), formula: z.string(), inputs: z.record(z.string(), z.unknown()),
  }),
  estimate,
  imageCount: z.number(),
  canStart: z.boolean(),
  blockers: z.array(z.string()),
});

const optionsResponse = z.object({
  providerConfigured: z.boolean(),
  baseModels: z.array(z.object({
    id: z.string(), label: z.string(), summary: z.string(), available: z.boolean(), unavailableReason: z.string().nullable(),
    supportsNegativePrompt: z.boolean(), overridableInputs: z.array(z.string()),
  })),
  presets: z.array(z.string()),
  resolutions: z.array(z.number()),
  dataset: z.object({ imageCount: z.number(), canTrain: z.boolean(), reasons: z.array(z.string()), triggerWord: z.string() }),
});

export const trainingRoutes = (trainings: TrainingService): FastifyPluginAsyncZod => async (app) => {
  app.get(
    '/api/models/:id/training-options',
    { schema: { tags: ['trainings'], summary: 'Step 4 choices: base models (and why some are unavailable), presets, resolutions', params: idParams, response: { 200: optionsResponse, ...commonErrors } } },
    async (request) => trainings.options(requireUser(request), request.params.id),
  );

  app.post(
    '/api/models/:id/training-plan',
    { schema: { tags: ['trainings'], summary: 'Steps, duration range and cost for these settings, before paying', params: idParams, body: trainingSettingsInput, response: { 200: planResponse, ...commonErrors } } },
    async (request) => trainings.plan(requireUser(request), request.params.id, request.body),
  );

  app.post(
    '/api/models/:id/trainings',
    { schema: { tags: ['trainings'], summary: 'Start Training', params: idParams, body: trainingSettingsInput, response: { 201: z.object({ training: trainingResponse }), 409: errorResponse, ...commonErrors } } },
    async (request, reply) => reply.code(201).send({ training: await trainings.start(requireUser(request), request.params.id, request.body) }),
  );

  app.get(
    '/api/models/:id/trainings',
    { schema: { tags: ['trainings'], summary: "A model's trainings, newest first", params: idParams, response: { 200: z.object({ trainings: z.array(trainingResponse) }), ...commonErrors } } },
    async (request) => ({ trainings: await trainings.listForModel(requireUser(request), request.params.id) }),
  );

  app.get(
    '/api/models/:id/card',
    {
      schema: {
        tags: ['trainings'],
        summary: 'Model card: base model, trigger word, training settings and the weights download (null until trained)',
        params: idParams,
        response: {
          200: z.object({
            card: z.object({
              baseModel: z.string(), baseModelLabel: z.string(), triggerWord: z.string(), preset: z.string(), resolution: z.number(), epochs: z.number(), steps: z.number(),
              imageCount: z.number(), trainedAt: z.string().nullable(), weightsUrl: z.string(), weightsBytes: z.number().nullable(),
            }).nullable(),
          }),
          ...commonErrors,
        },
      },
    },
    async (request) => ({ card: await trainings.card(requireUser(request), request.params.id) }),
  );

  app.get(
    '/api/trainings/:id',
    { schema: { tags: ['trainings'], summary: 'Training status, progress and details', params: idParams, response: { 200: z.object({ training: trainingResponse }), ...commonErrors } } },
    async (request) => ({ training: await trainings.get(requireUser(request), request.params.id) }),
  );

  app.get(
    '/api/trainings/:id/loss',
    { schema: { tags: ['trainings'], summary: 'Loss over steps, for the chart', params: idParams, response: { 200: z.object({ points: z.array(z.object({ step: z.number(), loss: z.number(), meanLoss: z.number() })) }), ...commonErrors } } },
    async (request) => ({ points: await trainings.lossSeries(requireUser(request), request.params.id) }),
  );

  app.get(
    '/api/trainings/:id/logs',
    { schema: { tags: ['trainings'], summary: 'The end of the trainer log', params: idParams, response: { 200: z.object({ tail: z.string() }), ...commonErrors } } },
    async (request) => ({ tail: await trainings.logTail(requireUser(request), request.params.id) }),
  );

  app.post(
    '/api/trainings/:id/cancel',
    { schema: { tags: ['trainings'], summary: 'Cancel (stops billing on Replicate)', params: idParams, response: { 200: z.object({ training: trainingResponse }), 409: errorResponse, ...commonErrors } } },
    async (request) => ({ training: await trainings.cancel(requireUser(request), request.params.id) }),
  );

  app.get(
    '/api/trainings/:id/weights',
    { schema: { tags: ['trainings'], summary: 'Download the trained LoRA (.safetensors)', params: idParams, response: { 200: z.unknown().describe('The .safetensors file'), ...commonErrors } } },
    async (request, reply) => {
      const file = await trainings.openWeights(requireUser(request), request.params.id);
      return reply
        .type('application/octet-stream')
        .header('content-length', file.size)
        .header('content-disposition', `attachment; filename="${file.filename}"`)
        .header('cache-control', 'private, max-age=3600')
        .send(file.stream);
    },
  );
};

/** Replicate's webhooks: the raw body is needed byte for byte to check the signature. */
export const webhookRoutes = (trainings: TrainingService): FastifyPluginAsyncZod => async (app) => {
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: 8 * 1024 * 1024 }, (_req, body, done) => done(null, body));
  app.post(
    '/api/webhooks/replicate',
    { config: { rateLimit: false }, bodyLimit: 8 * 1024 * 1024, schema: { tags: ['webhooks'], summary: 'Replicate training webhooks (Standard Webhooks signature)', response: { 200: z.object({ outcome: z.enum(['applied', 'duplicate']) }), 400: errorResponse, 401: errorResponse, 404: errorResponse, 413: errorResponse } } },
    async (request) => trainings.handleWebhook(request.headers, request.body as Buffer),
  );
};
