import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { sql, SqliteAdapter, type Kysely, type Selectable } from 'kysely';
import type { z } from 'zod';
import type { Database, JobsTable } from '../db/schema.ts';
import {
  addDefinitions,
  assertHandled,
  definitionFor,
  jobNames,
  settledWithin,
  assertMaxAttempts,
  describeJobError,
  retryDelayMs,
  serializePayload,
  type AnyJobDefinition,
  listLimit,
  type EnqueueOptions,
  type JobCount,
  type JobInfo,
  type ListJobsOptions,
  type RetryOutcome,
  type JobQueue,
  type JobResult,
  type JobSpec,
  type StartOptions,
  type StopOptions,
} from './jobs.ts';
import { CoalescingPump } from './coalescing-pump.ts';

/**
 * The predicate of the partial unique index `jobs_singleton_active`, as literal SQL: SQLite only
 * matches an ON CONFLICT target to a partial index whose WHERE clause is written the same way
 * (bound parameters do not match).
 */
const ACTIVE_SINGLETON = sql<boolean>`singleton_key is not null and state in ('queued', 'running')`;

export interface InProcessQueueOptions {
  /** A claimed job belongs to this worker until its lease ends; heartbeats extend it. Default 30 s. */
  leaseMs?: number;
  /** How often due jobs enqueued elsewhere (or delayed ones) are looked for. Default 1 s. */
  pollIntervalMs?: number;
  now?: () => Date;
  random?: () => number;
  /** Succeeded and failed jobs are deleted this long after they finished. Default 7 days. */
  retentionMs?: number;
  /** How often the poll deletes expired finished jobs (a bounded batch each time). Default 10 minutes. */
  cleanupIntervalMs?: number;
  logger?: { error(details: object, message: string): void; warn(details: object, message: string): void };
  /**
   * This queue is the only one that runs jobs on its database (the embedded `serve` on SQLite):
   * whatever is still `running` when it starts belongs to a process that died, so start() takes
   * it back at once instead of waiting out the dead process's lease.
   */
  soleWorker?: boolean;
}

/** What the last failure of a job records when its worker vanished mid-run. */
export const LOST_RUN_ERROR = 'The worker running this job stopped before it finished (its lease expired).';
const CLEANUP_BATCH = 500;
/** A PostgreSQL transaction commits a moment after the enqueue returns; look again then. */
const AFTER_COMMIT_WAKE_MS = 50;

interface Claimed {
  id: string;
  name: string;
  payload: string;
  attempts: number;
  maxAttempts: number;
  /** This claim's own lock token (locked_by): a stale run of an earlier claim can never match it. */
  token: string;
}

interface Running {
  id: string;
  token: string;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * The embedded jobs adapter: jobs are rows in the application's own database (SQLite or
 * PostgreSQL), so they survive restarts and can be enqueued in the same transaction as the rows
 * they concern. A worker claims a due job with a compare-and-set, holds it under a lease it
 * renews while the handler runs, and any worker re-queues jobs whose lease ran out (their worker
 * died), so a crash loses nothing: the job runs again, which is why handlers are idempotent.
 */
export class InProcessJobQueue implements JobQueue {
  readonly #db: Kysely<Database>;
  readonly #definitions = new Map<string, AnyJobDefinition>();
  readonly #workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  #claims = 0;
  readonly #retentionMs: number;
  readonly #cleanupIntervalMs: number;
  #lastCleanup = 0;
  readonly #leaseMs: number;
  readonly #soleWorker: boolean;
  readonly #pollIntervalMs: number;
  readonly #now: () => Date;
  readonly #random: () => number;
  readonly #logger: InProcessQueueOptions['logger'];
  readonly #running = new Map<string, Running>();
  #concurrency = 1;
  #started = false;
  #stopping = false;
  #pollTimer: NodeJS.Timeout | undefined;
  readonly #pumper = new CoalescingPump(() => this.#pump(), {
    active: () => this.#started,
    onError: (error) => this.#logger?.error({ err: describeJobError(error) }, 'claiming jobs failed'),
  });

  constructor(db: Kysely<Database>, options: InProcessQueueOptions = {}) {
    this.#db = db;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#soleWorker = options.soleWorker ?? false;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.#now = options.now ?? (() => new Date());
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger;
    this.#retentionMs = options.retentionMs ?? 7 * 24 * 60 * 60_000;
    this.#cleanupIntervalMs = options.cleanupIntervalMs ?? 10 * 60_000;
  }

  register(...definitions: AnyJobDefinition[]): void {
    addDefinitions(this.#definitions, definitions, this.#started);
  }

  enqueue<S extends z.ZodType>(job: JobSpec<S>, payload: z.input<S>, options?: EnqueueOptions): Promise<string | null>;
  enqueue(name: string, payload: unknown, options?: EnqueueOptions): Promise<string | null>;
  async enqueue(job: string | JobSpec, payload: unknown, options: EnqueueOptions = {}): Promise<string | null> {
    const definition = definitionFor(this.#definitions, job);
    const name = definition.name;
    const json = serializePayload(definition, payload);
    const maxAttempts = options.maxAttempts ?? definition.maxAttempts;
    assertMaxAttempts(maxAttempts);
    const now = this.#now();
    const id = randomUUID();
    const executor = options.transaction ?? this.#db;
    // ON CONFLICT on the partial unique index: a twin of a queued/running singleton is a no-op,
    // without an error that would abort the caller's PostgreSQL transaction.
    const inserted = await executor
      .insertInto('jobs')
      .values({
        id,
        name,
        payload: json,
        state: 'queued',
        singleton_key: options.singletonKey ?? null,
        attempts: 0,
        max_attempts: maxAttempts,
        run_after: new Date(now.getTime() + Math.max(0, options.delayMs ?? 0)).toISOString(),
        locked_by: null,
        locked_until: null,
        last_error: null,
        created_at: now.toISOString(),
        updated_at: now.toISOString(),
      })
      .onConflict((oc) => oc.column('singleton_key').where(ACTIVE_SINGLETON).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) return null;
    if (this.#started) {
      if (!options.transaction || this.#db.getExecutor().adapter instanceof SqliteAdapter) {
        // SQLite has one connection: the claim queues behind the caller's transaction and runs after its commit.
        this.#wake();
      } else {
        // PostgreSQL shows the row only after the caller commits, which Kysely gives no hook for;
        // callers commit right after enqueueing, so look again shortly instead of at the next poll.
        this.#scheduleWakeIn(AFTER_COMMIT_WAKE_MS);
      }
    }
    return id;
  }

  async runNow(job: string | JobSpec, singletonKey: string): Promise<boolean> {
    const name = definitionFor(this.#definitions, job).name;
    const now = this.#now().toISOString();
    const moved = await this.#db
      .updateTable('jobs')
      .set({ run_after: now, updated_at: now })
      .where('name', '=', name)
      .where('singleton_key', '=', singletonKey)
      .where('state', '=', 'queued')
      .where('run_after', '>', now)
      .executeTakeFirst();
    if (moved.numUpdatedRows === 0n) return false;
    if (this.#started) this.#wake();
    return true;
  }

  async verifyHandlers(required: Iterable<string | JobSpec> = []): Promise<void> {
    const registered = new Set(this.#definitions.keys());
    const requiredNames = jobNames(required);
    const stored = await this.#db.selectFrom('jobs').select('name').distinct().where('state', 'in', ['queued', 'running']).execute();
    assertHandled([...requiredNames, ...stored.map((r) => r.name)], registered);
  }

  async start(options: StartOptions = {}): Promise<void> {
    if (this.#started) return;
    await this.verifyHandlers();
    this.#concurrency = Math.max(1, options.concurrency ?? 1);
    this.#started = true;
    this.#stopping = false;
    await this.#recoverExpiredLeases(this.#soleWorker);
    this.#schedulePoll();
    this.#wake();
  }

  async stop(options: StopOptions = {}): Promise<void> {
    if (!this.#started) return;
    this.#stopping = true;
    this.#started = false;
    clearTimeout(this.#pollTimer);
    await this.#pumper.idle();
    for (const r of this.#running.values()) r.controller.abort(new Error('The job queue is stopping.'));
    await settledWithin([...this.#running.values()].map((r) => r.done), options.timeoutMs ?? 10_000);
    // Handlers that ignored the abort: give their jobs back so the next start runs them again.
    for (const r of this.#running.values()) await this.#release(r);
  }

  async getJob(id: string): Promise<JobInfo | null> {
    const row = await this.#db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toJobInfo(row) : null;
  }

  async listJobs(options: ListJobsOptions = {}): Promise<JobInfo[]> {
    const names = [...this.#definitions.keys()];
    if (names.length === 0) return [];
    const rows = await this.#db
      .selectFrom('jobs')
      .selectAll()
      .where('name', 'in', names)
      .$if(options.state !== undefined, (q) => q.where('state', '=', options.state!))
      .$if(options.name !== undefined, (q) => q.where('name', '=', options.name!))
      .orderBy('updated_at', 'desc')
      .orderBy('id', 'desc')
      .limit(listLimit(options.limit))
      .execute();
    return rows.map(toJobInfo);
  }

  async countJobs(): Promise<JobCount[]> {
    const names = [...this.#definitions.keys()];
    if (names.length === 0) return [];
    const rows = await this.#db
      .selectFrom('jobs')
      .select((eb) => ['name', 'state', eb.fn.countAll<string | number>().as('n')])
      .where('name', 'in', names)
      .groupBy(['name', 'state'])
      .orderBy('name')
      .orderBy('state')
      .execute();
    return rows.map((r) => ({ name: r.name, state: r.state, count: Number(r.n) }));
  }

  async retry(id: string): Promise<RetryOutcome> {
    const names = [...this.#definitions.keys()];
    if (names.length === 0) return 'not_found';
    const now = this.#now().toISOString();
    try {
      const r = await this.#db
        .updateTable('jobs')
        .set({ state: 'queued', attempts: 0, locked_by: null, locked_until: null, run_after: now, updated_at: now })
        .where('id', '=', id)
        .where('name', 'in', names)
        .where('state', '=', 'failed')
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) {
        if (this.#started) this.#wake();
        return 'retried';
      }
    } catch (error) {
      // The partial unique index: a twin with the same singleton key is queued or running.
      if (isUniqueViolation(error)) return 'superseded';
      throw error;
    }
    const row = await this.#db.selectFrom('jobs').select('state').where('id', '=', id).where('name', 'in', names).executeTakeFirst();
    return row ? 'not_failed' : 'not_found';
  }

  // ─── internals ────────────────────────────────────────────────────────────────────────────

  #schedulePoll(): void {
    clearTimeout(this.#pollTimer);
    if (!this.#started) return;
    this.#pollTimer = setTimeout(() => {
      void this.#recoverExpiredLeases()
        .then(() => this.#cleanUpFinished())
        .catch((error: unknown) => this.#logger?.error({ err: describeJobError(error) }, 'job lease recovery failed'))
        .finally(() => {
          this.#wake();
          this.#schedulePoll();
        });
    }, this.#pollIntervalMs);
    // Not unref'd: a started queue is what keeps a worker-only process alive; stop() clears it.
  }

  /** Claims and starts due jobs up to the concurrency limit; re-entrant calls coalesce. */
  #wake(): void {
    this.#pumper.wake();
  }

  async #pump(): Promise<void> {
    while (this.#started && this.#running.size < this.#concurrency) {
      const claimed = await this.#claimOne();
      if (!claimed) return;
      this.#run(claimed);
    }
  }

  async #claimOne(): Promise<Claimed | null> {
    const names = [...this.#definitions.keys()];
    if (names.length === 0) return null;
    for (let tries = 0; tries < 5; tries++) {
      const now = this.#now();
      const candidate = await this.#db
        .selectFrom('jobs')
        .select(['id', 'name', 'payload', 'attempts', 'max_attempts'])
        .where('state', '=', 'queued')
        .where('run_after', '<=', now.toISOString())
        .where('name', 'in', names)
        .orderBy('run_after')
        .orderBy('created_at')
        .limit(1)
        .executeTakeFirst();
      if (!candidate) return null;
      const token = `${this.#workerId}:${++this.#claims}`;
      const result = await this.#db
        .updateTable('jobs')
        .set({
          state: 'running',
          locked_by: token,
          locked_until: new Date(now.getTime() + this.#leaseMs).toISOString(),
          attempts: Number(candidate.attempts) + 1,
          updated_at: now.toISOString(),
        })
        .where('id', '=', candidate.id)
        .where('state', '=', 'queued')
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 1) {
        return { id: candidate.id, name: candidate.name, payload: candidate.payload, attempts: Number(candidate.attempts) + 1, maxAttempts: Number(candidate.max_attempts), token };
      }
      // Another worker took it first: look again.
    }
    return null;
  }

  #run(job: Claimed): void {
    const definition = this.#definitions.get(job.name)!;
    const controller = new AbortController();
    const heartbeat = setInterval(() => {
      void this.#extendLease(job).then((held) => {
        if (!held) controller.abort(new Error('This worker lost the job lease.'));
      }, () => undefined);
    }, Math.max(50, Math.floor(this.#leaseMs / 3)));
    heartbeat.unref();
    const done = (async () => {
      let outcome: { result: JobResult } | { error: unknown };
      try {
        const parsed = definition.payload.parse(JSON.parse(job.payload));
        outcome = { result: await definition.handler(parsed, { jobId: job.id, name: job.name, attempt: job.attempts, maxAttempts: job.maxAttempts, signal: controller.signal }) };
      } catch (error) {
        outcome = { error };
      } finally {
        clearInterval(heartbeat);
      }
      try {
        if (controller.signal.aborted) await this.#release(job);
        else if ('error' in outcome) await this.#recordFailure(job, definition, outcome.error);
        else if (outcome.result && typeof outcome.result === 'object' && 'rerunInMs' in outcome.result) await this.#requeue(job, outcome.result.rerunInMs);
        else await this.#finish(job);
      } catch (error) {
        // The lease expires and another run picks the job up: at-least-once, never lost.
        this.#logger?.error({ err: describeJobError(error), job: job.name }, 'recording a job outcome failed');
      }
    })().finally(() => {
      this.#running.delete(job.id);
      if (this.#started) this.#wake();
    });
    this.#running.set(job.id, { id: job.id, token: job.token, controller, done });
  }

  /** The job, only while this very claim still holds it. */
  #mine(claim: { id: string; token: string }) {
    return this.#db.updateTable('jobs').where('id', '=', claim.id).where('locked_by', '=', claim.token).where('state', '=', 'running');
  }

  /** An outcome recorded under a claim that is gone changes nothing; say so. */
  #settled(claim: Claimed, result: { numUpdatedRows: bigint }): boolean {
    if (Number(result.numUpdatedRows) === 1) return true;
    this.#logger?.warn({ job: claim.name, jobId: claim.id }, 'job outcome dropped: this run no longer holds the job');
    return false;
  }

  async #extendLease(claim: Claimed): Promise<boolean> {
    const now = this.#now();
    const r = await this.#mine(claim).set({ locked_until: new Date(now.getTime() + this.#leaseMs).toISOString() }).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async #finish(claim: Claimed): Promise<void> {
    this.#settled(claim, await this.#mine(claim).set({ state: 'succeeded', locked_by: null, locked_until: null, updated_at: this.#now().toISOString() }).executeTakeFirst());
  }

  /** A polling job asks to run again later: not a failure, and its attempts start over. */
  async #requeue(claim: Claimed, delayMs: number): Promise<void> {
    const now = this.#now();
    const r = await this.#mine(claim)
      .set({ state: 'queued', attempts: 0, locked_by: null, locked_until: null, run_after: new Date(now.getTime() + Math.max(0, delayMs)).toISOString(), updated_at: now.toISOString() })
      .executeTakeFirst();
    if (this.#settled(claim, r)) this.#scheduleWakeIn(delayMs);
  }

  /** Stopped or lease lost: give the job back without counting the attempt. */
  async #release(claim: { id: string; token: string }): Promise<void> {
    const now = this.#now();
    await this.#db
      .updateTable('jobs')
      .set((eb) => ({ state: 'queued', attempts: eb('attempts', '-', 1), locked_by: null, locked_until: null, run_after: now.toISOString(), updated_at: now.toISOString() }))
      .where('id', '=', claim.id)
      .where('locked_by', '=', claim.token)
      .where('state', '=', 'running')
      .execute();
  }

  async #recordFailure(job: Claimed, definition: AnyJobDefinition, error: unknown): Promise<void> {
    const now = this.#now();
    const message = describeJobError(error);
    if (job.attempts >= job.maxAttempts) {
      if (!this.#settled(job, await this.#mine(job).set({ state: 'failed', last_error: message, locked_by: null, locked_until: null, updated_at: now.toISOString() }).executeTakeFirst())) return;
      this.#logger?.error({ job: job.name, jobId: job.id, attempts: job.attempts, err: message }, 'job failed for good');
      return;
    }
    const delay = retryDelayMs(definition.backoff, job.attempts, this.#random);
    const r = await this.#mine(job)
      .set({ state: 'queued', last_error: message, locked_by: null, locked_until: null, run_after: new Date(now.getTime() + delay).toISOString(), updated_at: now.toISOString() })
      .executeTakeFirst();
    if (!this.#settled(job, r)) return;
    this.#logger?.warn({ job: job.name, jobId: job.id, attempt: job.attempts, retryInMs: delay, err: message }, 'job failed; will retry');
    this.#scheduleWakeIn(delay);
  }

  /** Delayed work shorter than the poll interval should not wait for the next poll. */
  #scheduleWakeIn(ms: number): void {
    // The next poll comes first anyway.
    if (ms < this.#pollIntervalMs) this.#pumper.wakeIn(ms);
  }

  /**
   * Jobs whose worker stopped renewing the lease (it crashed) go back to the queue — all running
   * jobs when `evenUnexpired` (this process is the only worker, so their worker is dead). The lost run
   * was counted when it was claimed, so a job that takes its process down every time fails after
   * maxAttempts instead of coming back forever.
   */
  async #recoverExpiredLeases(evenUnexpired = false): Promise<void> {
    const now = this.#now().toISOString();
    const expired = this.#db.updateTable('jobs').where('state', '=', 'running').$if(!evenUnexpired, (q) => q.where('locked_until', '<', now));
    const failed = await expired
      .where((eb) => eb('attempts', '>=', eb.ref('max_attempts')))
      .set({ state: 'failed', last_error: LOST_RUN_ERROR, locked_by: null, locked_until: null, updated_at: now })
      .returning(['id', 'name', 'attempts'])
      .execute();
    for (const job of failed) this.#logger?.error({ job: job.name, jobId: job.id, attempts: Number(job.attempts), err: LOST_RUN_ERROR }, 'job failed for good');
    await expired
      .where((eb) => eb('attempts', '<', eb.ref('max_attempts')))
      .set({ state: 'queued', last_error: LOST_RUN_ERROR, locked_by: null, locked_until: null, run_after: now, updated_at: now })
      .execute();
  }

  /** Deletes finished jobs past the retention, a bounded batch per poll and at most every cleanupIntervalMs. */
  async #cleanUpFinished(): Promise<void> {
    const now = this.#now().getTime();
    if (now - this.#lastCleanup < this.#cleanupIntervalMs) return;
    this.#lastCleanup = now;
    const cutoff = new Date(now - this.#retentionMs).toISOString();
    await this.#db
      .deleteFrom('jobs')
      .where('id', 'in', (eb) =>
        eb.selectFrom('jobs').select('id').where('state', 'in', ['succeeded', 'failed']).where('updated_at', '<', cutoff).limit(CLEANUP_BATCH))
      .execute();
  }
}

function toJobInfo(row: Selectable<JobsTable>): JobInfo {
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    payload: JSON.parse(row.payload),
    singletonKey: row.singleton_key,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    lastError: row.last_error,
    runAfter: row.run_after,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_UNIQUE. */
function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || (error instanceof Error && /UNIQUE constraint failed/i.test(error.message));
}
