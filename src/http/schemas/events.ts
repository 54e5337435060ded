import { z } from 'zod';

/**
 * One Server-Sent Event of GET /api/events (the `data:` line; the SSE `event:` name is `type`).
 * Not part of the OpenAPI document (the route answers text/event-stream); the route checks at
 * compile time that the bus's PlatformEvent and this shape match, so the web app's type cannot drift.
 * Events are hints to re-read rows: `status` is the training's or the generation's, by `type`.
 */
export const liveEvent = z.object({
  type: z.enum(['training.updated', 'model.updated', 'generation.updated']),
  ownerId: z.string(),
  modelId: z.string(),
  trainingId: z.string().optional(),
  generationId: z.string().optional(),
  status: z.string().optional(),
  /** A compact snapshot so a live page updates without re-reading. */
  progress: z.object({
    stage: z.string().nullable(),
    percent: z.number().nullable(),
    step: z.number().nullable(),
    totalSteps: z.number().nullable(),
    trainerEtaSeconds: z.number().nullable(),
    loss: z.number().nullable(),
  }).optional(),
  at: z.string(),
});
