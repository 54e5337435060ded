import { z } from 'zod';

/*
 * The same lists as MODEL_TYPES and VISIBILITIES in src/models/schemas.ts, which the request side
 * and the services use; they are repeated here because this folder imports nothing but zod, and
 * test/unit/web/api-schemas.test.ts fails when the two differ.
 */
export const modelType = z.enum(['person', 'style', 'object']);
export const visibility = z.enum(['public', 'private']);
export const modelStatus = z.enum(['draft', 'training', 'ready', 'failed']);

export const modelResponse = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  visibility,
  modelType,
  status: modelStatus,
  imageCount: z.number(),
  owner: z.object({ id: z.string(), displayName: z.string() }),
  isOwner: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const modelEnvelope = z.object({ model: modelResponse });
export const modelListResponse = z.object({ models: z.array(modelResponse), nextCursor: z.string().nullable() });
