import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { z } from 'zod';
import type { comparisonInput, generationInput, recipeCreateInput } from '../../../src/generations/schemas.ts';
import type {
  comparisonResponse, generationEnvelope, generationListResponse, generationOptionsResponse, generationParams, generationView, linkInput, linkResponse, recipeEnvelope,
  recipeListResponse, recipeView, sharedResponse, sharedView, shareInput, showcaseResponse, linkView,
} from '../../../src/http/schemas/generations.ts';
import type { modelCardResponse } from '../../../src/http/schemas/trainings.ts';
import { apiRequest } from './client.ts';
import type { AsListed } from './types.ts';

const enc = encodeURIComponent;

/*
 * Shapes of the generations API, derived from the zod schemas the server answers with
 * (src/http/schemas/generations.ts) and validates requests with (src/generations/schemas.ts).
 * `import type` only: the imports are erased, so neither zod nor server code reaches the bundle.
 */
export type GenerationOptions = z.output<typeof generationOptionsResponse>;
export type Generation = z.output<typeof generationView>;
export type GenerationParams = z.output<typeof generationParams>;
/** A public link to one generation. `url` may be a path: see shareLinkAddress. */
export type ShareLink = z.output<typeof linkView>;
/** What anyone with a link sees: never the owner, the model or the settings. */
export type SharedGeneration = z.output<typeof sharedView>;
export type Recipe = z.output<typeof recipeView>;
export type ModelCard = NonNullable<z.output<typeof modelCardResponse>['card']>;

/** Aspect ratios and formats come from the generation options, as plain strings. */
export type GenerateRequest = AsListed<z.input<typeof generationInput>>;
export type CompareRequest = AsListed<z.input<typeof comparisonInput>>;
export type RecipeCreateInput = z.input<typeof recipeCreateInput>;

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
    queryFn: async ({ signal }) => (await apiRequest<z.output<typeof generationListResponse>>('GET', `/api/generations?modelId=${enc(modelId)}&limit=60`, undefined, signal)).generations,
    refetchInterval: (q) => (q.state.data?.some((g) => !['succeeded', 'failed', 'canceled'].includes(g.status)) ? 3000 : false),
  });

export function useGenerate(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: GenerateRequest) => apiRequest<z.output<typeof generationEnvelope>>('POST', `/api/models/${enc(modelId)}/generations`, body),
    onSuccess: () => void qc.invalidateQueries({ queryKey: generationKeys.gallery(modelId) }),
  });
}

export function useCompare(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: CompareRequest) => apiRequest<z.output<typeof comparisonResponse>>('POST', `/api/models/${enc(modelId)}/comparisons`, body),
    onSuccess: () => void qc.invalidateQueries({ queryKey: generationKeys.gallery(modelId) }),
  });
}

export const useModelCard = (modelId: string, enabled: boolean) =>
  useQuery({ queryKey: ['model-card', modelId], enabled, queryFn: async ({ signal }) => (await apiRequest<z.output<typeof modelCardResponse>>('GET', `/api/models/${enc(modelId)}/card`, undefined, signal)).card });

export const useShowcase = (modelId: string, enabled: boolean) =>
  useQuery({ queryKey: ['showcase', modelId], enabled, queryFn: async ({ signal }) => (await apiRequest<z.output<typeof showcaseResponse>>('GET', `/api/models/${enc(modelId)}/showcase`, undefined, signal)).generations });

export function useShareGeneration(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, shared }: { id: string } & z.input<typeof shareInput>) => apiRequest<z.output<typeof generationEnvelope>>('PATCH', `/api/generations/${enc(id)}`, { shared }),
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
  useQuery({ queryKey: generationKeys.recipes(modelId), queryFn: async ({ signal }) => (await apiRequest<z.output<typeof recipeListResponse>>('GET', `/api/models/${enc(modelId)}/recipes`, undefined, signal)).recipes });

export function useSaveRecipe(modelId: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: RecipeCreateInput) => apiRequest<z.output<typeof recipeEnvelope>>('POST', `/api/models/${enc(modelId)}/recipes`, body),
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
    mutationFn: ({ id, includePrompt }: { id: string } & NonNullable<z.input<typeof linkInput>>) => apiRequest<z.output<typeof linkResponse>>('POST', `/api/generations/${enc(id)}/link`, { includePrompt }),
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
    queryFn: async ({ signal }) => (await apiRequest<z.output<typeof sharedResponse>>('GET', `/api/shared/${enc(token)}`, undefined, signal)).shared,
    // A link turned off while the page is open shows so on the next look.
    staleTime: 0,
  });
