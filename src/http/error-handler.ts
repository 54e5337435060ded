import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, type ErrorCode } from '../shared/errors.ts';

const STATUS: Record<ErrorCode, number> = {
  validation_failed: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  provider_error: 502,
  internal: 500,
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

export const errorBody = (code: ErrorCode, message: string, details?: unknown): ErrorBody => ({
  error: { code, message, ...(details !== undefined && { details }) },
});

/** One error shape for every failure, so clients handle `{error: {code, message, details?}}` and nothing else. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AppError) {
      // A quota that knows when room frees up (e.g. the hourly generation limit) says so in the standard header too.
      const retryAt = (err.details as { retryAt?: unknown } | undefined)?.retryAt;
      if (err.code === 'rate_limited' && typeof retryAt === 'string' && !reply.hasHeader('retry-after')) {
        reply.header('retry-after', String(Math.max(1, Math.ceil((Date.parse(retryAt) - Date.now()) / 1000))));
      }
      return reply.code(STATUS[err.code]).send(errorBody(err.code, err.message, err.details));
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'body';
      const details = err.validation.map((v) => ({
        path: [where, ...v.instancePath.split('/').filter(Boolean)],
        message: v.message ?? 'is invalid',
      }));
      const first = details[0];
      const summary = first ? `${first.path.slice(1).join('.') || where}: ${first.message}` : 'The request is invalid.';
      return reply.code(400).send(errorBody('validation_failed', `The request is invalid. ${summary}`, details));
    }
    const status = err.statusCode ?? 500;
    if (status === 429) return reply.code(429).send(errorBody('rate_limited', err.message));
    if (status === 413) {
      const limit = request.routeOptions.bodyLimit;
      const kib = limit ? Math.floor(limit / 1024) : undefined;
      return reply.code(413).send(errorBody('payload_too_large', `The request body is too large for this endpoint${kib ? `: it accepts at most ${kib >= 1024 ? `${Math.floor(kib / 1024)} MiB` : `${kib} KiB`}` : ''}.`, limit ? { limitBytes: limit } : undefined));
    }
    if (status === 415) {
      return reply.code(415).send(errorBody('unsupported_media_type', 'Send JSON with the header "Content-Type: application/json".'));
    }
    if (status >= 400 && status < 500) {
      // Fastify's own client errors (malformed JSON, empty body…) carry a safe, useful message.
      return reply.code(status).send(errorBody('validation_failed', err.message));
    }
    request.log.error({ err }, 'unhandled error');
    return reply.code(500).send(errorBody('internal', 'Something went wrong on our side. Try again; if it keeps happening, contact the administrator.'));
  });
}
