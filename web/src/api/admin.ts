import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { z } from 'zod';
import type { adminJob, adminJobResponse, adminJobsResponse, adminOverviewResponse, adminTraining, adminTrainingsResponse } from '../../../src/http/schemas/admin.ts';
import { useCurrentUser } from '../auth/session.tsx';
import { apiRequest } from './client.ts';

export type AdminOverview = z.output<typeof adminOverviewResponse>;
export type AdminJob = z.output<typeof adminJob>;
export type AdminTraining = z.output<typeof adminTraining>;
export type AdminJobState = 'queued' | 'running' | 'failed';
export type AdminTrainingFilter = 'active' | 'failed' | 'all';

export const adminApi = {
  overview: (signal?: AbortSignal) => apiRequest<AdminOverview>('GET', '/api/admin/overview', undefined, signal),
  jobs: async (state: AdminJobState, limit: number, signal?: AbortSignal) =>
    (await apiRequest<z.output<typeof adminJobsResponse>>('GET', `/api/admin/jobs?state=${state}&limit=${limit}`, undefined, signal)).jobs,
  trainings: async (status: AdminTrainingFilter, limit: number, signal?: AbortSignal) =>
    (await apiRequest<z.output<typeof adminTrainingsResponse>>('GET', `/api/admin/trainings?status=${status}&limit=${limit}`, undefined, signal)).trainings,
  retry: async (id: string) => (await apiRequest<z.output<typeof adminJobResponse>>('POST', `/api/admin/jobs/${encodeURIComponent(id)}/retry`)).job,
};

export const adminKeys = {
  all: ['admin'] as const,
  overview: ['admin', 'overview'] as const,
  jobs: (state: AdminJobState) => ['admin', 'jobs', state] as const,
  trainings: (status: AdminTrainingFilter) => ['admin', 'trainings', status] as const,
};

/** The view is about what is happening now: refresh while it is open. */
const LIVE = { refetchInterval: 10_000, staleTime: 5_000 } as const;

export function useAdminOverview(enabled = true) {
  return useQuery({ queryKey: adminKeys.overview, queryFn: ({ signal }) => adminApi.overview(signal), enabled, ...LIVE });
}

export function useAdminJobs(state: AdminJobState, limit = 50) {
  return useQuery({ queryKey: adminKeys.jobs(state), queryFn: ({ signal }) => adminApi.jobs(state, limit, signal), ...LIVE });
}

export function useAdminTrainings(status: AdminTrainingFilter, limit = 50) {
  return useQuery({ queryKey: adminKeys.trainings(status), queryFn: ({ signal }) => adminApi.trainings(status, limit, signal), ...LIVE });
}

export function useRetryJob() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => adminApi.retry(id),
    onSettled: () => void queryClient.invalidateQueries({ queryKey: adminKeys.all }),
  });
}

/** Whether to show the Admin link: the session answer names the account's role. */
export function useIsAdmin(): boolean {
  return useCurrentUser()?.role === 'admin';
}
