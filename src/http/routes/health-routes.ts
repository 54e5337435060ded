import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

export const healthRoutes = (deps: { checkDatabase: () => Promise<void>; version: string }): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/api/health',
      {
        schema: {
          tags: ['system'],
          summary: 'Liveness and database reachability',
          response: {
            200: z.object({ status: z.literal('ok'), version: z.string(), database: z.literal('ok') }),
            503: z.object({ status: z.literal('degraded'), version: z.string(), database: z.literal('unreachable') }),
          },
        },
      },
      async (_request, reply) => {
        try {
          await deps.checkDatabase();
          return { status: 'ok' as const, version: deps.version, database: 'ok' as const };
        } catch {
          return reply.code(503).send({ status: 'degraded' as const, version: deps.version, database: 'unreachable' as const });
        }
      },
    );
  };
