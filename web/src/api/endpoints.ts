import { apiRequest, setCsrfToken } from './client.ts';
import type {
  ApiToken, CreatedToken, CreateTokenInput, Model, ModelChanges, ModelEnvelope, ModelInput, ModelPage, ModelScope, SessionResponse, SignInInput, SignUpInput, TokenList, User,
} from './types.ts';

function remember(session: SessionResponse): User {
  setCsrfToken(session.csrfToken);
  return session.user;
}

export const authApi = {
  async session(signal?: AbortSignal): Promise<User> {
    return remember(await apiRequest<SessionResponse>('GET', '/api/auth/session', undefined, signal));
  },
  async signIn(input: SignInInput): Promise<User> {
    return remember(await apiRequest<SessionResponse>('POST', '/api/auth/signin', input));
  },
  async signUp(input: SignUpInput): Promise<User> {
    return remember(await apiRequest<SessionResponse>('POST', '/api/auth/signup', input));
  },
  async signOut(): Promise<void> {
    await apiRequest<void>('POST', '/api/auth/signout');
    setCsrfToken(null);
  },
};

export const modelsApi = {
  list(scope: ModelScope, cursor?: string, signal?: AbortSignal): Promise<ModelPage> {
    const params = new URLSearchParams({ scope });
    if (cursor) params.set('cursor', cursor);
    return apiRequest<ModelPage>('GET', `/api/models?${params}`, undefined, signal);
  },
  async get(id: string, signal?: AbortSignal): Promise<Model> {
    return (await apiRequest<ModelEnvelope>('GET', `/api/models/${encodeURIComponent(id)}`, undefined, signal)).model;
  },
  async create(input: ModelInput): Promise<Model> {
    return (await apiRequest<ModelEnvelope>('POST', '/api/models', input)).model;
  },
  async update(id: string, changes: ModelChanges): Promise<Model> {
    return (await apiRequest<ModelEnvelope>('PATCH', `/api/models/${encodeURIComponent(id)}`, changes)).model;
  },
  remove(id: string): Promise<void> {
    return apiRequest<void>('DELETE', `/api/models/${encodeURIComponent(id)}`);
  },
};

export const tokensApi = {
  async list(signal?: AbortSignal): Promise<ApiToken[]> {
    return (await apiRequest<TokenList>('GET', '/api/tokens', undefined, signal)).tokens;
  },
  create(input: CreateTokenInput): Promise<CreatedToken> {
    return apiRequest('POST', '/api/tokens', input);
  },
  remove(id: string): Promise<void> {
    return apiRequest<void>('DELETE', `/api/tokens/${encodeURIComponent(id)}`);
  },
};
