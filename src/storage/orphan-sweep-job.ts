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

export interface CrashLeftoverSweep {
  sweep: OrphanBlobSweep;
  /** Removes temp files of interrupted writes older than the grace (local storage only). */
  sweepLeftovers?: ((maxAgeMs: number) => Promise<number>) | undefined;
  logger: Logger;
}

/**
 * Removes what crashes left in storage: temp files of interrupted writes, then files no row owns.
 * A file found without a row goes only if it is still unowned `graceMs` later: another process may
 * be between writing a file and inserting its row. Aborting the wait (shutdown) deletes nothing.
 */
export async function sweepCrashLeftovers(deps: CrashLeftoverSweep, graceMs: number, signal?: AbortSignal): Promise<void> {
  const leftovers = (await deps.sweepLeftovers?.(graceMs)) ?? 0;
  if (leftovers) deps.logger.info({ count: leftovers }, 'removed temp files a crash left in storage');
  const found = await deps.sweep.findOrphans();
  if (!found.length) return;
  if (graceMs > 0) await sleep(graceMs, undefined, { signal });
  const deleted = await deps.sweep.deleteUnowned(found);
  if (deleted.length) deps.logger.info({ count: deleted.length, keys: deleted.slice(0, 20) }, 'removed files no row owns (left by a crash)');
}

/**
 * The orphan sweep of a deployment with several processes (PostgreSQL): one worker at a time runs
 * it in the background, then again every `everyMs`, instead of every worker listing the whole
 * store before it starts.
 */
export function orphanSweepJobDefinition(deps: CrashLeftoverSweep & { graceMs: number; everyMs: number }): AnyJobDefinition {
  return defineJob({
    ...orphanSweepJob,
    maxAttempts: 5,
    backoff: { initialDelayMs: 60_000, maxDelayMs: 60 * 60_000 },
    handler: async (_payload, ctx) => {
      // Aborted (shutdown, lost lease): the job is released and another run starts over.
      await sweepCrashLeftovers(deps, deps.graceMs, ctx.signal);
      return { rerunInMs: deps.everyMs };
    },
  });
}
