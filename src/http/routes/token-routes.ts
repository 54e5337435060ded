import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AccountService } from '../../accounts/account-service.ts';
import { createTokenInput } from '../../accounts/schemas.ts';
import { requireSessionUser, requireUser } from '../auth.ts';
import { createdTokenResponse, tokenListResponse } from '../schemas/accounts.ts';
import { commonErrors, idParams, noContent } from '../schemas/common.ts';

export const tokenRoutes = (accounts: AccountService): FastifyPluginAsyncZod => async (app) => {
  app.get(
    '/api/tokens',
    { schema: { tags: ['tokens'], summary: 'List your API tokens', response: { 200: tokenListResponse, ...commonErrors } } },
    async (request) => ({ tokens: await accounts.listApiTokens(requireUser(request).id) }),
  );

  app.post(
    '/api/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Create an API token (the secret is shown once; needs a browser session, not a token)',
        body: createTokenInput,
        response: { 201: createdTokenResponse, ...commonErrors },
      },
    },
    async (request, reply) => reply.code(201).send(await accounts.createApiToken(requireSessionUser(request, 'create API tokens').id, request.body)),
  );

  app.delete(
    '/api/tokens/:id',
    { schema: { tags: ['tokens'], summary: 'Revoke an API token', params: idParams, response: { ...noContent, ...commonErrors } } },
    async (request, reply) => {
      await accounts.revokeApiToken(requireUser(request).id, request.params.id);
      return reply.code(204).send(null);
    },
  );
};
