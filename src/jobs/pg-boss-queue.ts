import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { PgBoss, fromKysely, type Db as PgBossDb, type JobWithMetadata } from 'pg-boss';
import type { z } from 'zod';
import {
  addDefinitions,
  assertHandled,
  definitionFor,
  jobNames,
  settledWithin,
  assertMaxAttempts,
  describeJobError,
  InvalidJobPayloadError,
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
import type { JobState } from '../db/schema.ts';
import { CoalescingPump } from './coalescing-pump.ts';

export interface PgBossQueueOptions {
  /** The application's PostgreSQL database: pg-boss keeps its tables there, in `schema`. */
  connectionString: string;
  /** Default 'pgboss'. Lower-case letters, digits and underscores. */
  schema?: string;
  /**
   * How long a worker that stopped heart-beating keeps its jobs before another takes them over.
   * pg-boss heartbeats are whole seconds, at least 10; default 30 s.
   */
  leaseMs?: number;
  /** How often this process looks for due jobs when nothing woke it. Default 1 s. */
  pollIntervalMs?: number;
  /**
   * How often pg-boss's supervisor looks for jobs whose heartbeat stopped (one instance per
   * interval does it). Default a third of the lease, 1 to 60 s.
   */
  superviseIntervalMs?: number;
  /** Completed and failed jobs are deleted after this long. Default 7 days. */
  retentionMs?: number;
  /** Connections this process opens to PostgreSQL for jobs. Default 5. */
  poolSize?: number;
  random?: () => number;
  logger?: { error(details: object, message: string): void; warn(details: object, message: string): void; debug?(details: object, message: string): void };
}

/** The attempt a worker holds: a claim is known by all three, so a stale run can never settle a newer claim. */
interface Claim {
  name: string;
  id: string;
  retryCount: number;
  /** started_on of this claim, epoch ms (pg-boss sets it on every claim). */
  startedOnMs: number;
}

interface Running {
  claim: Claim;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Every queue is 'exclusive' (one job per singleton key while created, retry or active). A job
 * without a key gets one of its own, so unkeyed jobs never exclude each other; caller keys and
 * own keys live in separate prefixes so getJob() can tell them apart.
 */
const CALLER_KEY = 'k:';
const OWN_KEY = 'id:';
/** pg-boss fails an active job after this long whatever its heartbeat says: the longest it allows (24 h). */
const MAX_RUN_SECONDS = 24 * 60 * 60;
/** Queued jobs are never dropped for waiting too long (pg-boss's default would be 14 days). */
const QUEUED_RETENTION_SECONDS = 10 * 365 * 24 * 60 * 60;
const AFTER_COMMIT_WAKE_MS = 50;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,40}$/;

/**
 * The jobs port on pg-boss, for several worker processes on one PostgreSQL database.
 *
 * pg-boss carries storage, claiming (SKIP LOCKED), singleton keys (the 'exclusive' policy), the
 * per-job heartbeat and the supervisor that retries a job whose worker went silent, completion,
 * failure and retention. This adapter adds what the port promises beyond that, each with a small
 * fenced statement on pg-boss's job table (pg-boss is pinned; the tests cover these statements):
 * the handler's `rerunInMs` (same job back to created, singleton key never released), releasing a
 * job on stop without counting the attempt, and exact equal-jitter backoff (applied in the same
 * transaction as pg-boss's fail, so no worker sees pg-boss's own delay).
 * One loop claims across all job names up to the process-wide concurrency.
 */
export class PgBossJobQueue implements JobQueue {
  readonly #options: PgBossQueueOptions;
  readonly #schema: string;
  readonly #pool: pg.Pool;
  readonly #db: PgBossDb;
  readonly #definitions = new Map<string, AnyJobDefinition>();
  readonly #queuesReady = new Map<string, Promise<void>>();
  readonly #running = new Map<string, Running>();
  readonly #heartbeatSeconds: number;
  readonly #pollIntervalMs: number;
  readonly #random: () => number;
  readonly #logger: PgBossQueueOptions['logger'];
  #boss: Promise<PgBoss> | undefined;
  #concurrency = 1;
  #started = false;
  #pollTimer: NodeJS.Timeout | undefined;
  readonly #pumper = new CoalescingPump(() => this.#pump(), {
    active: () => this.#started,
    onError: (error) => this.#logger?.error({ err: describeJobError(error) }, 'claiming jobs failed'),
  });
  #rotation = 0;
  #closed = false;
  readonly #channel: string;
  #listener: pg.Client | undefined;
  #connectingListener = false;

  constructor(options: PgBossQueueOptions) {
    this.#options = options;
    this.#schema = options.schema ?? 'pgboss';
    if (!SCHEMA_NAME.test(this.#schema)) throw new Error(`Invalid pg-boss schema name ${JSON.stringify(this.#schema)}.`);
    this.#channel = `theway_jobs_${this.#schema}`;
    this.#heartbeatSeconds = Math.max(10, Math.ceil((options.leaseMs ?? 30_000) / 1000));
    this.#pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger;
    // Our own pool, handed to pg-boss as its executor: getJob() keeps working after stop(), and idle
    // connections do not keep a finished process alive.
    this.#pool = new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 5, allowExitOnIdle: true, application_name: 'theway-jobs' });
    this.#pool.on('error', (error) => this.#logger?.error({ err: describeJobError(error) }, 'idle job database connection failed'));
    this.#db = { executeSql: (text, values) => sqlResult(this.#pool.query(text, values as unknown[])) };
  }

  register(...definitions: AnyJobDefinition[]): void {
    addDefinitions(this.#definitions, definitions, this.#started);
  }

  enqueue<S extends z.ZodType>(job: JobSpec<S>, payload: z.input<S>, options?: EnqueueOptions): Promise<string | null>;
  enqueue(name: string, payload: unknown, options?: EnqueueOptions): Promise<string | null>;
  async enqueue(job: string | JobSpec, payload: unknown, options: EnqueueOptions = {}): Promise<string | null> {
    const definition = definitionFor(this.#definitions, job);
    const name = definition.name;
    const data: unknown = JSON.parse(serializePayload(definition, payload));
    if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new InvalidJobPayloadError(name, 'pg-boss stores payloads as JSON objects');
    const maxAttempts = options.maxAttempts ?? definition.maxAttempts;
    assertMaxAttempts(maxAttempts);
    const boss = await this.#ready(name);
    const id = randomUUID();
    const delaySeconds = Math.max(0, options.delayMs ?? 0) / 1000;
    const inserted = await boss.send(name, data, {
      id,
      singletonKey: options.singletonKey === undefined ? `${OWN_KEY}${id}` : `${CALLER_KEY}${options.singletonKey}`,
      ...(delaySeconds > 0 ? { startAfter: delaySeconds } : {}),
      retryLimit: maxAttempts - 1,
      // Handler failures get our own delay (#fail); these columns only pace pg-boss's own retries of
      // a job whose worker went silent, which run again at once, as the in-process queue does.
      retryDelay: 0,
      retryBackoff: false,
      heartbeatSeconds: this.#heartbeatSeconds,
      expireInSeconds: MAX_RUN_SECONDS,
      retentionSeconds: QUEUED_RETENTION_SECONDS,
      deleteAfterSeconds: Math.max(1, Math.round((this.#options.retentionMs ?? 7 * 24 * 60 * 60_000) / 1000)),
      ...(options.transaction ? { db: fromKysely(options.transaction) } : {}),
    });
    if (inserted === null) return null;
    if (delaySeconds === 0) await this.#notify(name, options);
    if (this.#started && !this.#listener) {
      // Without the listener: inside a transaction the job is invisible until the caller commits,
      // which Kysely gives no hook for; callers commit right after enqueueing, so look again shortly.
      if (options.transaction) this.#scheduleWakeIn(AFTER_COMMIT_WAKE_MS);
      else this.#wake();
    }
    return inserted;
  }

  async runNow(job: string | JobSpec, singletonKey: string): Promise<boolean> {
    const name = definitionFor(this.#definitions, job).name;
    await this.#ready(name);
    const moved = await this.#pool.query(
      `update ${this.#schema}.job set start_after = now()
        where name = $1 and singleton_key = $2 and state < 'active' and start_after > now()`,
      [name, `${CALLER_KEY}${singletonKey}`],
    );
    if (moved.rowCount === 0) return false;
    await this.#notify(name, {});
    if (this.#started && !this.#listener) this.#wake();
    return true;
  }

  async verifyHandlers(required: Iterable<string | JobSpec> = []): Promise<void> {
    const registered = new Set(this.#definitions.keys());
    const requiredNames = jobNames(required);
    await this.#ready();
    const { rows } = await this.#pool.query<{ name: string }>(
      `select q.name from ${this.#schema}.queue q
        where exists (select 1 from ${this.#schema}.job j where j.name = q.name and j.state < 'completed')`,
    );
    assertHandled([...requiredNames, ...rows.map((r) => r.name)], registered);
  }

  async start(options: StartOptions = {}): Promise<void> {
    if (this.#started) return;
    await this.verifyHandlers();
    for (const name of this.#definitions.keys()) await this.#ready(name);
    this.#concurrency = Math.max(1, options.concurrency ?? 1);
    this.#started = true;
    await this.#listen();
    this.#schedulePoll();
    this.#wake();
  }

  async stop(options: StopOptions = {}): Promise<void> {
    const wasStarted = this.#started;
    this.#started = false;
    clearTimeout(this.#pollTimer);
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => undefined);
    if (wasStarted) {
      await this.#pumper.idle();
      for (const r of this.#running.values()) r.controller.abort(new Error('The job queue is stopping.'));
      await settledWithin([...this.#running.values()].map((r) => r.done), options.timeoutMs ?? 10_000);
      // Handlers that ignored the abort: give their jobs back so another worker runs them again.
      for (const r of this.#running.values()) await this.#release(r.claim).catch(() => undefined);
    }
    // pg-boss's supervisor and registry timers stop with it; a later enqueue or start starts it again.
    const boss = this.#boss;
    this.#boss = undefined;
    this.#queuesReady.clear();
    if (boss) await (await boss.catch(() => null))?.stop({ graceful: false, close: false });
  }

  /** stop(), then closes the connections. The queue is unusable afterwards. */
  async close(options: StopOptions = {}): Promise<void> {
    await this.stop(options);
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  async getJob(id: string): Promise<JobInfo | null> {
    if (!UUID.test(id) || this.#definitions.size === 0) return null;
    const rows = await this.#jobRows(`where name = any($1::text[]) and id = $2`, [[...this.#definitions.keys()], id]);
    const row = rows[0];
    return row ? toJobInfo(row) : null;
  }

  async listJobs(options: ListJobsOptions = {}): Promise<JobInfo[]> {
    if (this.#definitions.size === 0) return [];
    const names = options.name === undefined ? [...this.#definitions.keys()] : [options.name].filter((n) => this.#definitions.has(n));
    const states = options.state === undefined ? Object.keys(STATES) : Object.entries(STATES).filter(([, s]) => s === options.state).map(([raw]) => raw);
    const rows = await this.#jobRows(
      `where name = any($1::text[]) and state::text = any($2::text[]) order by updated_on desc, id desc limit $3`,
      [names, states, listLimit(options.limit)],
    );
    return rows.map(toJobInfo);
  }

  async countJobs(): Promise<JobCount[]> {
    if (this.#definitions.size === 0) return [];
    const { rows } = await this.#pool.query<{ name: string; state: string; n: string }>(
      `select name, state::text as state, count(*) as n from ${this.#schema}.job where name = any($1::text[]) group by name, state`,
      [[...this.#definitions.keys()]],
    ).catch(orNoRows<{ name: string; state: string; n: string }>);
    // Several pg-boss states map to one of ours (created and retry are both queued).
    const counts = new Map<string, JobCount>();
    for (const r of rows) {
      const state = STATES[r.state] ?? 'failed';
      const key = `${r.name}\u0000${state}`;
      const c = counts.get(key) ?? { name: r.name, state, count: 0 };
      c.count += Number(r.n);
      counts.set(key, c);
    }
    return [...counts.values()].sort((a, b) => a.name.localeCompare(b.name) || a.state.localeCompare(b.state));
  }

  /**
   * Back to `created` with retry_count 0, as #rerun does: pg-boss's own retry() keeps the count and
   * raises the limit instead, which the port's "attempts start over" would not match. keep_until is
   * renewed so a retried job is never dropped for having waited.
   */
  async retry(id: string): Promise<RetryOutcome> {
    if (!UUID.test(id) || this.#definitions.size === 0) return 'not_found';
    const names = [...this.#definitions.keys()];
    await this.#ready();
    let moved: { rowCount: number | null; rows: Array<{ name: string }> };
    try {
      moved = await this.#pool.query<{ name: string }>(
        `update ${this.#schema}.job
            set state = 'created', retry_count = 0, started_on = null, heartbeat_on = null, completed_on = null,
                start_after = now(), keep_until = now() + $3 * interval '1 second'
          where name = any($1::text[]) and id = $2 and state in ('failed', 'cancelled')
          returning name`,
        [names, id, QUEUED_RETENTION_SECONDS],
      );
    } catch (error) {
      // The 'exclusive' policy's unique index: a twin with the same singleton key is waiting or running.
      if ((error as { code?: string } | null)?.code === '23505') return 'superseded';
      throw error;
    }
    const retried = moved.rows[0];
    if (retried) {
      await this.#notify(retried.name, {});
      if (this.#started && !this.#listener) this.#wake();
      return 'retried';
    }
    const exists = await this.#jobRows(`where name = any($1::text[]) and id = $2`, [names, id]);
    return exists.length > 0 ? 'not_failed' : 'not_found';
  }

  /** Rows of pg-boss's job table in the shape toJobInfo reads; `clause` filters and orders (updated_on is available). */
  async #jobRows(clause: string, params: unknown[]): Promise<JobRow[]> {
    const { rows } = await this.#pool.query<JobRow>(
      `select * from (
         select id, name, data, state, singleton_key, retry_count, retry_limit, started_on is not null as started, output,
                start_after, created_on, coalesce(completed_on, heartbeat_on, started_on, created_on) as updated_on
           from ${this.#schema}.job) j
        ${clause}`,
      params,
    ).catch(orNoRows<JobRow>);
    return rows;
  }

  // ─── internals ────────────────────────────────────────────────────────────────────────────


  /** Starts pg-boss once (it creates or migrates its schema under an advisory lock) and the queue for `name`. */
  #ready(name?: string): Promise<PgBoss> {
    if (this.#closed) throw new Error('This job queue was closed.');
    this.#boss ??= this.#startBoss();
    const boss = this.#boss;
    if (!name) return boss;
    let queue = this.#queuesReady.get(name);
    if (!queue) {
      queue = boss.then((b) => this.#createQueue(b, name));
      queue.catch(() => this.#queuesReady.delete(name));
      this.#queuesReady.set(name, queue);
    }
    return queue.then(() => boss);
  }

  async #startBoss(): Promise<PgBoss> {
    const superviseSeconds = Math.min(60, Math.max(1, Math.round((this.#options.superviseIntervalMs ?? (this.#heartbeatSeconds * 1000) / 3) / 1000)));
    const boss = new PgBoss({
      db: this.#db,
      schema: this.#schema,
      schedule: false,
      supervise: true,
      migrate: true,
      superviseIntervalSeconds: superviseSeconds,
      monitorIntervalSeconds: superviseSeconds,
      instanceName: 'theway-jobs',
    });
    boss.on('error', (error) => this.#logger?.error({ err: describeJobError(error) }, 'pg-boss reported an error'));
    try {
      await boss.start({ attempts: 3 });
    } catch (error) {
      this.#boss = undefined;
      throw error;
    }
    return boss;
  }

  async #createQueue(boss: PgBoss, name: string): Promise<void> {
    await boss.createQueue(name, { policy: 'exclusive' });
    const queue = await boss.getQueue(name);
    if (queue?.policy !== 'exclusive') {
      throw new Error(`pg-boss queue ${name} has policy ${queue?.policy ?? 'none'}; this application needs 'exclusive' (one job per singleton key). Delete or recreate that queue.`);
    }
  }

  /**
   * NOTIFY is transactional: sent in the caller's transaction it arrives when that commits, so
   * every worker (in any process) claims the job at once instead of at its next poll.
   */
  async #notify(name: string, options: EnqueueOptions): Promise<void> {
    const sqlText = 'select pg_notify($1, $2)';
    if (options.transaction) {
      await fromKysely(options.transaction).executeSql(sqlText, [this.#channel, name]);
      return;
    }
    // Outside a transaction the job is stored already; a lost wake-up only costs one poll.
    await this.#pool.query(sqlText, [this.#channel, name]).catch((error: unknown) => this.#logger?.warn({ err: describeJobError(error) }, 'job wake-up notification failed'));
  }

  /** A dedicated LISTEN connection; while it is down the poll is the floor and retries it every tick. */
  async #listen(): Promise<void> {
    if (this.#listener || this.#connectingListener || !this.#started) return;
    this.#connectingListener = true;
    const client = new pg.Client({ connectionString: this.#options.connectionString, application_name: 'theway-jobs-listen' });
    const lost = (error?: Error) => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      if (error) this.#logger?.warn({ err: describeJobError(error) }, 'job wake-up listener lost; polling until it is back');
      void client.end().catch(() => undefined);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', () => this.#wake());
    try {
      await client.connect();
      await client.query(`listen "${this.#channel}"`);
      if (!this.#started) {
        await client.end();
        return;
      }
      this.#listener = client;
      // Anything enqueued while it was down.
      this.#wake();
    } catch (error) {
      this.#logger?.warn({ err: describeJobError(error) }, 'job wake-up listener could not start; polling');
      await client.end().catch(() => undefined);
    } finally {
      this.#connectingListener = false;
    }
  }

  #schedulePoll(): void {
    clearTimeout(this.#pollTimer);
    if (!this.#started) return;
    this.#pollTimer = setTimeout(() => {
      if (!this.#listener) void this.#listen();
      this.#wake();
      this.#schedulePoll();
    }, this.#pollIntervalMs);
  }

  /** Claims and starts due jobs up to the concurrency limit; re-entrant calls coalesce. */
  #wake(): void {
    this.#pumper.wake();
  }

  async #pump(): Promise<void> {
    if (!this.#started) return;
    const boss = await this.#ready();
    while (this.#started && this.#running.size < this.#concurrency) {
      const due = await this.#dueNames();
      if (due.length === 0) return;
      // Rotate the starting queue so one busy job name cannot starve the others.
      const start = this.#rotation++ % due.length;
      let claimed = 0;
      for (const name of [...due.slice(start), ...due.slice(0, start)]) {
        const free = this.#concurrency - this.#running.size;
        if (!this.#started || free <= 0) break;
        const jobs = await boss.fetch<object>(name, { batchSize: free, includeMetadata: true });
        for (const job of jobs) this.#run(job);
        claimed += jobs.length;
      }
      if (claimed === 0) return;
    }
  }

  /** Which registered job names have a job due now: one indexed probe per name, in one statement. */
  async #dueNames(): Promise<string[]> {
    const { rows } = await this.#pool.query<{ name: string }>(
      `select n as name from unnest($1::text[]) as n
        where exists (select 1 from ${this.#schema}.job j
                       where j.name = n and j.state < 'active' and not j.blocked and j.start_after <= now())`,
      [[...this.#definitions.keys()]],
    );
    return rows.map((r) => r.name);
  }

  #run(job: JobWithMetadata<object>): void {
    const definition = this.#definitions.get(job.name)!;
    const claim: Claim = { name: job.name, id: job.id, retryCount: job.retryCount, startedOnMs: new Date(job.startedOn).getTime() };
    const previousError = errorMessage(job.output);
    // At debug level every claim is told apart (a rerun keeps the id; started_on is new), so an
    // operator or a test can see which process ran which attempt and why the previous one ended.
    this.#logger?.debug?.({ job: job.name, jobId: job.id, attempt: job.retryCount + 1, startedOn: new Date(claim.startedOnMs).toISOString(), previousError }, 'job claimed');
    const controller = new AbortController();
    // Beats by the job's own heartbeat time, written by whoever enqueued it: another process may run with another JOB_LEASE_SECONDS.
    const heartbeat = setInterval(() => {
      void this.#touch(claim).then((held) => {
        if (!held) controller.abort(new Error('This worker lost the job lease.'));
      }, (error: unknown) => this.#logger?.warn({ err: describeJobError(error), job: job.name }, 'job heartbeat failed'));
    }, Math.max(250, Math.floor(((job.heartbeatSeconds ?? this.#heartbeatSeconds) * 1000) / 3)));
    heartbeat.unref();
    const done = (async () => {
      let outcome: { result: JobResult } | { error: unknown };
      try {
        const parsed = definition.payload.parse(job.data);
        const ctx = { jobId: job.id, name: job.name, attempt: job.retryCount + 1, maxAttempts: job.retryLimit + 1, signal: controller.signal };
        outcome = { result: await definition.handler(parsed, ctx) };
      } catch (error) {
        outcome = { error };
      } finally {
        clearInterval(heartbeat);
      }
      try {
        if (controller.signal.aborted) await this.#release(claim);
        else if ('error' in outcome) await this.#fail(claim, definition, outcome.error);
        else if (outcome.result && typeof outcome.result === 'object' && 'rerunInMs' in outcome.result) await this.#rerun(claim, outcome.result.rerunInMs);
        else await this.#complete(claim, previousError);
      } catch (error) {
        // The heartbeat stops, pg-boss's supervisor retries the job: at-least-once, never lost.
        this.#logger?.error({ err: describeJobError(error), job: job.name }, 'recording a job outcome failed');
      }
    })().finally(() => {
      this.#running.delete(job.id);
      if (this.#started) this.#wake();
    });
    this.#running.set(job.id, { claim, controller, done });
  }

  /** SQL matching exactly this claim of the job (parameters $1–$4). */
  #held(): string {
    return `name = $1 and id = $2 and state = 'active' and retry_count = $3
            and abs(extract(epoch from started_on) * 1000 - $4) < 1`;
  }

  #claimParams(claim: Claim): unknown[] {
    return [claim.name, claim.id, claim.retryCount, claim.startedOnMs];
  }

  async #touch(claim: Claim): Promise<boolean> {
    const r = await this.#pool.query(`update ${this.#schema}.job set heartbeat_on = now() where ${this.#held()}`, this.#claimParams(claim));
    return r.rowCount === 1;
  }

  /** Runs `settle` in a transaction that first locks this exact claim; does nothing if the claim is gone. */
  async #settle(claim: Claim, settle: (db: PgBossDb, boss: PgBoss) => Promise<void>): Promise<boolean> {
    // After stop() every claim still running was released, so there is nothing left to settle (and
    // pg-boss must not be started again by a handler that outlived the stop).
    const boss = await this.#boss;
    if (!boss) {
      this.#dropped(claim);
      return false;
    }
    const client = await this.#pool.connect();
    try {
      await client.query('begin');
      const locked = await client.query(`select 1 from ${this.#schema}.job where ${this.#held()} for update`, this.#claimParams(claim));
      if (locked.rowCount === 1) await settle({ executeSql: (text, values) => sqlResult(client.query(text, values as unknown[])) }, boss);
      await client.query('commit');
      if (locked.rowCount !== 1) this.#dropped(claim);
      return locked.rowCount === 1;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Success keeps the last failure's message, as the port reports it. */
  async #complete(claim: Claim, previousError: string | null): Promise<void> {
    await this.#settle(claim, async (db, boss) => {
      await boss.complete(claim.name, { id: claim.id, retryCount: claim.retryCount }, previousError ? { message: previousError } : null, { db });
    });
  }

  /** pg-boss decides retry or failed for good; the retry's start is ours (equal jitter), in the same transaction. */
  async #fail(claim: Claim, definition: AnyJobDefinition, error: unknown): Promise<void> {
    const message = describeJobError(error);
    const attempt = claim.retryCount + 1;
    const delay = retryDelayMs(definition.backoff, attempt, this.#random);
    let state: string | undefined;
    await this.#settle(claim, async (db, boss) => {
      await boss.fail(claim.name, { id: claim.id, retryCount: claim.retryCount }, { message }, { db });
      const { rows } = await db.executeSql(
        `update ${this.#schema}.job set start_after = now() + $3 * interval '1 millisecond'
          where name = $1 and id = $2 and state = 'retry' returning state`,
        [claim.name, claim.id, delay],
      );
      state = rows.length > 0 ? 'retry' : 'failed';
    });
    if (state === 'failed') this.#logger?.error({ job: claim.name, jobId: claim.id, attempts: attempt, err: message }, 'job failed for good');
    else if (state === 'retry') {
      this.#logger?.warn({ job: claim.name, jobId: claim.id, attempt, retryInMs: delay, err: message }, 'job failed; will retry');
      this.#scheduleWakeIn(delay);
    }
  }

  /**
   * The same job back to created (its singleton key stays held throughout), attempts starting
   * over. retry_count goes back to 0, which an older claim may also have had: claims are told
   * apart by started_on as well (#held), so a stale run still cannot settle the next one.
   */
  async #rerun(claim: Claim, delayMs: number): Promise<void> {
    const r = await this.#pool.query(
      `update ${this.#schema}.job
          set state = 'created', start_after = now() + $5 * interval '1 millisecond', started_on = null, heartbeat_on = null, retry_count = 0
        where ${this.#held()}`,
      [...this.#claimParams(claim), Math.max(0, delayMs)],
    );
    if (r.rowCount !== 1) return this.#dropped(claim);
    this.#scheduleWakeIn(delayMs);
  }

  /** This run lost the job (its lease ran out and another claim took over): its outcome is ignored. */
  #dropped(claim: Claim): void {
    this.#logger?.warn({ job: claim.name, jobId: claim.id }, 'job outcome dropped: this run no longer holds the job');
  }

  /** Stopped or lease lost: back to the queue, this attempt not counted. */
  async #release(claim: Claim): Promise<void> {
    await this.#pool.query(
      `update ${this.#schema}.job
          set state = case when retry_count = 0 then 'created' else 'retry' end::${this.#schema}.job_state,
              started_on = case when retry_count = 0 then null else started_on end,
              retry_count = greatest(retry_count - 1, 0), heartbeat_on = null, start_after = now()
        where ${this.#held()}`,
      this.#claimParams(claim),
    );
  }

  /** Delayed work shorter than the poll interval should not wait for the next poll. */
  #scheduleWakeIn(ms: number): void {
    // The next poll comes first anyway.
    if (ms < this.#pollIntervalMs) this.#pumper.wakeIn(ms);
  }
}

/**
 * pg-boss runs some multi-statement texts and unwraps node-postgres's array of results itself,
 * so the result goes through as node-postgres returns it.
 */
function sqlResult(query: Promise<pg.QueryResult | pg.QueryResult[]>): Promise<{ rows: unknown[] }> {
  return query as Promise<{ rows: unknown[] }>;
}

interface JobRow {
  id: string;
  name: string;
  data: unknown;
  state: string;
  singleton_key: string | null;
  retry_count: number;
  retry_limit: number;
  started: boolean;
  output: unknown;
  start_after: Date;
  created_on: Date;
  updated_on: Date;
}

const STATES: Record<string, JobState> = {
  created: 'queued',
  retry: 'queued',
  active: 'running',
  completed: 'succeeded',
  failed: 'failed',
  cancelled: 'failed',
};

function toJobInfo(row: JobRow): JobInfo {
  const key = row.singleton_key;
  return {
    id: row.id,
    name: row.name,
    state: STATES[row.state] ?? 'failed',
    payload: row.data,
    singletonKey: key?.startsWith(CALLER_KEY) ? key.slice(CALLER_KEY.length) : null,
    attempts: Number(row.retry_count) + (row.started ? 1 : 0),
    maxAttempts: Number(row.retry_limit) + 1,
    lastError: errorMessage(row.output),
    runAfter: new Date(row.start_after).toISOString(),
    createdAt: new Date(row.created_on).toISOString(),
    updatedAt: new Date(row.updated_on).toISOString(),
  };
}

/** Nothing was ever enqueued on this database: pg-boss has not created its schema yet, so there are no jobs. */
function orNoRows<R>(error: unknown): { rows: R[] } {
  if (isMissingRelation(error)) return { rows: [] };
  throw error;
}

/** Our failures store `{ message }`; pg-boss's own (heartbeat lost, timed out) store `{ value: { message } }`. */
function isMissingRelation(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === '42P01' || code === '3F000';
}

function errorMessage(output: unknown): string | null {
  if (!output || typeof output !== 'object') return null;
  const o = output as { message?: unknown; value?: { message?: unknown } };
  if (typeof o.message === 'string') return o.message;
  if (o.value && typeof o.value.message === 'string') return o.value.message;
  return null;
}
