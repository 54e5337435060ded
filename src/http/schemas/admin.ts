import { z } from 'zod';

/** The operator's view (/api/admin/*): admins only; anyone else gets 404 as for a route that does not exist. */

const jobState = z.enum(['queued', 'running', 'succeeded', 'failed']);
const countByStatus = z.array(z.object({ status: z.string(), count: z.number().int() }));

export const adminOverviewResponse = z.object({
  users: z.number().int(),
  models: z.number().int(),
  trainingsByStatus: countByStatus,
  generationsLast24hByStatus: countByStatus.describe('Generations created in the last 24 hours, by their status now.'),
  storageUsedBytes: z.number().describe('Training images, generated images and trained weights of every user.'),
  jobs: z.array(z.object({ name: z.string(), state: jobState, count: z.number().int() })).describe('Jobs the queue holds per name and state; finished ones until retention removes them (7 days).'),
});

export const adminJobsQuery = z.object({
  state: z.enum(['queued', 'running', 'failed'], 'state must be one of queued, running or failed (leave it out for every state).').optional(),
  name: z.string().regex(/^[a-z][a-z0-9_.-]{0,99}$/, 'name must be a job name such as training.submit.').optional(),
  limit: z.coerce.number().int('limit must be a whole number.').min(1, 'limit must be at least 1.').max(200, 'limit must be at most 200.').default(50),
});

export const adminJobSubject = z.object({
  kind: z.enum(['training', 'generation', 'user']),
  id: z.string(),
  ownerEmail: z.string().nullable().describe('Null when the row was deleted since the job was queued.'),
  modelId: z.string().nullable(),
  modelName: z.string().nullable(),
});

export const adminJob = z.object({
  id: z.string(),
  name: z.string(),
  state: jobState,
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  lastError: z.string().nullable().describe('The last failure\'s message, credentials masked.'),
  runAfter: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  subject: adminJobSubject.nullable().describe('What the job is about, from the id in its payload.'),
});

export const adminJobsResponse = z.object({ jobs: z.array(adminJob) });
export const adminJobResponse = z.object({ job: adminJob });

export const adminTrainingsQuery = z.object({
  status: z.enum(['active', 'failed', 'all'], 'status must be one of active, failed or all.').default('active'),
  limit: z.coerce.number().int('limit must be a whole number.').min(1, 'limit must be at least 1.').max(200, 'limit must be at most 200.').default(50),
});

export const adminTraining = z.object({
  id: z.string(),
  ownerEmail: z.string(),
  modelId: z.string(),
  modelName: z.string(),
  status: z.string(),
  stage: z.string().nullable(),
  progressPercent: z.number().nullable(),
  startedAt: z.string().nullable(),
  completedAt: z.string().nullable(),
  failureMessage: z.string().nullable(),
  estimatedCostUsd: z.number().nullable().describe('The expected cost shown before the training started.'),
  createdAt: z.string(),
});

export const adminTrainingsResponse = z.object({ trainings: z.array(adminTraining) });
