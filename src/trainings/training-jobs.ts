import { z } from 'zod';
import { defineJob, jobSpec, type AnyJobDefinition } from '../jobs/jobs.ts';
import type { TrainingService } from './training-service.ts';

const byId = z.object({ trainingId: z.uuid() });

/** Specs (name + payload) are what enqueuers import; the handlers are bound at composition time. */
export const submitTrainingJob = jobSpec({ name: 'training.submit', payload: byId });
export const trackTrainingJob = jobSpec({ name: 'training.track', payload: byId });
export const cancelTrainingJob = jobSpec({ name: 'training.cancel', payload: byId });
export const finalizeTrainingJob = jobSpec({ name: 'training.finalize', payload: byId });

export function trainingJobDefinitions(trainings: TrainingService): AnyJobDefinition[] {
  return [
    defineJob({
      ...submitTrainingJob,
      // Transient provider trouble (429s, timeouts, 5xx) is retried for a long while; refusals fail the training at once.
      maxAttempts: 20,
      backoff: { initialDelayMs: 2_000, maxDelayMs: 5 * 60_000 },
      handler: async ({ trainingId }, ctx) => {
        try {
          await trainings.runSubmit(trainingId, ctx.signal);
        } catch (error) {
          // The last attempt must not leave the training queued forever (or abandon one Replicate may run).
          if (ctx.attempt < ctx.maxAttempts || ctx.signal.aborted) throw error;
          const again = await trainings.giveUpSubmit(trainingId, error);
          return again === null ? undefined : { rerunInMs: again };
        }
      },
    }),
    defineJob({
      ...trackTrainingJob,
      maxAttempts: 50,
      backoff: { initialDelayMs: 2_000, maxDelayMs: 2 * 60_000 },
      handler: async ({ trainingId }, ctx) => {
        try {
          const again = await trainings.runTrack(trainingId);
          return again === null ? undefined : { rerunInMs: again };
        } catch (error) {
          // Replicate finishes (and bills) the training whether we listen or not: keep listening.
          if (ctx.attempt < ctx.maxAttempts || ctx.signal.aborted) throw error;
          return { rerunInMs: trainings.slowestPollMs() };
        }
      },
    }),
    defineJob({
      ...cancelTrainingJob,
      maxAttempts: 20,
      backoff: { initialDelayMs: 2_000, maxDelayMs: 60_000 },
      handler: async ({ trainingId }) => trainings.runCancel(trainingId),
    }),
    defineJob({
      ...finalizeTrainingJob,
      maxAttempts: 20,
      backoff: { initialDelayMs: 5_000, maxDelayMs: 5 * 60_000 },
      handler: async ({ trainingId }, ctx) => {
        try {
          await trainings.runFinalize(trainingId);
        } catch (error) {
          // The last attempt must not leave the model "training" forever.
          if (ctx.attempt >= ctx.maxAttempts && !ctx.signal.aborted) return trainings.giveUpFinalize(trainingId, error);
          throw error;
        }
      },
    }),
  ];
}
