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
  /** Its public share link (yours only); null when it has none. */
  link: ShareLink | null;
  createdAt: string;
  completedAt: string | null;
}
/** A public link to one generation. `url` is a path when the server has no PUBLIC_URL: see shareLinkAddress. */
export interface ShareLink { url: string; includePrompt: boolean; createdAt: string }
/** What anyone with a link sees: never the owner, the model or the settings. */
export interface SharedGeneration {
  madeAt: string;
  prompt: string | null;
  images: Array<{ position: number; url: string; downloadUrl: string; width: number; height: number; contentType: string }>;
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

/** The full address to hand out: the server gives a path when it does not know its public address. */
export const shareLinkAddress = (link: ShareLink): string => new URL(link.url, window.location.origin).href;

/** Puts a generation's new link state into the gallery at once (no flash of the old state), then re-reads it. */
function setGalleryLink(qc: ReturnType<typeof useQueryClient>, modelId: string, id: string, link: ShareLink | null): void {
  qc.setQueryData<Generation[]>(generationKeys.gallery(modelId), (list) => list?.map((g) => (g.id === id ? { ...g, link } : g)));
  void qc.invalidateQueries({ queryKey: generationKeys.gallery(modelId) });
}

export function useCreateShareLink(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, includePrompt }: { id: string; includePrompt: boolean }) => apiRequest<{ link: ShareLink }>('POST', `/api/generations/${enc(id)}/link`, { includePrompt }),
    onSuccess: ({ link }, { id }) => setGalleryLink(qc, modelId, id, link),
  });
}

export function useDeleteShareLink(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => apiRequest<void>('DELETE', `/api/generations/${enc(id)}/link`),
    onSuccess: (_none, id) => setGalleryLink(qc, modelId, id, null),
  });
}

/** The public page's content, for anyone holding the link (no session needed). */
export const useSharedGeneration = (token: string) =>
  useQuery({
    queryKey: ['shared', token],
    queryFn: async ({ signal }) => (await apiRequest<{ shared: SharedGeneration }>('GET', `/api/shared/${enc(token)}`, undefined, signal)).shared,
    // A link turned off while the page is open shows so on the next look.
    staleTime: 0,
  });
