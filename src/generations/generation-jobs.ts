import { z } from 'zod';
import { defineJob, jobSpec, type AnyJobDefinition } from '../jobs/jobs.ts';
import type { GenerationService } from './generation-service.ts';

/** Specs (name + payload) are what enqueuers import; the handlers are bound at composition time. */
export const runGenerationJob = jobSpec({ name: 'generation.run', payload: z.object({ generationId: z.uuid() }) });
/** Carries the remote id because the generation row may already be gone (deleted while running). */
export const cancelPredictionJob = jobSpec({ name: 'generation.cancel-remote', payload: z.object({ predictionId: z.string().min(1).max(200) }) });

export const RUN_MAX_ATTEMPTS = 20;

export function generationJobDefinitions(generations: GenerationService): AnyJobDefinition[] {
  return [
    defineJob({
      ...runGenerationJob,
      // Transient trouble (429s, 5xx, timeouts) is retried for ~15 minutes; refusals fail at once.
      maxAttempts: RUN_MAX_ATTEMPTS,
      backoff: { initialDelayMs: 1_000, maxDelayMs: 60_000 },
      handler: async ({ generationId }, ctx) => {
        try {
          const again = await generations.run(generationId, ctx.signal);
          return again === null ? undefined : { rerunInMs: again };
        } catch (error) {
          // The last attempt must not leave the generation looking busy forever.
          if (ctx.attempt >= ctx.maxAttempts && !ctx.signal.aborted) {
            await generations.giveUp(generationId, error);
            return undefined;
          }
          throw error;
        }
      },
    }),
    defineJob({
      ...cancelPredictionJob,
      maxAttempts: 10,
      backoff: { initialDelayMs: 2_000, maxDelayMs: 60_000 },
      handler: async ({ predictionId }) => generations.runCancelRemote(predictionId),
    }),
  ];
}
