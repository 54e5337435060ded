import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { webhookUrlInput, type UserWebhookService } from '../../notifications/user-webhook-service.ts';
import { requireUser } from '../auth.ts';
import { commonErrors, noContent } from '../schemas/common.ts';
import { webhookResponse, webhookSetResponse, webhookTestResponse } from '../schemas/user-webhooks.ts';

export const userWebhookRoutes = (webhooks: UserWebhookService): FastifyPluginAsyncZod => async (app) => {
  app.get(
    '/api/settings/webhook',
    { schema: { tags: ['settings'], summary: 'Your outgoing webhook for finished trainings', response: { 200: webhookResponse, ...commonErrors } } },
    async (request) => ({ webhook: await webhooks.get(requireUser(request)) }),
  );

  app.put(
    '/api/settings/webhook',
    {
      schema: {
        tags: ['settings'],
        summary: 'Set the URL that receives a signed POST when a training ends (the signing secret is shown once)',
        body: webhookUrlInput,
        response: { 200: webhookSetResponse, ...commonErrors },
      },
    },
    async (request) => webhooks.set(requireUser(request), request.body.url),
  );

  app.delete(
    '/api/settings/webhook',
    { schema: { tags: ['settings'], summary: 'Stop sending webhooks', response: { ...noContent, ...commonErrors } } },
    async (request, reply) => {
      await webhooks.remove(requireUser(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/settings/webhook/test',
    { schema: { tags: ['settings'], summary: 'Send a signed test event to your webhook', response: { 202: webhookTestResponse, ...commonErrors } } },
    async (request, reply) => {
      await webhooks.sendTest(requireUser(request));
      return reply.code(202).send({ queued: true as const });
    },
  );
};
