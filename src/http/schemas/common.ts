import { z } from 'zod';

/**
 * The API's shapes, shared by the server and the browser app. On the server they validate requests,
 * serialize answers (nothing unlisted leaks, e.g. a password hash) and make the OpenAPI document; the
 * browser app reads them as types only (`import type` + `z.output`), so nothing of zod reaches the bundle.
 * Every module in this folder imports nothing but zod and its siblings, so it stays safe to read
 * from web/src; test/unit/web/api-schemas.test.ts enforces that.
 */

/** Every error answer: `details` is per error code (validation_failed: a list of `{path, message}`). */
export const errorResponse = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

export const idParams = z.object({ id: z.uuid('The id must be a UUID, as returned by this API.') });

export const noContent = { 204: z.null().describe("No content") };

/** The error responses every authenticated route can give, for the OpenAPI document. */
export const commonErrors = { 400: errorResponse, 401: errorResponse, 403: errorResponse, 404: errorResponse, 429: errorResponse };
