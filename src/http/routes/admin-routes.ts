import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AdminService } from '../../admin/admin-service.ts';
import { requireUser } from '../auth.ts';
import { adminJobResponse, adminJobsQuery, adminJobsResponse, adminOverviewResponse, adminTrainingsQuery, adminTrainingsResponse } from '../schemas/admin.ts';
import { commonErrors, errorResponse, idParams } from '../schemas/common.ts';

/**
 * The operator's view. Before validation, so a bad id or query does not tell a non-admin that
 * these routes exist: anonymous callers get 401 and signed-in non-admins the very 404 an unknown
 * API route gives (same message). The service checks the role again on every call.
 */
export const adminRoutes = (admin: AdminService): FastifyPluginAsyncZod => async (app) => {
  app.addHook('preValidation', async (request) => {
    const path = request.url.split('?')[0] ?? '';
    admin.assertAdmin(requireUser(request), `No API route ${request.method} ${path}.`);
  });

  app.get(
    '/api/admin/overview',
    { schema: { tags: ['admin'], summary: 'Platform overview for admins: users, models, trainings, recent generations, storage, jobs', response: { 200: adminOverviewResponse, ...commonErrors } } },
    async (request) => admin.overview(requireUser(request)),
  );

  app.get(
    '/api/admin/jobs',
    {
      schema: {
        tags: ['admin'],
        summary: 'Jobs across all users, most recently changed first (admins only)',
        querystring: adminJobsQuery,
        response: { 200: adminJobsResponse, ...commonErrors },
      },
    },
    async (request) => ({ jobs: await admin.listJobs(requireUser(request), request.query) }),
  );

  app.post(
    '/api/admin/jobs/:id/retry',
    {
      schema: {
        tags: ['admin'],
        summary: 'Run a failed job again, its attempts starting over (admins only)',
        params: idParams,
        response: { 200: adminJobResponse, ...commonErrors, 409: errorResponse },
      },
    },
    async (request) => ({ job: await admin.retryJob(requireUser(request), request.params.id) }),
  );

  app.get(
    '/api/admin/trainings',
    {
      schema: {
        tags: ['admin'],
        summary: 'Trainings across all users, newest first (admins only)',
        querystring: adminTrainingsQuery,
        response: { 200: adminTrainingsResponse, ...commonErrors },
      },
    },
    async (request) => ({ trainings: await admin.listTrainings(requireUser(request), request.query) }),
  );
};
