import { describe, expect, it, afterEach } from 'vitest';
import { z } from 'zod';
import { DIALECTS, createTestDb, type TestDb } from '../../support/databases.ts';
import { until } from '../../support/until.ts';
import { describeJobQueueContract, type QueueLogger } from '../../contract/jobs-contract.ts';
import { InProcessJobQueue } from '../../../src/jobs/in-process-queue.ts';
import { defineJob } from '../../../src/jobs/jobs.ts';

for (const dialect of DIALECTS) {
  describeJobQueueContract(`in-process (${dialect})`, async () => {
    const db = await createTestDb(dialect);
    return {
      db: db.kysely,
      newQueue: (logger?: QueueLogger) => new InProcessJobQueue(db.kysely, { leaseMs: 60_000, pollIntervalMs: 25, ...(logger ? { logger } : {}) }),
      expireLeases: async () => {
        await db.kysely.updateTable('jobs').set({ locked_until: new Date(Date.now() - 1000).toISOString() }).where('state', '=', 'running').execute();
      },
      close: () => db.drop(),
    };
  });

  describe(`InProcessJobQueue specifics (${dialect})`, () => {
    let db: TestDb | undefined;
    const queues: InProcessJobQueue[] = [];
    afterEach(async () => {
      for (const q of queues.splice(0)) await q.stop({ timeoutMs: 500 });
      await db?.drop();
      db = undefined;
    });

    it('runs a job enqueued in a transaction soon after the commit, not at the next poll', async () => {
      db = await createTestDb(dialect);
      const q = new InProcessJobQueue(db.kysely, { leaseMs: 60_000, pollIntervalMs: 10 * 60_000 });
      queues.push(q);
      q.register(defineJob({ name: 'test.tx', payload: z.object({}), handler: async () => undefined }));
      await q.start();
      const id = await db.kysely.transaction().execute((trx) => q.enqueue('test.tx', {}, { transaction: trx }));
      await until(() => q.getJob(id!), (j) => j?.state === 'succeeded', 'the job ran long before the 10-minute poll', 30_000);
    });

    it('as the only worker, takes back a dead process\'s running jobs at start instead of after their lease', async () => {
      db = await createTestDb(dialect);
      const runs: number[] = [];
      const job = (release: Promise<void>) => defineJob({ name: 'test.crashy', payload: z.object({}), handler: async (_p, ctx) => { runs.push(ctx.attempt); await release; } });
      // The first "process" claims the job and dies with it running (never stopped, hour-long lease).
      const dead = new InProcessJobQueue(db.kysely, { leaseMs: 60 * 60_000, pollIntervalMs: 25 });
      queues.push(dead); // stopped after the test only, to end its timers
      dead.register(job(new Promise(() => {})));
      await dead.start();
      const id = await dead.enqueue('test.crashy', {});
      await until(() => runs.length, (n) => n === 1, 'the first run started');
      // A shared-database worker leaves it alone: its lease has not ended.
      const polite = new InProcessJobQueue(db.kysely, { leaseMs: 60_000, pollIntervalMs: 25 });
      queues.push(polite);
      polite.register(job(Promise.resolve()));
      await polite.start();
      await new Promise((r) => setTimeout(r, 200));
      expect((await polite.getJob(id!))?.state).toBe('running');
      await polite.stop();
      // The restarted sole worker runs it again at once; the lost run counted as an attempt.
      const restarted = new InProcessJobQueue(db.kysely, { leaseMs: 60 * 60_000, pollIntervalMs: 25, soleWorker: true });
      queues.push(restarted);
      restarted.register(job(Promise.resolve()));
      await restarted.start();
      const done = await until(() => restarted.getJob(id!), (j) => j?.state === 'succeeded', 'the job ran again right after the restart');
      expect(runs).toEqual([1, 2]);
      expect(done!.attempts).toBe(2);
    });

    it('deletes finished jobs older than the retention, and nothing else', async () => {
      db = await createTestDb(dialect);
      const old = new Date(Date.now() - 8 * 24 * 60 * 60_000).toISOString();
      const recent = new Date(Date.now() - 60_000).toISOString();
      const row = (id: string, state: 'queued' | 'succeeded' | 'failed', at: string) => ({
        id, name: 'test.kept', payload: '{}', state, singleton_key: null, attempts: 1, max_attempts: 5,
        run_after: state === 'queued' ? new Date(Date.now() + 60 * 60_000).toISOString() : at,
        locked_by: null, locked_until: null, last_error: null, created_at: at, updated_at: at,
      });
      await db.kysely.insertInto('jobs').values([
        row('00000000-0000-4000-8000-000000000001', 'succeeded', old),
        row('00000000-0000-4000-8000-000000000002', 'failed', old),
        row('00000000-0000-4000-8000-000000000003', 'succeeded', recent),
        row('00000000-0000-4000-8000-000000000004', 'queued', old),
      ]).execute();
      const q = new InProcessJobQueue(db.kysely, { leaseMs: 60_000, pollIntervalMs: 25 });
      queues.push(q);
      q.register(defineJob({ name: 'test.kept', payload: z.object({}), handler: async () => undefined }));
      await q.start();
      const remaining = await until(
        async () => (await db!.kysely.selectFrom('jobs').select('id').orderBy('id').execute()).map((r) => r.id),
        (ids) => ids.length === 2,
        'old finished jobs deleted',
      );
      expect(remaining).toEqual(['00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000004']);
    });
  });
}
