import type { Transaction } from 'kysely';
import type { z } from 'zod';
import type { Database, JobState } from '../db/schema.ts';

/**
 * The jobs port. Adapters: the durable in-process queue (embedded default, ./in-process-queue.ts)
 * and, later, pg-boss. Both run the contract in test/contract/jobs-contract.ts.
 *
 * Rules every job follows:
 * - Payloads carry ids, not data (enforced by a size cap): the handler reads current rows.
 * - Delivery is at-least-once: a crash after the work but before it is recorded runs it again,
 *   so handlers must be idempotent.
 * - A job name with no registered definition cannot be enqueued, and a queue refuses to start
 *   while unfinished jobs exist whose name it has no handler for.
 */

export interface BackoffPolicy {
  /** Delay before the first retry; doubles with every further failure. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialDelayMs: 5_000, maxDelayMs: 10 * 60_000 };
export const DEFAULT_MAX_ATTEMPTS = 5;
/** Ids fit easily; anything bigger is data that belongs in a row or a blob. */
export const MAX_PAYLOAD_BYTES = 8 * 1024;
export const MAX_ERROR_LENGTH = 1_000;
const JOB_NAME = /^[a-z][a-z0-9_.-]{0,99}$/;

export interface JobContext {
  jobId: string;
  name: string;
  /** 1 for the first run; a `rerunInMs` run starts again at 1. */
  attempt: number;
  maxAttempts: number;
  /**
   * Aborts when the queue is stopping or this worker lost the job's lease. Stop at a safe point;
   * a job that throws or is still running after the queue stopped is released and run again
   * later without counting as a failed attempt.
   */
  signal: AbortSignal;
}

/** `rerunInMs`: put this same job back in the queue to run again (polling loops); not a failure. */
export type JobResult = void | undefined | { rerunInMs: number };

export type JobHandler<P> = (payload: P, ctx: JobContext) => Promise<JobResult>;

/** Name and payload schema: all an enqueuer needs, free of the handler's dependencies. */
export interface JobSpec<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly payload: S;
}

export interface JobDefinition<S extends z.ZodType = z.ZodType> extends JobSpec<S> {
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
  handler(payload: z.output<S>, ctx: JobContext): Promise<JobResult>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a catalog holds jobs of every payload type
export type AnyJobDefinition = JobDefinition<any>;

export interface DefineJobInput<S extends z.ZodType> {
  name: string;
  payload: S;
  handler: JobHandler<z.output<S>>;
  maxAttempts?: number;
  backoff?: Partial<BackoffPolicy>;
}

/** A job spec without its handler, for modules that enqueue but must not import the handler's deps. */
export function jobSpec<S extends z.ZodType>(spec: { name: string; payload: S }): JobSpec<S> {
  assertJobName(spec.name);
  return { name: spec.name, payload: spec.payload };
}

export function defineJob<S extends z.ZodType>(input: DefineJobInput<S>): JobDefinition<S> {
  assertJobName(input.name);
  const maxAttempts = input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  assertMaxAttempts(maxAttempts);
  const backoff = { ...DEFAULT_BACKOFF, ...input.backoff };
  if (!(backoff.initialDelayMs >= 0 && backoff.maxDelayMs >= backoff.initialDelayMs)) {
    throw new Error(`Job ${input.name}: backoff needs 0 <= initialDelayMs <= maxDelayMs.`);
  }
  const handler = input.handler;
  return { name: input.name, payload: input.payload, maxAttempts, backoff, handler: (payload, ctx) => handler(payload, ctx) };
}

export interface EnqueueOptions {
  /**
   * While a job with this key is queued or running, enqueueing another is a no-op returning null.
   * Use it so one thing (a training) is tracked by exactly one job at a time.
   */
  singletonKey?: string | undefined;
  /** Do not run before this many milliseconds from now. */
  delayMs?: number | undefined;
  /** Overrides the definition's maxAttempts for this job. */
  maxAttempts?: number | undefined;
  /**
   * Enqueue as part of the caller's transaction: the job exists if and only if the transaction
   * commits, so "write a row + enqueue its job" is atomic. The pg-boss adapter will pass the same
   * transaction to pg-boss as its `db` executor (pg-boss keeps its tables in the same database).
   */
  transaction?: Transaction<Database> | undefined;
}

export interface StartOptions {
  /** How many handlers may run at the same time in this process. */
  concurrency?: number | undefined;
}

export interface StopOptions {
  /** How long to wait for running handlers before releasing their jobs for a later run. */
  timeoutMs?: number | undefined;
}

export interface JobInfo {
  id: string;
  name: string;
  state: JobState;
  payload: unknown;
  singletonKey: string | null;
  /** Runs started so far (a run lost to a crash counts). */
  attempts: number;
  maxAttempts: number;
  /** Message of the last failure; never a stack trace, never a credential. */
  lastError: string | null;
  /** ISO time before which the job will not start. */
  runAfter: string;
  createdAt: string;
  updatedAt: string;
}

export interface ListJobsOptions {
  state?: JobState | undefined;
  name?: string | undefined;
  /** At most this many (1 to 500); default 50. */
  limit?: number | undefined;
}

export interface JobCount {
  name: string;
  state: JobState;
  count: number;
}

/**
 * What `retry(id)` did: `retried` (back in the queue, attempts starting over), `not_found`,
 * `not_failed` (only a failed job is retried), or `superseded` (another job with the same singleton
 * key is queued or running now, e.g. the thing was started again; retrying would make two).
 */
export type RetryOutcome = 'retried' | 'not_found' | 'not_failed' | 'superseded';

export const MAX_LIST_JOBS = 500;

export function listLimit(limit: number | undefined): number {
  return Math.min(MAX_LIST_JOBS, Math.max(1, Math.floor(limit ?? 50)));
}

export interface JobQueue {
  /** Adds job definitions; only before start(). A name may be registered once. */
  register(...definitions: AnyJobDefinition[]): void;
  /**
   * Validates the payload against the registered schema and stores the job. Returns its id, or
   * null when `singletonKey` matched a queued or running job. Works whether or not this queue was
   * started (a web process enqueues; a worker runs).
   */
  enqueue<S extends z.ZodType>(job: JobSpec<S>, payload: z.input<S>, options?: EnqueueOptions): Promise<string | null>;
  enqueue(name: string, payload: unknown, options?: EnqueueOptions): Promise<string | null>;
  /**
   * Fails with MissingJobHandlersError unless every name in `required` is registered and every
   * unfinished job in storage has a handler here. start() runs the storage half itself.
   */
  verifyHandlers(required?: Iterable<string | JobSpec>): Promise<void>;
  /**
   * Brings the queued job of this name and singleton key forward to now, e.g. a poll whose answer
   * arrived another way. Returns whether one was waiting; a running job is left alone.
   */
  runNow(job: string | JobSpec, singletonKey: string): Promise<boolean>;
  /** Begins running jobs. Rejects (and runs nothing) when verifyHandlers() fails. */
  start(options?: StartOptions): Promise<void>;
  /**
   * Stops claiming, aborts the handlers' signals, waits for them up to `timeoutMs`, then releases
   * whatever is still running so another start picks it up. Safe to call more than once.
   */
  stop(options?: StopOptions): Promise<void>;
  getJob(id: string): Promise<JobInfo | null>;
  /** Jobs of registered names, most recently changed first (an operator's view; not for handlers). */
  listJobs(options?: ListJobsOptions): Promise<JobInfo[]>;
  /** How many jobs the store holds per registered name and state (finished ones until retention removes them). */
  countJobs(): Promise<JobCount[]>;
  /**
   * Puts a failed job back in the queue to run now, its attempts starting over (an operator's
   * decision after fixing the cause). Handlers are idempotent (at-least-once), so a retry is
   * another delivery, never a second effect.
   */
  retry(id: string): Promise<RetryOutcome>;
}

export class UnknownJobError extends Error {
  readonly jobName: string;
  constructor(name: string) {
    super(`No job named ${JSON.stringify(name)} is registered; register its definition before enqueueing it.`);
    this.name = 'UnknownJobError';
    this.jobName = name;
  }
}

export class InvalidJobPayloadError extends Error {
  readonly jobName: string;
  readonly issues: unknown;
  constructor(name: string, message: string, issues?: unknown) {
    super(`Invalid payload for job ${name}: ${message}`);
    this.name = 'InvalidJobPayloadError';
    this.jobName = name;
    this.issues = issues;
  }
}

export class MissingJobHandlersError extends Error {
  readonly missing: string[];
  constructor(missing: string[]) {
    super(`No handler is registered for these jobs: ${missing.join(', ')}. Register a definition for each (or finish/remove their queued jobs) before starting.`);
    this.name = 'MissingJobHandlersError';
    this.missing = missing;
  }
}

export function assertJobName(name: string): void {
  if (typeof name !== 'string' || !JOB_NAME.test(name)) {
    throw new Error(`Invalid job name ${JSON.stringify(name)}: use lower-case letters, digits, ".", "_" and "-", starting with a letter.`);
  }
}

export function assertMaxAttempts(value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > 1_000) throw new Error(`maxAttempts must be an integer from 1 to 1000 (got ${value}).`);
}

/** Adds definitions to an adapter's catalog: only before start(), each name once. */
export function addDefinitions(catalog: Map<string, AnyJobDefinition>, definitions: AnyJobDefinition[], started: boolean): void {
  if (started) throw new Error('Register job definitions before start().');
  for (const d of definitions) {
    if (catalog.has(d.name)) throw new Error(`Job ${d.name} is registered twice.`);
    catalog.set(d.name, d);
  }
}

/** The registered definition a job name or spec refers to; UnknownJobError when there is none. */
export function definitionFor(catalog: ReadonlyMap<string, AnyJobDefinition>, job: string | JobSpec): AnyJobDefinition {
  const name = typeof job === 'string' ? job : job.name;
  const definition = catalog.get(name);
  if (!definition) throw new UnknownJobError(name);
  return definition;
}

/** The names `verifyHandlers()` was asked about. */
export function jobNames(required: Iterable<string | JobSpec>): string[] {
  return [...required].map((r) => (typeof r === 'string' ? r : r.name));
}

/** Waits until every handler run settled, or `timeoutMs` passed, whichever comes first (stop()). */
export async function settledWithin(runs: Iterable<Promise<unknown>>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(runs), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
}

/** Throws MissingJobHandlersError naming every used name that has no registered handler. */
export function assertHandled(used: Iterable<string>, registered: ReadonlySet<string>): void {
  const missing = [...new Set(used)].filter((name) => !registered.has(name)).sort();
  if (missing.length > 0) throw new MissingJobHandlersError(missing);
}

/** Validates a payload and returns the JSON stored for it (what the schema outputs, e.g. defaults applied). */
export function serializePayload(definition: JobSpec, payload: unknown): string {
  const parsed = definition.payload.safeParse(payload);
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new InvalidJobPayloadError(definition.name, message, parsed.error.issues);
  }
  const json = JSON.stringify(parsed.data ?? null);
  if (Buffer.byteLength(json) > MAX_PAYLOAD_BYTES) {
    throw new InvalidJobPayloadError(definition.name, `payload is larger than ${MAX_PAYLOAD_BYTES} bytes; pass ids, not data`);
  }
  return json;
}

/**
 * Delay before retrying after failed attempt number `attempt` (1-based): exponential, capped, with
 * "equal jitter" (half fixed, half random) so retries of many jobs that failed together spread out
 * while none comes back sooner than half its nominal delay.
 */
export function retryDelayMs(backoff: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const nominal = Math.min(backoff.maxDelayMs, backoff.initialDelayMs * 2 ** exponent);
  return Math.round(nominal / 2 + random() * (nominal / 2));
}

const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/\bBearer\s+[^\s"',;]+/gi, 'Bearer [redacted]'],
  // "Token <credential>" (Replicate's scheme), but not prose such as "Token expired": the word
  // after it must look like a key (a digit, "_" or "-" within 8+ characters, or 24+ letters).
  [/\b(Token)\s+(?:(?=[^\s"',;]*[0-9_-])[^\s"',;]{8,}|[A-Za-z]{24,})(?![^\s"',;])/gi, '$1 [redacted]'],
  [/\br8_[A-Za-z0-9]{8,}/g, '[redacted]'],
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+):[^\s@/]+@/gi, '$1:[redacted]@'],
  [/\b((?:api[_-]?)?(?:key|token|secret|password|passwd|signature|sig)=)[^\s&"']+/gi, '$1[redacted]'],
];

/**
 * What a failed job records: the error's message only (no stack, no attached request/response
 * objects), with credential-looking substrings masked, truncated to MAX_ERROR_LENGTH.
 */
export function describeJobError(error: unknown): string {
  let message: string;
  if (error instanceof Error) message = error.message || error.name;
  else if (typeof error === 'string') message = error;
  else message = 'Job failed with a non-Error value.';
  for (const [pattern, replacement] of SECRET_PATTERNS) message = message.replace(pattern, replacement);
  message = message.replace(/\s+/g, ' ').trim() || 'Job failed.';
  return message.length > MAX_ERROR_LENGTH ? `${message.slice(0, MAX_ERROR_LENGTH - 1)}…` : message;
}
