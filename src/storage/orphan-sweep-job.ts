import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineJob, jobSpec, type AnyJobDefinition } from '../jobs/jobs.ts';
import type { OrphanBlobSweep } from './orphan-sweep.ts';

export const orphanSweepJob = jobSpec({ name: 'storage.orphan-sweep', payload: z.object({}) });
/** One sweep for the whole deployment, however many workers start. */
export const ORPHAN_SWEEP_KEY = 'storage-orphan-sweep';

interface Logger {
  info(details: object, message: string): void;
}

/**
 * The orphan sweep of a deployment with several processes (PostgreSQL): one worker at a time runs
 * it in the background, then again every `everyMs`, instead of every worker listing the whole
 * store before it starts. A file found without a row is removed only if it is still unowned
 * `graceMs` later: another process may be between writing a file and inserting its row.
 */
export function orphanSweepJobDefinition(deps: {
  sweep: OrphanBlobSweep;
  /** Removes temp files of interrupted writes older than the grace (local storage only). */
  sweepLeftovers?: ((maxAgeMs: number) => Promise<number>) | undefined;
  graceMs: number;
  everyMs: number;
  logger: Logger;
}): AnyJobDefinition {
  return defineJob({
    ...orphanSweepJob,
    maxAttempts: 5,
    backoff: { initialDelayMs: 60_000, maxDelayMs: 60 * 60_000 },
    handler: async (_payload, ctx) => {
      const leftovers = (await deps.sweepLeftovers?.(deps.graceMs)) ?? 0;
      if (leftovers) deps.logger.info({ count: leftovers }, 'removed temp files a crash left in storage');
      const found = await deps.sweep.findOrphans();
      if (found.length) {
        // Aborted (shutdown, lost lease): the job is released and another run starts over.
        await sleep(deps.graceMs, undefined, { signal: ctx.signal });
        const deleted = await deps.sweep.deleteUnowned(found);
        if (deleted.length) deps.logger.info({ count: deleted.length, keys: deleted.slice(0, 20) }, 'removed files no row owns (left by a crash)');
      }
      return { rerunInMs: deps.everyMs };
    },
  });
}
