import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { GenerationService } from '../../generations/generation-service.ts';
import { comparisonInput, generationInput, generationListQuery, recipeCreateInput, recipeUpdateInput } from '../../generations/schemas.ts';
import { requireUser } from '../auth.ts';
import { commonErrors, errorResponse, idParams, noContent } from '../schemas/common.ts';
import {
  comparisonResponse, generationEnvelope, generationListResponse, generationOptionsResponse, recipeEnvelope, recipeListResponse, shareInput, showcaseResponse,
} from '../schemas/generations.ts';

export const generationRoutes = (generations: GenerationService): FastifyPluginAsyncZod => async (app) => {
  app.get(
    '/api/models/:id/generation-options',
    {
      schema: {
        tags: ['generations'],
        summary: 'The Generate page controls for this model: ranges and defaults per base model, negative prompt support, trigger word',
        params: idParams,
        response: { 200: generationOptionsResponse, ...commonErrors },
      },
    },
    async (request) => generations.options(requireUser(request), request.params.id),
  );

  app.post(
    '/api/models/:id/generations',
    { schema: { tags: ['generations'], summary: 'Generate images with a ready model (own or public)', params: idParams, body: generationInput, response: { 201: generationEnvelope, 409: errorResponse, 502: errorResponse, ...commonErrors } } },
    async (request, reply) => reply.code(201).send({ generation: await generations.create(requireUser(request), request.params.id, request.body) }),
  );

  app.post(
    '/api/models/:id/comparisons',
    {
      schema: {
        tags: ['generations'],
        summary: 'One prompt and seed at several LoRA scales (and optionally guidance scales), side by side',
        params: idParams,
        body: comparisonInput,
        response: { 201: comparisonResponse, 409: errorResponse, 502: errorResponse, ...commonErrors },
      },
    },
    async (request, reply) => reply.code(201).send(await generations.compare(requireUser(request), request.params.id, request.body)),
  );

  app.get(
    '/api/generations',
    {
      schema: {
        tags: ['generations'],
        summary: 'Your gallery, newest first (filter by model or comparison batch)',
        querystring: generationListQuery,
        response: { 200: generationListResponse, ...commonErrors },
      },
    },
    async (request) => generations.list(requireUser(request), request.query),
  );

  app.get(
    '/api/generations/:id',
    { schema: { tags: ['generations'], summary: 'One generation with its images and the exact parameters and seed', params: idParams, response: { 200: generationEnvelope, ...commonErrors } } },
    async (request) => ({ generation: await generations.get(requireUser(request), request.params.id) }),
  );

  app.patch(
    '/api/generations/:id',
    {
      schema: {
        tags: ['generations'],
        summary: "Share a finished generation on the model's showcase (or make it private again)",
        params: idParams,
        body: shareInput,
        response: { 200: generationEnvelope, 409: errorResponse, ...commonErrors },
      },
    },
    async (request) => ({ generation: await generations.share(requireUser(request), request.params.id, request.body.shared) }),
  );

  app.get(
    '/api/models/:id/showcase',
    { schema: { tags: ['generations'], summary: "Generations their authors shared for this model (visible to everyone who can see the model)", params: idParams, response: { 200: showcaseResponse, ...commonErrors } } },
    async (request) => ({ generations: await generations.showcase(requireUser(request), request.params.id) }),
  );

  app.delete(
    '/api/generations/:id',
    { schema: { tags: ['generations'], summary: 'Delete a generation and its images', params: idParams, response: { ...noContent, ...commonErrors } } },
    async (request, reply) => {
      await generations.delete(requireUser(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/generations/:id/cancel',
    { schema: { tags: ['generations'], summary: 'Stop a queued or running generation', params: idParams, response: { 200: generationEnvelope, 409: errorResponse, ...commonErrors } } },
    async (request) => ({ generation: await generations.cancel(requireUser(request), request.params.id) }),
  );

  app.get(
    '/api/generations/:id/images/:position',
    {
      schema: {
        tags: ['generations'],
        summary: 'A generated image (owner only)',
        params: z.object({ id: z.uuid('The id must be a UUID, as returned by this API.'), position: z.coerce.number().int().min(0).max(3) }),
        querystring: z.object({ download: z.enum(['1']).optional() }),
        response: { 200: z.unknown().describe('image bytes'), ...commonErrors },
      },
    },
    async (request, reply) => {
      const file = await generations.openImage(requireUser(request), request.params.id, request.params.position);
      reply.type(file.contentType).header('content-length', file.size).header('cache-control', 'private, max-age=86400, immutable');
      if (request.query.download) reply.header('content-disposition', `attachment; filename="${file.filename}"`);
      return reply.send(file.stream);
    },
  );

  app.get(
    '/api/models/:id/recipes',
    { schema: { tags: ['recipes'], summary: 'Your saved prompts for this model', params: idParams, response: { 200: recipeListResponse, ...commonErrors } } },
    async (request) => ({ recipes: await generations.listRecipes(requireUser(request), request.params.id) }),
  );

  app.post(
    '/api/models/:id/recipes',
    {
      schema: {
        tags: ['recipes'],
        summary: 'Save a successful prompt (from a generation, or given directly)',
        params: idParams,
        body: recipeCreateInput,
        response: { 201: recipeEnvelope, 409: errorResponse, ...commonErrors },
      },
    },
    async (request, reply) => reply.code(201).send({ recipe: await generations.createRecipe(requireUser(request), request.params.id, request.body) }),
  );

  app.patch(
    '/api/recipes/:id',
    {
      schema: {
        tags: ['recipes'],
        summary: 'Edit a saved prompt',
        params: idParams,
        body: recipeUpdateInput,
        response: { 200: recipeEnvelope, 409: errorResponse, ...commonErrors },
      },
    },
    async (request) => ({ recipe: await generations.updateRecipe(requireUser(request), request.params.id, request.body) }),
  );

  app.delete(
    '/api/recipes/:id',
    { schema: { tags: ['recipes'], summary: 'Delete a saved prompt', params: idParams, response: { ...noContent, ...commonErrors } } },
    async (request, reply) => {
      await generations.deleteRecipe(requireUser(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
};
