import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ModelService } from '../../models/model-service.ts';
import { createModelInput, listModelsQuery, updateModelInput } from '../../models/schemas.ts';
import { requireUser } from '../auth.ts';
import { RevisionCache } from '../revision-cache.ts';
import { commonErrors, errorResponse, idParams, noContent } from '../schemas/common.ts';
import { modelEnvelope, modelListResponse } from '../schemas/models.ts';

export const modelRoutes = (models: ModelService): FastifyPluginAsyncZod => async (app) => {
  // Dashboards re-read the list often; it only changes when the collection's revision does.
  const listCache = new RevisionCache(32 * 1024 * 1024);

  app.get(
    '/api/models',
    {
      schema: {
        tags: ['models'],
        summary: 'Your models (scope=mine) or everyone\'s public models (scope=public), newest first',
        querystring: listModelsQuery,
        response: { 200: modelListResponse, 304: z.null().describe('Not modified (If-None-Match)'), ...commonErrors },
      },
    },
    async (request, reply) => {
      const viewer = requireUser(request);
      const { scope, limit, cursor } = request.query;
      const revision = await models.listRevision(viewer, scope);
      const key = `${viewer.id}|${scope}|${revision}|${limit}|${cursor ?? ''}`;
      // The cached body bypasses the response serializer, so it is checked against the schema when computed.
      return listCache.reply(request, reply, key, async () => modelListResponse.parse(await models.list(viewer, request.query)));
    },
  );

  app.post(
    '/api/models',
    {
      schema: {
        tags: ['models'],
        summary: 'Create New Model',
        body: createModelInput,
        response: { 201: modelEnvelope, 409: errorResponse, ...commonErrors },
      },
    },
    async (request, reply) => reply.code(201).send({ model: await models.create(requireUser(request), request.body) }),
  );

  app.get(
    '/api/models/:id',
    { schema: { tags: ['models'], summary: 'One model (yours, or a public one)', params: idParams, response: { 200: modelEnvelope, ...commonErrors } } },
    async (request) => ({ model: await models.get(requireUser(request), request.params.id) }),
  );

  app.patch(
    '/api/models/:id',
    {
      schema: {
        tags: ['models'],
        summary: 'Rename or edit your model',
        params: idParams,
        body: updateModelInput,
        response: { 200: modelEnvelope, 409: errorResponse, ...commonErrors },
      },
    },
    async (request) => ({ model: await models.update(requireUser(request), request.params.id, request.body) }),
  );

  app.delete(
    '/api/models/:id',
    { schema: { tags: ['models'], summary: 'Delete your model and everything it owns', params: idParams, response: { ...noContent, ...commonErrors } } },
    async (request, reply) => {
      await models.delete(requireUser(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
};
