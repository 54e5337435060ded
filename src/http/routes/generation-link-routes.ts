import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { GenerationLinkService } from '../../generations/generation-links-service.ts';
import { requireUser } from '../auth.ts';
import { commonErrors, errorResponse, idParams, noContent } from '../schemas/common.ts';
import { linkInput, linkResponse, sharedResponse } from '../schemas/generations.ts';

/**
 * The token is never validated for shape: a malformed token gets the same 404 as a revoked or
 * unknown one, so answers do not tell which tokens are well-formed (see docs/decisions.md).
 */
const tokenParams = z.object({ token: z.string() });
const publicErrors = { 404: errorResponse, 429: errorResponse };

/** The address the caller reached us at, for links when PUBLIC_URL is not set. */
const originOf = (request: FastifyRequest) => `${request.protocol}://${request.host}`;

/**
 * Public pages and answers for a link are kept out of search engines, and never send the URL
 * (which holds the token) on to another site. Installed on the root so it also covers the web
 * app's `/s/:token` page, which the not-found handler serves.
 */
export function installShareLinkHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    const url = request.url;
    if (url.startsWith('/s/') || url.startsWith('/api/shared/')) reply.header('x-robots-tag', 'noindex, nofollow').header('referrer-policy', 'no-referrer');
  });
}

export const generationLinkRoutes = (links: GenerationLinkService, options: { publicUrl: string | undefined }): FastifyPluginAsyncZod => async (app) => {
  app.post(
    '/api/generations/:id/link',
    {
      schema: {
        tags: ['generations'],
        summary: 'Make a public link to one finished generation (or get the one it has)',
        description: 'One link per generation: asking again returns the same link (201 when made, 200 when it existed). The prompt is shown only with includePrompt: true. Anyone with the link sees the images, signed in or not, until the link is turned off.',
        params: idParams,
        // No body at all (curl -X POST) means the defaults.
        body: linkInput,
        response: { 200: linkResponse, 201: linkResponse, 409: errorResponse, ...commonErrors },
      },
    },
    async (request, reply) => {
      const { link, created } = await links.create(requireUser(request), request.params.id, request.body ?? {}, options.publicUrl ?? originOf(request));
      return reply.code(created ? 201 : 200).send({ link });
    },
  );

  app.delete(
    '/api/generations/:id/link',
    { schema: { tags: ['generations'], summary: "Turn off a generation's public link (its URL then answers 404; a new link gets a new address)", params: idParams, response: { ...noContent, ...commonErrors } } },
    async (request, reply) => {
      await links.revoke(requireUser(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/shared/:token',
    {
      schema: {
        tags: ['shared'],
        summary: 'What a public link shows: the images, when they were made, and the prompt if the owner chose to show it (no sign-in)',
        security: [],
        params: tokenParams,
        response: { 200: sharedResponse, ...publicErrors },
      },
    },
    async (request) => ({ shared: await links.open(request.params.token) }),
  );

  app.get(
    '/api/shared/:token/images/:position',
    {
      schema: {
        tags: ['shared'],
        summary: 'An image of a shared generation (no sign-in)',
        security: [],
        params: z.object({ token: z.string(), position: z.string() }),
        querystring: z.object({ download: z.string().optional() }),
        response: { 200: z.unknown().describe('image bytes'), ...publicErrors },
      },
    },
    async (request, reply) => {
      const file = await links.openImage(request.params.token, request.params.position);
      // Private: no shared cache keeps a copy after the link is turned off. A viewer's own browser
      // may keep it for an hour; they have seen it already and could have downloaded it.
      reply.type(file.contentType).header('content-length', file.size).header('cache-control', 'private, max-age=3600');
      if (request.query.download === '1') reply.header('content-disposition', `attachment; filename="${file.filename}"`);
      return reply.send(file.stream);
    },
  );
};
