import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { modelsApi, tokensApi } from './endpoints.ts';
import type { Model, ModelChanges, ModelInput, ModelScope } from './types.ts';

export const queryKeys = {
  models: (scope: ModelScope) => ['models', scope] as const,
  allModels: ['models'] as const,
  model: (id: string) => ['model', id] as const,
  tokens: ['tokens'] as const,
};

export function useModelList(scope: ModelScope) {
  return useInfiniteQuery({
    queryKey: queryKeys.models(scope),
    queryFn: ({ pageParam, signal }) => modelsApi.list(scope, pageParam, signal),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
}

export function useModel(id: string) {
  return useQuery({
    queryKey: queryKeys.model(id),
    queryFn: ({ signal }) => modelsApi.get(id, signal),
  });
}

export function useCreateModel() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (input: ModelInput) => modelsApi.create(input),
    onSuccess: (model) => {
      queryClient.setQueryData(queryKeys.model(model.id), model);
      void queryClient.invalidateQueries({ queryKey: queryKeys.allModels });
    },
  });
}

export function useUpdateModel(id: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (changes: ModelChanges) => modelsApi.update(id, changes),
    onSuccess: (model: Model) => {
      queryClient.setQueryData(queryKeys.model(model.id), model);
      void queryClient.invalidateQueries({ queryKey: queryKeys.allModels });
    },
  });
}

export function useDeleteModel(id: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => modelsApi.remove(id),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: queryKeys.model(id) });
      void queryClient.invalidateQueries({ queryKey: queryKeys.allModels });
    },
  });
}

export function useTokens() {
  return useQuery({ queryKey: queryKeys.tokens, queryFn: ({ signal }) => tokensApi.list(signal) });
}

export function useCreateToken() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: tokensApi.create,
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: queryKeys.tokens }),
  });
}

export function useRevokeToken() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: tokensApi.remove,
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: queryKeys.tokens }),
  });
}
