import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { TrainingService } from '../../trainings/training-service.ts';
import { trainingSettingsInput } from '../../trainings/schemas.ts';
import { notFound } from '../../shared/errors.ts';
import { requireUser } from '../auth.ts';
import { commonErrors, errorResponse, idParams } from '../schemas/common.ts';
import { logTailResponse, lossResponse, modelCardResponse, optionsResponse, planResponse, trainingEnvelope, trainingListResponse } from '../schemas/trainings.ts';

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
    { schema: { tags: ['trainings'], summary: 'Start Training', params: idParams, body: trainingSettingsInput, response: { 201: trainingEnvelope, 409: errorResponse, ...commonErrors } } },
    async (request, reply) => reply.code(201).send({ training: await trainings.start(requireUser(request), request.params.id, request.body) }),
  );

  app.get(
    '/api/models/:id/trainings',
    { schema: { tags: ['trainings'], summary: "A model's trainings, newest first", params: idParams, response: { 200: trainingListResponse, ...commonErrors } } },
    async (request) => ({ trainings: await trainings.listForModel(requireUser(request), request.params.id) }),
  );

  app.get(
    '/api/models/:id/card',
    {
      schema: {
        tags: ['trainings'],
        summary: 'Model card: base model, trigger word, training settings and the weights download (null until trained)',
        params: idParams,
        response: { 200: modelCardResponse, ...commonErrors },
      },
    },
    async (request) => ({ card: await trainings.card(requireUser(request), request.params.id) }),
  );

  app.get(
    '/api/trainings/:id',
    { schema: { tags: ['trainings'], summary: 'Training status, progress and details', params: idParams, response: { 200: trainingEnvelope, ...commonErrors } } },
    async (request) => ({ training: await trainings.get(requireUser(request), request.params.id) }),
  );

  app.get(
    '/api/trainings/:id/loss',
    { schema: { tags: ['trainings'], summary: 'Loss over steps, for the chart', params: idParams, response: { 200: lossResponse, ...commonErrors } } },
    async (request) => ({ points: await trainings.lossSeries(requireUser(request), request.params.id) }),
  );

  app.get(
    '/api/trainings/:id/logs',
    { schema: { tags: ['trainings'], summary: 'The end of the trainer log', params: idParams, response: { 200: logTailResponse, ...commonErrors } } },
    async (request) => ({ tail: await trainings.logTail(requireUser(request), request.params.id) }),
  );

  app.post(
    '/api/trainings/:id/cancel',
    { schema: { tags: ['trainings'], summary: 'Cancel (stops billing on Replicate)', params: idParams, response: { 200: trainingEnvelope, 409: errorResponse, ...commonErrors } } },
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

/**
 * Largest Replicate webhook body. A delivery carries the whole training object, its log included
 * (which grows with the training), so it needs far more than JSON_BODY_LIMIT_KB. A larger
 * Content-Length gets 413 before anything is read.
 */
export const REPLICATE_WEBHOOK_BODY_LIMIT = 8 * 1024 * 1024;

/**
 * Replicate's webhooks: the raw body is needed byte for byte to check the signature. The route is
 * open to anyone, so whatever can be refused without the body is refused before it is read: the
 * 404 when webhooks are off (here) and the per-address limit (REPLICATE_WEBHOOK_RATE_LIMIT_PER_MIN,
 * src/http/rate-limits.ts), both in onRequest.
 */
export const webhookRoutes = (trainings: TrainingService): FastifyPluginAsyncZod => async (app) => {
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: REPLICATE_WEBHOOK_BODY_LIMIT }, (_req, body, done) => done(null, body));
  app.post(
    '/api/webhooks/replicate',
    {
      // Its own per-address limit replaces the global API limit (see rate-limits.ts).
      config: { rateLimit: false },
      bodyLimit: REPLICATE_WEBHOOK_BODY_LIMIT,
      // The same 404 as TrainingService.handleWebhook gives, without buffering up to 8 MiB first.
      onRequest: async () => {
        if (!trainings.webhooksEnabled) throw notFound('Webhook endpoint');
      },
      schema: { tags: ['webhooks'], summary: 'Replicate training webhooks (Standard Webhooks signature)', response: { 200: z.object({ outcome: z.enum(['applied', 'duplicate']) }), 400: errorResponse, 401: errorResponse, 404: errorResponse, 413: errorResponse, 429: errorResponse } },
    },
    async (request) => trainings.handleWebhook(request.headers, request.body as Buffer),
  );
};
