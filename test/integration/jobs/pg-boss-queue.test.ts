import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestDb, type TestDb } from '../../support/databases.ts';
import { until } from '../../support/until.ts';
import { describeJobQueueContract, type QueueLogger } from '../../contract/jobs-contract.ts';
import { PgBossJobQueue, type PgBossQueueOptions } from '../../../src/jobs/pg-boss-queue.ts';
import { defineJob } from '../../../src/jobs/jobs.ts';

const FAST = { leaseMs: 60_000, pollIntervalMs: 25, superviseIntervalMs: 1_000 } satisfies Partial<PgBossQueueOptions>;

describeJobQueueContract('pg-boss (postgres)', async () => {
  const db = await createTestDb('postgres');
  const queues: PgBossJobQueue[] = [];
  return {
    db: db.kysely,
    newQueue: (logger?: QueueLogger) => {
      const q = new PgBossJobQueue({ connectionString: db.location, ...FAST, ...(logger ? { logger } : {}) });
      queues.push(q);
      return q;
    },
    expireLeases: async () => {
      await sql`update pgboss.job set heartbeat_on = now() - interval '1 hour' where state = 'active'`.execute(db.kysely);
    },
    close: async () => {
      for (const q of queues) await q.close({ timeoutMs: 500 });
      await db.drop();
    },
  };
});

describe('PgBossJobQueue specifics', () => {
  let db: TestDb | undefined;
  const queues: PgBossJobQueue[] = [];
  const queue = (options: Partial<PgBossQueueOptions> = {}) => {
    const q = new PgBossJobQueue({ connectionString: db!.location, ...FAST, ...options });
    queues.push(q);
    return q;
  };
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.close({ timeoutMs: 500 });
    await db?.drop();
    db = undefined;
  });

  it('installs its schema safely when two processes start at the same time', async () => {
    db = await createTestDb('postgres');
    const job = defineJob({ name: 'test.noop', payload: z.object({}), handler: async () => undefined });
    const a = queue();
    const b = queue();
    a.register(job);
    b.register(job);
    await Promise.all([a.start(), b.start()]);
    const id = await a.enqueue('test.noop', {});
    await until(() => b.getJob(id!), (j) => j?.state === 'succeeded', 'the job ran on one of them');
  });

  it('two workers share the work, and a singleton-keyed job never runs on both at once', async () => {
    db = await createTestDb('postgres');
    const ranOn: Record<string, number> = { a: 0, b: 0 };
    let active = 0;
    let maxActive = 0;
    const tracks: number[] = [];
    const defs = (worker: string) => [
      defineJob({ name: 'test.work', payload: z.object({ n: z.number() }), handler: async () => { ranOn[worker]! += 1; await new Promise((r) => setTimeout(r, 20)); } }),
      defineJob({
        name: 'test.track',
        payload: z.object({}),
        handler: async () => {
          active++;
          maxActive = Math.max(maxActive, active);
          await new Promise((r) => setTimeout(r, 30));
          active--;
          tracks.push(1);
          return tracks.length < 6 ? { rerunInMs: 0 } : undefined;
        },
      }),
    ];
    const a = queue();
    const b = queue();
    a.register(...defs('a'));
    b.register(...defs('b'));
    await a.start({ concurrency: 3 });
    await b.start({ concurrency: 3 });
    const trackId = await a.enqueue('test.track', {}, { singletonKey: 'training-track:1' });
    // While it is tracked, nobody can add a second tracker, whichever process asks.
    expect(await b.enqueue('test.track', {}, { singletonKey: 'training-track:1' })).toBeNull();
    const ids = await Promise.all(Array.from({ length: 40 }, (_, n) => (n % 2 ? a : b).enqueue('test.work', { n })));
    await until(async () => Promise.all(ids.map((id) => a.getJob(id!))), (jobs) => jobs.every((j) => j?.state === 'succeeded'), 'all work done', 60_000);
    await until(() => a.getJob(trackId!), (j) => j?.state === 'succeeded', 'tracking done', 60_000);
    expect(ranOn.a! + ranOn.b!).toBe(40);
    expect(ranOn.a).toBeGreaterThan(0);
    expect(ranOn.b).toBeGreaterThan(0);
    expect(tracks.length).toBe(6);
    expect(maxActive).toBe(1);
  });

  it('hands the job of a worker killed with SIGKILL to another worker, heartbeats keeping it until then', async () => {
    db = await createTestDb('postgres');
    const { kysely, location } = db;
    const started: string[] = [];
    const enqueuer = queue({ leaseMs: 10_000 });
    enqueuer.register(defineJob({ name: 'test.long', payload: z.object({}), handler: async () => undefined }));
    const id = await enqueuer.enqueue('test.long', {}, { singletonKey: 'one' });
    const child = spawn(process.execPath, [fileURLToPath(new URL('./pg-boss-worker-process.ts', import.meta.url)), location, '10000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await until(() => out, (o) => o.includes(`claimed ${id}`), 'the child worker claimed the job', 60_000);
      // Alive and heart-beating past its lease: nobody takes the job over.
      const heartbeat = async () => (await sql<{ beat: Date }>`select heartbeat_on as beat from pgboss.job where id = ${id}`.execute(kysely)).rows[0]?.beat.getTime() ?? 0;
      const startedOn = (await sql<{ at: Date }>`select started_on as at from pgboss.job where id = ${id}`.execute(kysely)).rows[0]!.at.getTime();
      await until(heartbeat, (beat) => beat - startedOn > 12_000, 'the child heart-beating past its 10 s lease', 60_000);
      const alive = await enqueuer.getJob(id!);
      expect(alive?.state).toBe('running');
      expect(alive?.attempts).toBe(1);
    } finally {
      child.kill('SIGKILL');
    }
    const survivor = queue({ leaseMs: 10_000, superviseIntervalMs: 1_000 });
    survivor.register(defineJob({ name: 'test.long', payload: z.object({}), handler: async (_p, ctx) => { started.push(`attempt ${ctx.attempt}`); } }));
    await survivor.start();
    const done = await until(() => survivor.getJob(id!), (j) => j?.state === 'succeeded', 'the survivor finished it', 90_000);
    expect(started).toEqual(['attempt 2']);
    expect(done?.attempts).toBe(2);
  }, 120_000);

  it('keeps a job alive by its own heartbeat time, set by whoever enqueued it, not by the worker\'s lease setting', async () => {
    db = await createTestDb('postgres');
    // A web process with JOB_LEASE_SECONDS=10 enqueues; a worker started with 60 s runs the job for 15 s.
    const runs: Array<{ attempt: number; aborted: boolean }> = [];
    const long = defineJob({
      name: 'test.long',
      payload: z.object({}),
      maxAttempts: 3,
      handler: async (_p, ctx) => {
        const run = { attempt: ctx.attempt, aborted: false };
        runs.push(run);
        ctx.signal.addEventListener('abort', () => (run.aborted = true));
        await new Promise((resolve) => setTimeout(resolve, 15_000));
      },
    });
    const web = queue({ leaseMs: 10_000, superviseIntervalMs: 1_000 });
    const worker = queue({ leaseMs: 60_000, superviseIntervalMs: 1_000 });
    web.register(long);
    worker.register(long);
    await worker.start({ concurrency: 2 });
    const id = await web.enqueue('test.long', {});
    const done = await until(() => worker.getJob(id!), (j) => j?.state === 'succeeded', 'the one run to finish', 40_000);
    expect(runs).toEqual([{ attempt: 1, aborted: false }]);
    expect(done?.attempts).toBe(1);
  }, 60_000);

  it('wakes a worker in another process as soon as a job is enqueued or its transaction commits, not at its next poll', async () => {
    db = await createTestDb('postgres');
    const job = defineJob({ name: 'test.wake', payload: z.object({ n: z.number() }), handler: async () => undefined });
    const worker = queue({ pollIntervalMs: 10 * 60_000 });
    const web = queue({ pollIntervalMs: 10 * 60_000 });
    worker.register(job);
    web.register(job);
    await worker.start();
    const plain = await web.enqueue('test.wake', { n: 1 });
    await until(() => worker.getJob(plain!), (j) => j?.state === 'succeeded', 'the plain enqueue ran before the 10-minute poll', 30_000);
    const inTx = await db.kysely.transaction().execute((trx) => web.enqueue('test.wake', { n: 2 }, { transaction: trx }));
    await until(() => worker.getJob(inTx!), (j) => j?.state === 'succeeded', 'the committed enqueue ran before the 10-minute poll', 30_000);
  });

  it('an enqueue in a rolled-back transaction leaves no job; a committed one runs', async () => {
    db = await createTestDb('postgres');
    const seen: string[] = [];
    const q = queue();
    q.register(defineJob({ name: 'test.tx', payload: z.object({ id: z.string() }), handler: async (p) => { seen.push(p.id); } }));
    await q.start();
    let rolledBack: string | null = null;
    await db.kysely.transaction().execute(async (trx) => {
      rolledBack = await q.enqueue('test.tx', { id: 'rb' }, { transaction: trx });
      throw new Error('rollback');
    }).catch(() => undefined);
    expect(rolledBack).not.toBeNull();
    expect(await q.getJob(rolledBack!)).toBeNull();
    const count = await sql<{ n: number }>`select count(*)::int as n from pgboss.job where name = 'test.tx'`.execute(db.kysely);
    expect(count.rows[0]?.n).toBe(0);
    const committed = await db.kysely.transaction().execute((trx) => q.enqueue('test.tx', { id: 'ok' }, { transaction: trx }));
    await until(() => q.getJob(committed!), (j) => j?.state === 'succeeded', 'committed job ran');
    expect(seen).toEqual(['ok']);
  });

  it('retries after the definition\'s backoff (equal jitter, our own delay) and keeps only the message of the error', async () => {
    db = await createTestDb('postgres');
    let calls = 0;
    const q = queue({ random: () => 0 });
    q.register(defineJob({ name: 'test.backoff', payload: z.object({}), maxAttempts: 3, backoff: { initialDelayMs: 600_000, maxDelayMs: 600_000 }, handler: async () => {
      calls++;
      throw new Error(`failed with Token r8_abcdefghijklmnopqrst at call ${calls}`);
    } }));
    await q.start();
    const before = Date.now();
    const id = await q.enqueue('test.backoff', {});
    const retrying = await until(() => q.getJob(id!), (j) => j?.state === 'queued' && j.attempts === 1, 'first failure recorded');
    // random() = 0: half the nominal 600 s. pg-boss's own retry settings would have said "at once".
    const waitMs = Date.parse(retrying!.runAfter) - before;
    expect(waitMs).toBeGreaterThan(290_000);
    expect(waitMs).toBeLessThanOrEqual(300_000 + (Date.now() - before) + 1_000);
    expect(retrying?.lastError).toBe('failed with Token [redacted] at call 1');
    expect(calls).toBe(1);
  });
});

