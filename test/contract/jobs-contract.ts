import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.ts';
import { defineJob, jobSpec, MissingJobHandlersError, type JobQueue, type JobResult } from '../../src/jobs/jobs.ts';

/**
 * Behaviour every JobQueue adapter must have (in-process now, pg-boss later). `make` returns
 * queues sharing one store, so a second queue can stand in for a restarted process.
 */
export interface QueueLogger {
  error(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface QueueFixture {
  /** The application database the queue shares (jobs are enqueued inside its transactions). */
  db: Kysely<Database>;
  /** A new queue (think: a process) on the shared store, logging through `logger` when given. */
  newQueue(logger?: QueueLogger): JobQueue;
  /** Makes every running job's lease look expired, as if its worker had died. */
  expireLeases(): Promise<void>;
  close(): Promise<void>;
}

const until = async (check: () => Promise<boolean> | boolean, what: string, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

export function describeJobQueueContract(name: string, makeFixture: () => Promise<QueueFixture>): void {
  describe(`JobQueue contract: ${name}`, () => {
    let fixture: QueueFixture;
    const queues: JobQueue[] = [];
    const queue = (logger?: QueueLogger) => {
      const q = fixture.newQueue(logger);
      queues.push(q);
      return q;
    };
    const setup = async () => {
      fixture = await makeFixture();
    };
    afterEach(async () => {
      for (const q of queues.splice(0)) await q.stop({ timeoutMs: 500 });
      await fixture?.close();
    });

    const echo = (seen: unknown[], result?: JobResult) =>
      defineJob({ name: 'test.echo', payload: z.object({ id: z.string(), n: z.number().default(1) }), handler: async (p) => { seen.push(p); return result; } });

    it('runs an enqueued job with its validated payload (defaults applied)', async () => {
      await setup();
      const seen: unknown[] = [];
      const q = queue();
      q.register(echo(seen));
      await q.start({ concurrency: 2 });
      const id = await q.enqueue('test.echo', { id: 'a' });
      await until(async () => (await q.getJob(id!))?.state === 'succeeded', 'success');
      expect(seen).toEqual([{ id: 'a', n: 1 }]);
    });

    it('refuses invalid payloads and unknown job names at enqueue time', async () => {
      await setup();
      const q = queue();
      q.register(echo([]));
      await expect(q.enqueue('test.echo', { id: 5 })).rejects.toThrow(/Invalid payload for job test.echo/);
      await expect(q.enqueue('test.nope', {})).rejects.toThrow(/No job named/);
      await expect(q.enqueue('test.echo', { id: 'x'.repeat(10_000) })).rejects.toThrow(/pass ids, not data/);
    });

    it('retries a failing job with backoff, then succeeds', async () => {
      await setup();
      let calls = 0;
      const q = queue();
      q.register(defineJob({ name: 'test.flaky', payload: z.object({}), backoff: { initialDelayMs: 10, maxDelayMs: 20 }, handler: async () => { calls++; if (calls < 3) throw new Error(`boom ${calls}`); } }));
      await q.start();
      const id = await q.enqueue('test.flaky', {});
      await until(async () => (await q.getJob(id!))?.state === 'succeeded', 'eventual success');
      const job = await q.getJob(id!);
      expect(calls).toBe(3);
      expect(job?.attempts).toBe(3);
      expect(job?.lastError).toBe('boom 2');
    });

    it('gives up after maxAttempts and records the error without secrets', async () => {
      await setup();
      const q = queue();
      q.register(defineJob({ name: 'test.doomed', payload: z.object({}), maxAttempts: 2, backoff: { initialDelayMs: 5, maxDelayMs: 5 }, handler: async () => { throw new Error('upstream said no; Authorization: Bearer r8_abcdefghijklmnop'); } }));
      await q.start();
      const id = await q.enqueue('test.doomed', {});
      await until(async () => (await q.getJob(id!))?.state === 'failed', 'failure');
      const job = await q.getJob(id!);
      expect(job?.attempts).toBe(2);
      expect(job?.lastError).toContain('upstream said no');
      expect(job?.lastError).not.toContain('r8_abcdefghijklmnop');
    });

    it('deduplicates by singleton key while one is queued or running, not afterwards', async () => {
      await setup();
      const seen: unknown[] = [];
      const q = queue();
      q.register(echo(seen));
      const first = await q.enqueue('test.echo', { id: 'a' }, { singletonKey: 'k' });
      expect(first).not.toBeNull();
      expect(await q.enqueue('test.echo', { id: 'b' }, { singletonKey: 'k' })).toBeNull();
      await q.start();
      await until(async () => (await q.getJob(first!))?.state === 'succeeded', 'first done');
      expect(await q.enqueue('test.echo', { id: 'c' }, { singletonKey: 'k' })).not.toBeNull();
    });

    it('does not run a delayed job before its time', async () => {
      await setup();
      const seen: unknown[] = [];
      const q = queue();
      q.register(echo(seen));
      await q.start();
      const later = await q.enqueue('test.echo', { id: 'later' }, { delayMs: 60_000 });
      const now = await q.enqueue('test.echo', { id: 'now' });
      await until(async () => (await q.getJob(now!))?.state === 'succeeded', 'undelayed job');
      expect((await q.getJob(later!))?.state).toBe('queued');
      expect(seen).toEqual([{ id: 'now', n: 1 }]);
    });

    it('runs a delayed job now when asked by its singleton key, and only that one', async () => {
      await setup();
      const seen: unknown[] = [];
      const q = queue();
      q.register(echo(seen));
      await q.start();
      const wanted = await q.enqueue('test.echo', { id: 'wanted' }, { singletonKey: 'poll:a', delayMs: 60_000 });
      const other = await q.enqueue('test.echo', { id: 'other' }, { singletonKey: 'poll:b', delayMs: 60_000 });
      expect(await q.runNow('test.echo', 'poll:missing')).toBe(false);
      expect(await q.runNow('test.echo', 'poll:a')).toBe(true);
      await until(async () => (await q.getJob(wanted!))?.state === 'succeeded', 'the job asked for');
      expect((await q.getJob(other!))?.state).toBe('queued');
      expect(seen).toEqual([{ id: 'wanted', n: 1 }]);
      // Finished: nothing is waiting under that key any more.
      expect(await q.runNow('test.echo', 'poll:a')).toBe(false);
    });

    it('reruns a job that asks for it, without counting a failure', async () => {
      await setup();
      let runs = 0;
      const q = queue();
      q.register(defineJob({ name: 'test.poll', payload: z.object({}), maxAttempts: 1, handler: async () => (++runs < 4 ? { rerunInMs: 5 } : undefined) }));
      await q.start();
      const id = await q.enqueue('test.poll', {});
      await until(async () => (await q.getJob(id!))?.state === 'succeeded', 'poll loop end');
      expect(runs).toBe(4);
    });

    it('hands a dead worker\'s job to another worker (lease expiry)', async () => {
      await setup();
      const started: string[] = [];
      let release!: () => void;
      const blocked = new Promise<void>((r) => (release = r));
      const crashed = queue();
      crashed.register(defineJob({ name: 'test.long', payload: z.object({}), handler: async () => { started.push('first'); await blocked; } }));
      await crashed.start();
      const id = await crashed.enqueue('test.long', {});
      await until(() => started.length === 1, 'first worker claimed');
      // The first worker "dies": it stops renewing, and its lease runs out.
      await fixture.expireLeases();
      const survivor = queue();
      survivor.register(defineJob({ name: 'test.long', payload: z.object({}), handler: async () => { started.push('second'); } }));
      await survivor.start();
      await until(async () => (await survivor.getJob(id!))?.state === 'succeeded', 'second worker finished it');
      expect(started).toEqual(['first', 'second']);
      release();
    });

    it('counts a run lost with its worker as an attempt, and fails a job that keeps losing its worker', async () => {
      await setup();
      let runs = 0;
      const q = queue();
      q.register(defineJob({ name: 'test.crashy', payload: z.object({}), maxAttempts: 2, backoff: { initialDelayMs: 5, maxDelayMs: 5 }, handler: async (_p, ctx) => {
        runs++;
        // Hangs like a worker that died mid-job, until this run learns it lost the job.
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      } }));
      await q.start({ concurrency: 2 });
      const id = await q.enqueue('test.crashy', {});
      await until(() => runs === 1, 'first run');
      await fixture.expireLeases();
      await until(() => runs === 2, 'second run after the first was lost');
      expect((await q.getJob(id!))?.attempts).toBe(2);
      await fixture.expireLeases();
      await until(async () => (await q.getJob(id!))?.state === 'failed', 'failed after maxAttempts lost runs');
      const job = await q.getJob(id!);
      expect(job?.attempts).toBe(2);
      expect(job?.lastError).toBeTruthy();
      expect(runs).toBe(2);
    });

    it('a stale run cannot settle a job that was claimed again (each claim has its own token)', async () => {
      await setup();
      const logs: string[] = [];
      const logger = { error: (_d: object, m: string) => logs.push(m), warn: (_d: object, m: string) => logs.push(m) };
      const gates: Array<() => void> = [];
      let runs = 0;
      const q = queue(logger);
      q.register(defineJob({ name: 'test.stale', payload: z.object({}), backoff: { initialDelayMs: 60_000, maxDelayMs: 60_000 }, handler: async () => {
        const run = ++runs;
        await new Promise<void>((resolve) => gates.push(resolve));
        if (run === 1) throw new Error('stale run failed');
      } }));
      await q.start({ concurrency: 2 });
      const id = await q.enqueue('test.stale', {});
      await until(() => runs === 1, 'first claim');
      await fixture.expireLeases();
      await until(() => runs === 2, 'the same job claimed again');
      gates[0]!();
      await until(() => logs.some((m) => /dropped|will retry|for good/.test(m)), 'the stale run settled');
      expect(logs.filter((m) => /will retry|for good/.test(m))).toEqual([]);
      expect((await q.getJob(id!))?.state).toBe('running');
      gates[1]!();
      await until(async () => (await q.getJob(id!))?.state === 'succeeded', 'the current run finished it');
      expect((await q.getJob(id!))?.lastError ?? '').not.toContain('stale run');
    });

    it('stop() waits for running handlers, and releases those that outlive the timeout', async () => {
      await setup();
      let finished = false;
      const q = queue();
      q.register(defineJob({ name: 'test.slow', payload: z.object({}), handler: async (_p, ctx) => {
        await new Promise<void>((resolve) => { const t = setTimeout(resolve, 100); ctx.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }); });
        finished = true;
        throw new Error('stopped mid-way');
      } }));
      await q.start();
      const id = await q.enqueue('test.slow', {});
      await until(async () => (await q.getJob(id!))?.state === 'running', 'running');
      await q.stop({ timeoutMs: 2_000 });
      expect(finished).toBe(true);
      // Interrupted by shutdown: back in the queue, attempt not counted.
      const job = await q.getJob(id!);
      expect(job?.state).toBe('queued');
      expect(job?.attempts).toBe(0);
    });

    it('stop() right after start() leaves nothing running: jobs claimed while it stopped are aborted and handed back', async () => {
      await setup();
      const runs: Array<{ aborted: boolean }> = [];
      const q = queue();
      q.register(defineJob({ name: 'test.slow', payload: z.object({ n: z.number() }), handler: async (_p, ctx) => {
        const run = { aborted: ctx.signal.aborted };
        runs.push(run);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 5_000);
          ctx.signal.addEventListener('abort', () => { run.aborted = true; clearTimeout(t); resolve(); });
        });
      } }));
      const ids = await Promise.all([1, 2, 3, 4].map((n) => q.enqueue('test.slow', { n })));
      await q.start({ concurrency: 4 });
      await q.stop({ timeoutMs: 2_000 }); // the first claim pass is in flight
      // Whatever started was told to stop; nothing is left running under a stopped queue.
      expect(runs.every((r) => r.aborted)).toBe(true);
      for (const id of ids) expect((await q.getJob(id!))?.state).toBe('queued');
    });

    it('refuses to start while stored jobs have no handler, naming them', async () => {
      await setup();
      const writer = queue();
      writer.register(defineJob({ name: 'test.orphan', payload: z.object({}), handler: async () => undefined }));
      await writer.enqueue('test.orphan', {});
      const reader = queue();
      reader.register(echo([]));
      await expect(reader.start()).rejects.toBeInstanceOf(MissingJobHandlersError);
      await expect(reader.verifyHandlers([jobSpec({ name: 'test.other', payload: z.object({}) })])).rejects.toThrow(/test.orphan, test.other|test.other, test.orphan/);
    });

    it('lists jobs most recently changed first, by state and name, and counts them per name and state', async () => {
      await setup();
      const q = queue();
      q.register(echo([]), defineJob({ name: 'test.doomed', payload: z.object({}), maxAttempts: 1, handler: async () => { throw new Error('no luck'); } }));
      expect(await q.listJobs()).toEqual([]);
      expect(await q.countJobs()).toEqual([]);
      const waiting = [];
      for (const id of ['a', 'b', 'c']) waiting.push(await q.enqueue('test.echo', { id }, { delayMs: 60_000 }));
      await q.start();
      const doomed = await q.enqueue('test.doomed', {});
      await until(async () => (await q.getJob(doomed!))?.state === 'failed', 'failure');

      const all = await q.listJobs();
      expect(all.map((j) => j.id).sort()).toEqual([...waiting, doomed].sort());
      const times = all.map((j) => Date.parse(j.updatedAt));
      expect(times).toEqual([...times].sort((x, y) => y - x));
      const failed = await q.listJobs({ state: 'failed' });
      expect(failed.map((j) => [j.id, j.name, j.lastError, j.attempts, j.maxAttempts])).toEqual([[doomed, 'test.doomed', 'no luck', 1, 1]]);
      expect((await q.listJobs({ state: 'queued', name: 'test.echo', limit: 2 })).length).toBe(2);
      expect(await q.listJobs({ state: 'queued', name: 'test.doomed' })).toEqual([]);
      expect(await q.listJobs({ name: 'test.unregistered' })).toEqual([]);
      expect(await q.countJobs()).toEqual([
        { name: 'test.doomed', state: 'failed', count: 1 },
        { name: 'test.echo', state: 'queued', count: 3 },
      ]);
    });

    it('retries a failed job with its attempts starting over, and only a failed one', async () => {
      await setup();
      let calls = 0;
      const q = queue();
      q.register(
        echo([]),
        defineJob({ name: 'test.once-broken', payload: z.object({}), maxAttempts: 2, backoff: { initialDelayMs: 5, maxDelayMs: 5 }, handler: async () => { if (++calls <= 2) throw new Error(`broken ${calls}`); } }),
      );
      await q.start();
      const id = await q.enqueue('test.once-broken', {}, { singletonKey: 'broken' });
      await until(async () => (await q.getJob(id!))?.state === 'failed', 'failure after 2 attempts');
      expect(calls).toBe(2);

      expect(await q.retry(id!)).toBe('retried');
      await until(async () => (await q.getJob(id!))?.state === 'succeeded', 'the retried run succeeded');
      expect(calls).toBe(3);
      expect((await q.getJob(id!))?.attempts).toBe(1);
      expect(await q.retry(id!)).toBe('not_failed');
      expect(await q.retry(crypto.randomUUID())).toBe('not_found');
      expect(await q.retry('not-a-uuid')).toBe('not_found');
    });

    it('does not retry a failed job while another with its singleton key is queued (no twin runs)', async () => {
      await setup();
      const q = queue();
      q.register(defineJob({ name: 'test.doomed', payload: z.object({}), maxAttempts: 1, handler: async () => { throw new Error('no luck'); } }));
      await q.start();
      const first = await q.enqueue('test.doomed', {}, { singletonKey: 'thing' });
      await until(async () => (await q.getJob(first!))?.state === 'failed', 'first failed');
      await q.stop();
      const second = await q.enqueue('test.doomed', {}, { singletonKey: 'thing' });
      expect(second).not.toBeNull();
      expect(await q.retry(first!)).toBe('superseded');
      expect((await q.getJob(first!))?.state).toBe('failed');
    });

    it('enqueues inside a caller transaction: the job exists only if it commits', async () => {
      await setup();
      const q = queue();
      q.register(echo([]));
      const db = fixture.db;
      let rolledBack: string | null = null;
      await db.transaction().execute(async (trx) => {
        rolledBack = await q.enqueue('test.echo', { id: 'rb' }, { transaction: trx, singletonKey: 'tx' });
        throw new Error('rollback');
      }).catch(() => undefined);
      expect(await q.getJob(rolledBack!)).toBeNull();
      let committed: string | null = null;
      await db.transaction().execute(async (trx) => {
        committed = await q.enqueue('test.echo', { id: 'ok' }, { transaction: trx, singletonKey: 'tx' });
        // A twin inside the same transaction is deduplicated without breaking the transaction.
        expect(await q.enqueue('test.echo', { id: 'twin' }, { transaction: trx, singletonKey: 'tx' })).toBeNull();
      });
      expect((await q.getJob(committed!))?.state).toBe('queued');
    });
  });
}
