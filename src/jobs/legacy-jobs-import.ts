import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { InvalidJobPayloadError, UnknownJobError, type JobQueue } from './jobs.ts';

export interface LegacyImportResult {
  /** Moved into the queue in use (or already covered there by a job with the same singleton key). */
  moved: number;
  /** Left in the old table as failed, with the reason: no handler in this version, or a payload it no longer accepts. */
  refused: number;
}

interface Logger {
  warn(details: object, message: string): void;
}

const BATCH = 100;

/**
 * A PostgreSQL deployment from before pg-boss kept its jobs in the `jobs` table (the in-process
 * queue). A worker starting on pg-boss moves the unfinished ones across, each in one transaction
 * with its removal, so an upgrade loses no queued work (a user's webhook delivery, say) and moves
 * nothing twice, even when several workers start at once (rows are locked, others skipped).
 * A job that was running when the old version stopped is queued again: that run was lost.
 */
export async function importLegacyJobs(db: Kysely<Database>, queue: JobQueue, logger?: Logger): Promise<LegacyImportResult> {
  const result: LegacyImportResult = { moved: 0, refused: 0 };
  let after = { createdAt: '', id: '' };
  for (;;) {
    const batch = await db
      .selectFrom('jobs')
      .select(['id', 'created_at'])
      .where('state', 'in', ['queued', 'running'])
      .where((eb) => eb.or([eb('created_at', '>', after.createdAt), eb.and([eb('created_at', '=', after.createdAt), eb('id', '>', after.id)])]))
      .orderBy('created_at')
      .orderBy('id')
      .limit(BATCH)
      .execute();
    for (const { id } of batch) {
      const outcome = await db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('jobs').selectAll().where('id', '=', id).where('state', 'in', ['queued', 'running']).forUpdate().skipLocked().executeTakeFirst();
        if (!row) return null; // finished meanwhile, or another worker is moving it
        try {
          await queue.enqueue(row.name, JSON.parse(row.payload), {
            transaction: trx,
            singletonKey: row.singleton_key ?? undefined,
            maxAttempts: Math.max(1, row.max_attempts - row.attempts),
            delayMs: Math.max(0, Date.parse(row.run_after) - Date.now()),
          });
        } catch (error) {
          // Refused before anything was written, so the transaction is still usable; other errors abort the start.
          if (!(error instanceof UnknownJobError || error instanceof InvalidJobPayloadError || error instanceof SyntaxError)) throw error;
          const reason = `Not moved to the new job queue: ${error.message}`;
          await trx.updateTable('jobs').set({ state: 'failed', last_error: reason.slice(0, 1000), locked_by: null, locked_until: null, updated_at: new Date().toISOString() }).where('id', '=', id).execute();
          return { refused: { id, name: row.name, reason } };
        }
        await trx.deleteFrom('jobs').where('id', '=', id).execute();
        return 'moved' as const;
      });
      if (outcome === 'moved') result.moved++;
      else if (outcome) {
        result.refused++;
        logger?.warn({ job: outcome.refused.name, jobId: outcome.refused.id, reason: outcome.refused.reason }, 'a job of the previous queue could not be moved');
      }
    }
    if (batch.length < BATCH) return result;
    const last = batch[batch.length - 1]!;
    after = { createdAt: last.created_at, id: last.id };
  }
}
