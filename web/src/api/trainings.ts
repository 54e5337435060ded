import { keepPreviousData, useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiErrorFrom, apiRequest, getCsrfToken } from './client.ts';
import { queryKeys } from './queries.ts';
import type {
  Dataset, DatasetImage, DatasetSettings, LogTail, LossPoints, TrainingEnvelope, TrainingList, TrainingOptions, TrainingPlan, TrainingSettings, UploadResult,
} from './training-types.ts';

const enc = encodeURIComponent;

export const trainingKeys = {
  dataset: (modelId: string) => ['dataset', modelId] as const,
  options: (modelId: string) => ['training-options', modelId] as const,
  plan: (modelId: string, settings: TrainingSettings) => ['training-plan', modelId, settings] as const,
  modelTrainings: (modelId: string) => ['model-trainings', modelId] as const,
  training: (id: string) => ['training', id] as const,
  loss: (id: string) => ['training-loss', id] as const,
  logs: (id: string) => ['training-logs', id] as const,
};

export function useDataset(modelId: string) {
  return useQuery({ queryKey: trainingKeys.dataset(modelId), queryFn: ({ signal }) => apiRequest<Dataset>('GET', `/api/models/${enc(modelId)}/dataset`, undefined, signal) });
}

/**
 * Uploads one file with XMLHttpRequest, the only browser API that reports upload progress.
 * Resolves with the server's per-file results (a zip yields one per image inside).
 */
export function uploadFile(modelId: string, file: File, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<UploadResult[]> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/models/${enc(modelId)}/images`);
    const csrf = getCsrfToken();
    if (csrf) xhr.setRequestHeader('x-csrf-token', csrf);
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      const body = xhr.response as { results?: UploadResult[]; error?: { details?: unknown } } | null;
      if (xhr.status === 200 && body?.results) return resolve(body.results);
      // 422: every file was refused; the per-file reasons are in details.
      if (xhr.status === 422 && Array.isArray(body?.error?.details)) return resolve(body.error.details as UploadResult[]);
      reject(apiErrorFrom(xhr.status, body));
    };
    xhr.onerror = () => reject(apiErrorFrom(0, { error: { code: 'network_error', message: 'The upload was interrupted. Check your connection and try again; nothing was saved twice.' } }));
    signal?.addEventListener('abort', () => xhr.abort());
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

export function useDeleteImage(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (imageId: string) => apiRequest<void>('DELETE', `/api/models/${enc(modelId)}/images/${enc(imageId)}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: trainingKeys.dataset(modelId) }),
  });
}

export function useSetCaption(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ imageId, caption }: { imageId: string; caption: string }) =>
      apiRequest<{ image: DatasetImage }>('PATCH', `/api/models/${enc(modelId)}/images/${enc(imageId)}`, { caption }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: trainingKeys.dataset(modelId) }),
  });
}

export function useUpdateDatasetSettings(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: { triggerWord?: string | null; captionPrefix?: string }) => apiRequest<DatasetSettings>('PATCH', `/api/models/${enc(modelId)}/dataset`, input),
    onSuccess: () => void qc.invalidateQueries({ queryKey: trainingKeys.dataset(modelId) }),
  });
}

export function useTrainingOptions(modelId: string) {
  return useQuery({ queryKey: trainingKeys.options(modelId), queryFn: ({ signal }) => apiRequest<TrainingOptions>('GET', `/api/models/${enc(modelId)}/training-options`, undefined, signal) });
}

export function useTrainingPlan(modelId: string, settings: TrainingSettings, enabled: boolean) {
  return useQuery({
    queryKey: trainingKeys.plan(modelId, settings),
    queryFn: ({ signal }) => apiRequest<TrainingPlan>('POST', `/api/models/${enc(modelId)}/training-plan`, settings, signal),
    enabled,
    placeholderData: keepPreviousData,
  });
}

/** The plan of each preset with the same base model and resolution, to show our estimate next to every preset. */
export function usePresetPlans(modelId: string, presets: string[], baseModel: string, resolution: number) {
  return useQueries({
    queries: presets.map((preset) => {
      const settings: TrainingSettings = { baseModel, preset, resolution };
      return {
        queryKey: trainingKeys.plan(modelId, settings),
        queryFn: ({ signal }: { signal: AbortSignal }) => apiRequest<TrainingPlan>('POST', `/api/models/${enc(modelId)}/training-plan`, settings, signal),
        placeholderData: keepPreviousData,
        staleTime: 30_000,
      };
    }),
  });
}

export function useStartTraining(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (settings: TrainingSettings) => apiRequest<TrainingEnvelope>('POST', `/api/models/${enc(modelId)}/trainings`, settings),
    onSuccess: ({ training }) => {
      qc.setQueryData(trainingKeys.training(training.id), training);
      void qc.invalidateQueries({ queryKey: trainingKeys.modelTrainings(modelId) });
      void qc.invalidateQueries({ queryKey: queryKeys.allModels });
      void qc.invalidateQueries({ queryKey: queryKeys.model(modelId) });
    },
  });
}

export function useModelTrainings(modelId: string, enabled = true) {
  return useQuery({
    queryKey: trainingKeys.modelTrainings(modelId),
    queryFn: async ({ signal }) => (await apiRequest<TrainingList>('GET', `/api/models/${enc(modelId)}/trainings`, undefined, signal)).trainings,
    enabled,
  });
}

export function useTraining(id: string) {
  return useQuery({ queryKey: trainingKeys.training(id), queryFn: async ({ signal }) => (await apiRequest<TrainingEnvelope>('GET', `/api/trainings/${enc(id)}`, undefined, signal)).training });
}

export function useLoss(id: string) {
  return useQuery({ queryKey: trainingKeys.loss(id), queryFn: async ({ signal }) => (await apiRequest<LossPoints>('GET', `/api/trainings/${enc(id)}/loss`, undefined, signal)).points });
}

export function useLogs(id: string, enabled: boolean) {
  return useQuery({ queryKey: trainingKeys.logs(id), queryFn: async ({ signal }) => (await apiRequest<LogTail>('GET', `/api/trainings/${enc(id)}/logs`, undefined, signal)).tail, enabled });
}

export function useCancelTraining(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => apiRequest<TrainingEnvelope>('POST', `/api/trainings/${enc(id)}/cancel`),
    onSuccess: ({ training }) => qc.setQueryData(trainingKeys.training(id), training),
  });
}
