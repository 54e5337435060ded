import type { User } from '../accounts/types.ts';
import type { JobCount, JobInfo, JobQueue } from '../jobs/jobs.ts';
import type { JobState } from '../db/schema.ts';
import type { StorageUsageRepository } from '../quotas/storage-usage-repository.ts';
import { AppError, conflict } from '../shared/errors.ts';
import { ACTIVE_TRAINING_STATUSES, type AdminRepository, type AdminTrainingRow, type JobSubjectRow, type TrainingStatus } from './admin-repository.ts';

export type AdminJobState = Extract<JobState, 'queued' | 'running' | 'failed'>;
export type AdminTrainingFilter = 'active' | 'failed' | 'all';

export interface AdminOverview {
  users: number;
  models: number;
  trainingsByStatus: Array<{ status: string; count: number }>;
  /** Generations created in the last 24 hours, by their status now. */
  generationsLast24hByStatus: Array<{ status: string; count: number }>;
  storageUsedBytes: number;
  jobs: JobCount[];
}

export interface AdminJobSubject {
  kind: 'training' | 'generation' | 'user';
  id: string;
  /** Null when the row is gone (deleted since the job was queued). */
  ownerEmail: string | null;
  modelId: string | null;
  modelName: string | null;
}

/** A job as the operator sees it: not its raw payload, but what it is about. */
export interface AdminJob extends Omit<JobInfo, 'payload' | 'singletonKey'> {
  subject: AdminJobSubject | null;
}

export interface AdminTraining {
  id: string;
  ownerEmail: string;
  modelId: string;
  modelName: string;
  status: string;
  stage: string | null;
  progressPercent: number | null;
  startedAt: string | null;
  completedAt: string | null;
  failureMessage: string | null;
  estimatedCostUsd: number | null;
  createdAt: string;
}

export interface AdminServiceDeps {
  repo: AdminRepository;
  jobs: JobQueue;
  storageUsage: StorageUsageRepository;
  logger?: { info(details: object, message: string): void };
  now?: () => Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Payload keys that name what a job is about (payloads carry ids, see jobs.ts). */
const SUBJECT_KEYS = { trainingId: 'training', generationId: 'generation', userId: 'user' } as const;

/**
 * The operator's view: what runs, for whom, what failed and why, and retrying failed jobs. Every
 * method takes the acting user and answers only an admin; anyone else gets the same "not found" as
 * for a route that does not exist, so the view's existence is not advertised.
 */
export class AdminService {
  readonly #repo: AdminRepository;
  readonly #jobs: JobQueue;
  readonly #storageUsage: StorageUsageRepository;
  readonly #logger: AdminServiceDeps['logger'];
  readonly #now: () => Date;

  constructor(deps: AdminServiceDeps) {
    this.#repo = deps.repo;
    this.#jobs = deps.jobs;
    this.#storageUsage = deps.storageUsage;
    this.#logger = deps.logger;
    this.#now = deps.now ?? (() => new Date());
  }

  /** Throws not_found (with `notFoundMessage`) unless the user is an admin. */
  assertAdmin(user: User, notFoundMessage = 'Not found.'): void {
    if (user.role !== 'admin') throw new AppError('not_found', notFoundMessage);
  }

  async overview(actor: User): Promise<AdminOverview> {
    this.assertAdmin(actor);
    const since = new Date(this.#now().getTime() - 24 * 3600_000).toISOString();
    const [users, models, trainingsByStatus, generationsLast24hByStatus, storageUsedBytes, jobs] = await Promise.all([
      this.#repo.countUsers(),
      this.#repo.countModels(),
      this.#repo.trainingsByStatus(),
      this.#repo.generationsByStatusSince(since),
      this.#storageUsage.totalUsedBytes(),
      this.#jobs.countJobs(),
    ]);
    return { users, models, trainingsByStatus, generationsLast24hByStatus, storageUsedBytes, jobs };
  }

  async listJobs(actor: User, options: { state?: AdminJobState | undefined; name?: string | undefined; limit: number }): Promise<AdminJob[]> {
    this.assertAdmin(actor);
    const jobs = await this.#jobs.listJobs({ state: options.state, name: options.name, limit: options.limit });
    return this.#withSubjects(jobs);
  }

  /**
   * A failed job runs again, its attempts starting over. Safe for every job kind because handlers
   * re-read their rows and are idempotent (docs/decisions.md, "Admin view"): e.g. training.submit
   * looks for a training it may already have created before creating one, so it never pays twice.
   */
  async retryJob(actor: User, id: string): Promise<AdminJob> {
    this.assertAdmin(actor);
    const outcome = await this.#jobs.retry(id);
    if (outcome === 'not_found') throw new AppError('not_found', 'Job was not found. It may have been removed after the retention period (7 days after it finished).');
    if (outcome === 'not_failed') {
      const job = await this.#jobs.getJob(id);
      throw conflict(`Only a failed job can be retried; this one is ${job?.state ?? 'no longer failed'}. Reload the list to see its current state.`);
    }
    if (outcome === 'superseded') {
      throw conflict('Another job for the same thing is queued or running now, so retrying this one would run it twice. Wait for that job to finish.');
    }
    this.#logger?.info({ adminId: actor.id, jobId: id }, 'admin retried a failed job');
    const job = await this.#jobs.getJob(id);
    if (!job) throw new AppError('not_found', 'Job was not found.');
    const [withSubject] = await this.#withSubjects([job]);
    return withSubject!;
  }

  async listTrainings(actor: User, options: { status: AdminTrainingFilter; limit: number }): Promise<AdminTraining[]> {
    this.assertAdmin(actor);
    const statuses: TrainingStatus[] | null = options.status === 'active' ? ACTIVE_TRAINING_STATUSES : options.status === 'failed' ? ['failed'] : null;
    const rows = await this.#repo.listTrainings(statuses, options.limit);
    return rows.map(toAdminTraining);
  }

  async #withSubjects(jobs: JobInfo[]): Promise<AdminJob[]> {
    const refs = jobs.map(subjectRef);
    const idsOf = (kind: AdminJobSubject['kind']) => [...new Set(refs.filter((r) => r?.kind === kind).map((r) => r!.id))];
    const [trainings, generations, users] = await Promise.all([
      this.#repo.trainingSubjects(idsOf('training')),
      this.#repo.generationSubjects(idsOf('generation')),
      this.#repo.userSubjects(idsOf('user')),
    ]);
    const found = new Map<string, JobSubjectRow>();
    for (const [kind, rows] of [['training', trainings], ['generation', generations], ['user', users]] as const) {
      for (const row of rows) found.set(`${kind}:${row.id}`, row);
    }
    return jobs.map((job, i) => {
      const ref = refs[i];
      const row = ref ? found.get(`${ref.kind}:${ref.id}`) : undefined;
      return {
        id: job.id,
        name: job.name,
        state: job.state,
        attempts: job.attempts,
        maxAttempts: job.maxAttempts,
        lastError: job.lastError,
        runAfter: job.runAfter,
        createdAt: job.createdAt,
        updatedAt: job.updatedAt,
        subject: ref ? { kind: ref.kind, id: ref.id, ownerEmail: row?.owner_email ?? null, modelId: row?.model_id ?? null, modelName: row?.model_name ?? null } : null,
      };
    });
  }
}

function subjectRef(job: JobInfo): { kind: AdminJobSubject['kind']; id: string } | null {
  const payload = job.payload;
  if (!payload || typeof payload !== 'object') return null;
  for (const [key, kind] of Object.entries(SUBJECT_KEYS)) {
    const id = (payload as Record<string, unknown>)[key];
    if (typeof id === 'string' && UUID.test(id)) return { kind, id };
  }
  return null;
}

function toAdminTraining(row: AdminTrainingRow): AdminTraining {
  return {
    id: row.id,
    ownerEmail: row.owner_email,
    modelId: row.model_id,
    modelName: row.model_name,
    status: row.status,
    stage: row.stage,
    progressPercent: row.progress_percent === null ? null : Number(row.progress_percent),
    startedAt: row.started_at,
    completedAt: row.completed_at,
    failureMessage: row.failure_message,
    estimatedCostUsd: expectedCost(row.estimate),
    createdAt: row.created_at,
  };
}

/** The expected cost of the Estimate shown before the start; null when it cannot be read. */
function expectedCost(estimate: string): number | null {
  try {
    const value = (JSON.parse(estimate) as { costUsd?: { expected?: unknown } }).costUsd?.expected;
    return typeof value === 'number' && Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}
