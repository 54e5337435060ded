import { apiRequest, setCsrfToken } from './client.ts';
import type { ApiToken, Model, ModelType, User, Visibility } from './types.ts';

interface SessionResponse {
  user: User;
  csrfToken: string;
}

function remember(session: SessionResponse): User {
  setCsrfToken(session.csrfToken);
  return session.user;
}

export const authApi = {
  async session(signal?: AbortSignal): Promise<User> {
    return remember(await apiRequest<SessionResponse>('GET', '/api/auth/session', undefined, signal));
  },
  async signIn(input: { email: string; password: string }): Promise<User> {
    return remember(await apiRequest<SessionResponse>('POST', '/api/auth/signin', input));
  },
  async signUp(input: { email: string; password: string; displayName: string }): Promise<User> {
    return remember(await apiRequest<SessionResponse>('POST', '/api/auth/signup', input));
  },
  async signOut(): Promise<void> {
    await apiRequest<void>('POST', '/api/auth/signout');
    setCsrfToken(null);
  },
};

export type ModelScope = 'mine' | 'public';

export interface ModelInput {
  name: string;
  description: string;
  visibility: Visibility;
  modelType: ModelType;
}

export interface ModelPage {
  models: Model[];
  nextCursor?: string | null;
}

export const modelsApi = {
  list(scope: ModelScope, cursor?: string, signal?: AbortSignal): Promise<ModelPage> {
    const params = new URLSearchParams({ scope });
    if (cursor) params.set('cursor', cursor);
    return apiRequest<ModelPage>('GET', `/api/models?${params}`, undefined, signal);
  },
  async get(id: string, signal?: AbortSignal): Promise<Model> {
    return (await apiRequest<{ model: Model }>('GET', `/api/models/${encodeURIComponent(id)}`, undefined, signal)).model;
  },
  async create(input: ModelInput): Promise<Model> {
    return (await apiRequest<{ model: Model }>('POST', '/api/models', input)).model;
  },
  async update(id: string, changes: Partial<ModelInput>): Promise<Model> {
    return (await apiRequest<{ model: Model }>('PATCH', `/api/models/${encodeURIComponent(id)}`, changes)).model;
  },
  remove(id: string): Promise<void> {
    return apiRequest<void>('DELETE', `/api/models/${encodeURIComponent(id)}`);
  },
};

export const tokensApi = {
  async list(signal?: AbortSignal): Promise<ApiToken[]> {
    return (await apiRequest<{ tokens: ApiToken[] }>('GET', '/api/tokens', undefined, signal)).tokens;
  },
  create(input: { name: string; expiresInDays?: number }): Promise<{ token: ApiToken; secret: string }> {
    return apiRequest('POST', '/api/tokens', input);
  },
  remove(id: string): Promise<void> {
    return apiRequest<void>('DELETE', `/api/tokens/${encodeURIComponent(id)}`);
  },
};
