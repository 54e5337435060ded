import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestDb, type TestDb } from '../../support/databases.ts';
import { until } from '../../support/until.ts';
import { PgBossJobQueue } from '../../../src/jobs/pg-boss-queue.ts';
import { defineJob } from '../../../src/jobs/jobs.ts';
import { importLegacyJobs } from '../../../src/jobs/legacy-jobs-import.ts';
import type { JobsTable } from '../../../src/db/schema.ts';

/** Upgrading a PostgreSQL deployment whose jobs still sit in the in-process queue's table. */
describe('moving the previous queue\'s jobs to pg-boss', () => {
  let db: TestDb | undefined;
  const queues: PgBossJobQueue[] = [];
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.close({ timeoutMs: 500 });
    await db?.drop();
    db = undefined;
  });

  const legacyRow = (overrides: Partial<JobsTable>): JobsTable => {
    const at = new Date(Date.now() - 60_000).toISOString();
    return {
      id: crypto.randomUUID(), name: 'user-webhook.deliver', payload: '{}', state: 'queued', singleton_key: null, attempts: 0, max_attempts: 5,
      run_after: at, locked_by: null, locked_until: null, last_error: null, created_at: at, updated_at: at, ...overrides,
    };
  };

  it('moves queued and interrupted jobs once, keeps finished ones, and records why a job could not move', async () => {
    db = await createTestDb('postgres');
    const delivered: string[] = [];
    const newQueue = () => {
      const q = new PgBossJobQueue({ connectionString: db!.location, leaseMs: 60_000, pollIntervalMs: 25 });
      q.register(defineJob({ name: 'user-webhook.deliver', payload: z.object({ deliveryId: z.string() }), handler: async ({ deliveryId }) => void delivered.push(deliveryId) }));
      queues.push(q);
      return q;
    };
    const rows = [
      legacyRow({ payload: JSON.stringify({ deliveryId: 'queued' }) }),
      legacyRow({ payload: JSON.stringify({ deliveryId: 'interrupted' }), state: 'running', attempts: 1, locked_by: 'old-process', locked_until: new Date().toISOString() }),
      legacyRow({ payload: JSON.stringify({ deliveryId: 'done' }), state: 'succeeded' }),
      legacyRow({ payload: JSON.stringify({ deliveryId: 'later' }), run_after: new Date(Date.now() + 3_600_000).toISOString() }),
      legacyRow({ name: 'removed.in.this.version', payload: '{}' }),
      legacyRow({ payload: JSON.stringify({ somethingElse: 1 }) }),
    ];
    await db.kysely.insertInto('jobs').values(rows).execute();

    // Two workers starting at the same time move each job once.
    const [a, b] = [newQueue(), newQueue()];
    const results = await Promise.all([importLegacyJobs(db.kysely, a), importLegacyJobs(db.kysely, b)]);
    expect(results.reduce((n, r) => n + r.moved, 0)).toBe(3);
    expect(results.reduce((n, r) => n + r.refused, 0)).toBe(2);

    await a.start();
    await until(() => delivered, (d) => d.length >= 2, 'the moved jobs to run');
    await new Promise((r) => setTimeout(r, 300)); // a second run would show up here
    expect(delivered.sort()).toEqual(['interrupted', 'queued']);

    const left = await db.kysely.selectFrom('jobs').select(['payload', 'state', 'last_error']).orderBy('created_at').execute();
    expect(left.map((r) => r.state).sort()).toEqual(['failed', 'failed', 'succeeded']);
    expect(left.find((r) => r.payload === '{}')?.last_error).toMatch(/^Not moved to the new job queue: No job named "removed\.in\.this\.version" is registered/);
    expect(left.find((r) => r.payload.includes('somethingElse'))?.last_error).toMatch(/^Not moved to the new job queue: Invalid payload for job user-webhook\.deliver/);
    // The delayed one waits in pg-boss for its time.
    const waiting = await db.kysely.selectFrom('pgboss.job' as never).select(['data' as never, 'state' as never]).execute() as Array<{ data: { deliveryId: string }; state: string }>;
    expect(waiting.find((j) => j.data.deliveryId === 'later')?.state).toBe('created');
    // Nothing left to move: a later start moves nothing.
    expect(await importLegacyJobs(db.kysely, b)).toEqual({ moved: 0, refused: 0 });
  });
});
