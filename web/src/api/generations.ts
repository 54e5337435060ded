import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiRequest } from './client.ts';

const enc = encodeURIComponent;

export interface Range { min: number; max: number; default: number; step: number }
export interface GenerationOptions {
  available: boolean;
  unavailableReason: string | null;
  triggerWord: string | null;
  triggerWordHelp: string | null;
  controls: { baseModel: string; negativePrompt: { supported: boolean; reason: string | null }; loraScale: Range; guidanceScale: Range; steps: Range; numOutputs: Range; aspectRatios: string[] };
}
export interface GenerationParams { prompt: string; negativePrompt: string | null; loraScale: number; guidanceScale: number; steps: number; seed: number; aspectRatio: string; numOutputs: number }
export interface Generation {
  id: string;
  modelId: string;
  status: string;
  prompt: string;
  negativePrompt: string | null;
  params: GenerationParams;
  batchId: string | null;
  shared: boolean;
  error: string | null;
  images: Array<{ url: string; downloadUrl: string; width: number; height: number; contentType: string }>;
  createdAt: string;
  completedAt: string | null;
}
export interface Recipe { id: string; modelId: string; name: string; prompt: string; negativePrompt: string | null; params: Record<string, unknown>; createdAt: string; updatedAt: string }
export interface GenerateRequest {
  prompt: string;
  negativePrompt?: string;
  loraScale?: number;
  guidanceScale?: number;
  steps?: number;
  seed?: number;
  aspectRatio?: string;
  numOutputs?: number;
}

export const generationKeys = {
  options: (modelId: string) => ['generation-options', modelId] as const,
  gallery: (modelId: string) => ['generations', modelId] as const,
  recipes: (modelId: string) => ['recipes', modelId] as const,
};

export const useGenerationOptions = (modelId: string) =>
  useQuery({ queryKey: generationKeys.options(modelId), queryFn: ({ signal }) => apiRequest<GenerationOptions>('GET', `/api/models/${enc(modelId)}/generation-options`, undefined, signal) });

/** The gallery re-reads while anything in it is still running (events also refresh it). */
export const useGallery = (modelId: string) =>
  useQuery({
    queryKey: generationKeys.gallery(modelId),
    queryFn: async ({ signal }) => (await apiRequest<{ generations: Generation[] }>('GET', `/api/generations?modelId=${enc(modelId)}&limit=60`, undefined, signal)).generations,
    refetchInterval: (q) => (q.state.data?.some((g) => !['succeeded', 'failed', 'canceled'].includes(g.status)) ? 3000 : false),
  });

export function useGenerate(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: GenerateRequest) => apiRequest<{ generation: Generation }>('POST', `/api/models/${enc(modelId)}/generations`, body),
    onSuccess: () => void qc.invalidateQueries({ queryKey: generationKeys.gallery(modelId) }),
  });
}

export function useCompare(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { prompt: string; seed?: number; loraScales: number[]; aspectRatio?: string }) => apiRequest<{ batchId: string; seed: number; generations: Generation[] }>('POST', `/api/models/${enc(modelId)}/comparisons`, body),
    onSuccess: () => void qc.invalidateQueries({ queryKey: generationKeys.gallery(modelId) }),
  });
}

export interface ModelCard {
  baseModel: string;
  baseModelLabel: string;
  triggerWord: string;
  preset: string;
  resolution: number;
  epochs: number;
  steps: number;
  imageCount: number;
  trainedAt: string | null;
  weightsUrl: string;
  weightsBytes: number | null;
}

export const useModelCard = (modelId: string, enabled: boolean) =>
  useQuery({ queryKey: ['model-card', modelId], enabled, queryFn: async ({ signal }) => (await apiRequest<{ card: ModelCard | null }>('GET', `/api/models/${enc(modelId)}/card`, undefined, signal)).card });

export const useShowcase = (modelId: string, enabled: boolean) =>
  useQuery({ queryKey: ['showcase', modelId], enabled, queryFn: async ({ signal }) => (await apiRequest<{ generations: Generation[] }>('GET', `/api/models/${enc(modelId)}/showcase`, undefined, signal)).generations });

export function useShareGeneration(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, shared }: { id: string; shared: boolean }) => apiRequest<{ generation: Generation }>('PATCH', `/api/generations/${enc(id)}`, { shared }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: generationKeys.gallery(modelId) });
      void qc.invalidateQueries({ queryKey: ['showcase', modelId] });
    },
  });
}

export function useDeleteGeneration(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => apiRequest<void>('DELETE', `/api/generations/${enc(id)}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: generationKeys.gallery(modelId) }),
  });
}

export const useRecipes = (modelId: string) =>
  useQuery({ queryKey: generationKeys.recipes(modelId), queryFn: async ({ signal }) => (await apiRequest<{ recipes: Recipe[] }>('GET', `/api/models/${enc(modelId)}/recipes`, undefined, signal)).recipes });

export function useSaveRecipe(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; fromGeneration: string }) => apiRequest<{ recipe: Recipe }>('POST', `/api/models/${enc(modelId)}/recipes`, body),
    onSuccess: () => void qc.invalidateQueries({ queryKey: generationKeys.recipes(modelId) }),
  });
}

export function useDeleteRecipe(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => apiRequest<void>('DELETE', `/api/recipes/${enc(id)}`),
    onSuccess: () => void qc.invalidateQueries({ queryKey: generationKeys.recipes(modelId) }),
  });
}
