/**
 * Errors raised by the Replicate client. None of them ever carries the API token: messages are
 * built from the method, the path and Replicate's own error body, and are redacted defensively.
 */

export interface InvalidField {
  type: string;
  field: string;
  description: string;
}

export abstract class ReplicateError extends Error {
  /** True when the same call may succeed later (429, 5xx, timeouts, network failures). */
  abstract readonly retryable: boolean;
  /**
   * True when a non-idempotent call (a create) failed in a way that leaves its effect unknown: it
   * may have been carried out. Callers must reconcile (e.g. list recent trainings) before re-posting.
   */
  readonly outcomeUnknown: boolean;
  readonly method: string;
  readonly path: string;

  constructor(message: string, init: { method: string; path: string; outcomeUnknown: boolean; cause?: unknown }) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.method = init.method;
    this.path = init.path;
    this.outcomeUnknown = init.outcomeUnknown;
  }
}

/** Replicate answered with a non-2xx status. */
export class ReplicateApiError extends ReplicateError {
  readonly status: number;
  readonly title: string | null;
  readonly detail: string;
  readonly invalidFields: InvalidField[];
  readonly retryable: boolean;
  /** For 429s that we stopped waiting for: how long Replicate asked us to wait. */
  readonly retryAfterMs: number | null;

  constructor(init: {
    method: string;
    path: string;
    status: number;
    title: string | null;
    detail: string;
    invalidFields: InvalidField[];
    retryAfterMs: number | null;
  }) {
    super(`Replicate ${init.method} ${init.path} failed with ${init.status}: ${init.detail}`, {
      method: init.method,
      path: init.path,
      // An answered create either happened (2xx) or did not (4xx/5xx are refusals); a 5xx on a
      // create is the exception: the server may have failed after starting the job.
      outcomeUnknown: init.method !== 'GET' && init.status >= 500,
    });
    this.name = 'ReplicateApiError';
    this.status = init.status;
    this.title = init.title;
    this.detail = init.detail;
    this.invalidFields = init.invalidFields;
    this.retryAfterMs = init.retryAfterMs;
    this.retryable = init.status === 429 || init.status >= 500;
  }
}

/** No answer within the per-request timeout. */
export class ReplicateTimeoutError extends ReplicateError {
  readonly retryable = true;
  readonly timeoutMs: number;
  constructor(init: { method: string; path: string; timeoutMs: number; idempotent: boolean }) {
    super(`Replicate ${init.method} ${init.path} timed out after ${init.timeoutMs} ms`, {
      method: init.method,
      path: init.path,
      outcomeUnknown: !init.idempotent,
    });
    this.name = 'ReplicateTimeoutError';
    this.timeoutMs = init.timeoutMs;
  }
}

/** The connection failed (refused, reset, DNS…). */
export class ReplicateNetworkError extends ReplicateError {
  readonly retryable = true;
  constructor(init: { method: string; path: string; idempotent: boolean; cause: unknown }) {
    const reason = init.cause instanceof Error ? init.cause.message : 'network error';
    super(`Replicate ${init.method} ${init.path} failed: ${reason}`, {
      method: init.method,
      path: init.path,
      outcomeUnknown: !init.idempotent,
      cause: init.cause,
    });
    this.name = 'ReplicateNetworkError';
  }
}

/** The response was 2xx but not the JSON we expected. */
export class ReplicateProtocolError extends ReplicateError {
  readonly retryable = false;
  constructor(init: { method: string; path: string; message: string }) {
    super(`Replicate ${init.method} ${init.path}: ${init.message}`, {
      method: init.method,
      path: init.path,
      outcomeUnknown: false,
    });
    this.name = 'ReplicateProtocolError';
  }
}

export function isReplicateApiError(error: unknown, status?: number): error is ReplicateApiError {
  return error instanceof ReplicateApiError && (status === undefined || error.status === status);
}
