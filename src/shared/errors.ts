/**
 * Errors the services raise. The HTTP layer maps each code to a status and the
 * `{error: {code, message, details?}}` body, so services never know about HTTP.
 */
export type ErrorCode =
  | 'validation_failed'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'provider_error'
  | 'internal';

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }
}

export const notFound = (what: string) => new AppError('not_found', `${what} was not found.`);
export const validation = (message: string, details?: unknown) =>
  new AppError('validation_failed', message, details);
export const conflict = (message: string, details?: unknown) => new AppError('conflict', message, details);
