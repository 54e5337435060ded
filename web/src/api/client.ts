import type { FieldIssue } from './types.ts';

/** An error answer from the API, or a network failure (code `network_error`). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** The per-field issues of a `validation_failed` (or `conflict`) answer, if the server sent any. */
  get fieldIssues(): FieldIssue[] {
    if (!Array.isArray(this.details)) return [];
    return this.details.filter(
      (d): d is FieldIssue =>
        typeof d === 'object' && d !== null && Array.isArray((d as FieldIssue).path) && typeof (d as FieldIssue).message === 'string',
    );
  }
}

export const isApiError = (e: unknown): e is ApiError => e instanceof ApiError;
export const isNotFound = (e: unknown): boolean => isApiError(e) && (e.status === 404 || e.code === 'not_found');
export const isUnauthenticated = (e: unknown): boolean => isApiError(e) && e.status === 401;

// The session cookie is HttpOnly, so the CSRF token the server hands out with the session is the
// only piece of it the page can hold. Every state-changing request echoes it back.
let csrfToken: string | null = null;
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}
export const getCsrfToken = (): string | null => csrfToken;

/** Turns a non-2xx answer body into an ApiError (also for requests not made by apiRequest, e.g. uploads). */
export function apiErrorFrom(status: number, data: unknown): ApiError {
  const err = (data as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  return new ApiError(
    status,
    typeof err?.code === 'string' ? err.code : `http_${status}`,
    typeof err?.message === 'string' ? err.message : fallbackMessage(status),
    err?.details,
  );
}

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export async function apiRequest<T>(method: Method, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;

  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? null : JSON.stringify(body),
      signal: signal ?? null,
    });
  } catch (cause) {
    if (signal?.aborted) throw cause;
    throw new ApiError(0, 'network_error', 'Could not reach The Way. Check your connection and try again.');
  }

  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) throw apiErrorFrom(response.status, data);
  return data as T;
}

function fallbackMessage(status: number): string {
  if (status === 404) return 'Not found.';
  if (status === 429) return 'Too many requests. Wait a moment and try again.';
  if (status >= 500) return 'The server ran into a problem. Try again in a moment.';
  return `The request failed (HTTP ${status}).`;
}
