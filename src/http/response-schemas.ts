import { z } from 'zod';
import { MODEL_TYPES, VISIBILITIES } from '../models/schemas.ts';

/** Response shapes: they serialize replies (nothing unlisted leaks, e.g. a password hash) and document the API. */
export const errorResponse = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

export const userResponse = z.object({
  id: z.string(),
  email: z.string(),
  displayName: z.string(),
  createdAt: z.string(),
});

export const sessionResponse = z.object({ user: userResponse, csrfToken: z.string() });

export const modelResponse = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  visibility: z.enum(VISIBILITIES),
  modelType: z.enum(MODEL_TYPES),
  status: z.enum(['draft', 'training', 'ready', 'failed']),
  imageCount: z.number(),
  owner: z.object({ id: z.string(), displayName: z.string() }),
  isOwner: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const apiTokenResponse = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
});

export const idParams = z.object({ id: z.uuid('The id must be a UUID, as returned by this API.') });

/** The error responses every authenticated route can give, for the OpenAPI document. */
export const noContent = { 204: z.null().describe("No content") };

export const commonErrors = { 400: errorResponse, 401: errorResponse, 403: errorResponse, 404: errorResponse, 429: errorResponse };
