import type { Kysely } from 'kysely';
import type { Database, GenerationStatus, TrainingsTable } from '../db/schema.ts';

export type TrainingStatus = TrainingsTable['status'];
/** Trainings that are still moving (a draft has not started; the rest are finished). */
export const ACTIVE_TRAINING_STATUSES: TrainingStatus[] = ['queued', 'submitting', 'starting', 'processing'];

export interface AdminTrainingRow {
  id: string;
  model_id: string;
  model_name: string;
  owner_id: string;
  owner_email: string;
  status: TrainingStatus;
  stage: string | null;
  progress_percent: number | null;
  estimate: string;
  failure_message: string | null;
  started_at: string | null;
  completed_at: string | null;
  created_at: string;
}

/** What a job is about, for the jobs table: the owner and model behind the id in its payload. */
export interface JobSubjectRow {
  id: string;
  owner_email: string;
  model_id: string | null;
  model_name: string | null;
}

/**
 * The cross-user reads of the operator's view. Every other repository is scoped to one owner; this
 * one is not, so only AdminService (which checks the admin role first) may use it.
 */
export class AdminRepository {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async countUsers(): Promise<number> {
    const row = await this.#db.selectFrom('users').select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async countModels(): Promise<number> {
    const row = await this.#db.selectFrom('models').select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async trainingsByStatus(): Promise<Array<{ status: TrainingStatus; count: number }>> {
    const rows = await this.#db
      .selectFrom('trainings')
      .select((eb) => ['status', eb.fn.countAll<string | number>().as('n')])
      .groupBy('status')
      .orderBy('status')
      .execute();
    return rows.map((r) => ({ status: r.status, count: Number(r.n) }));
  }

  async generationsByStatusSince(since: string): Promise<Array<{ status: GenerationStatus; count: number }>> {
    const rows = await this.#db
      .selectFrom('generations')
      .select((eb) => ['status', eb.fn.countAll<string | number>().as('n')])
      .where('created_at', '>=', since)
      .groupBy('status')
      .orderBy('status')
      .execute();
    return rows.map((r) => ({ status: r.status, count: Number(r.n) }));
  }

  /** Newest first; `statuses` null for every status. */
  async listTrainings(statuses: TrainingStatus[] | null, limit: number): Promise<AdminTrainingRow[]> {
    return this.#db
      .selectFrom('trainings')
      .innerJoin('users', 'users.id', 'trainings.owner_id')
      .innerJoin('models', 'models.id', 'trainings.model_id')
      .select([
        'trainings.id', 'trainings.model_id', 'models.name as model_name', 'trainings.owner_id', 'users.email as owner_email',
        'trainings.status', 'trainings.stage', 'trainings.progress_percent', 'trainings.estimate', 'trainings.failure_message',
        'trainings.started_at', 'trainings.completed_at', 'trainings.created_at',
      ])
      .$if(statuses !== null, (q) => q.where('trainings.status', 'in', statuses!))
      .orderBy('trainings.created_at', 'desc')
      .orderBy('trainings.id', 'desc')
      .limit(limit)
      .execute();
  }

  async trainingSubjects(ids: string[]): Promise<JobSubjectRow[]> {
    if (ids.length === 0) return [];
    return this.#db
      .selectFrom('trainings')
      .innerJoin('users', 'users.id', 'trainings.owner_id')
      .innerJoin('models', 'models.id', 'trainings.model_id')
      .select(['trainings.id', 'users.email as owner_email', 'models.id as model_id', 'models.name as model_name'])
      .where('trainings.id', 'in', ids)
      .execute();
  }

  async generationSubjects(ids: string[]): Promise<JobSubjectRow[]> {
    if (ids.length === 0) return [];
    return this.#db
      .selectFrom('generations')
      .innerJoin('users', 'users.id', 'generations.owner_id')
      .innerJoin('models', 'models.id', 'generations.model_id')
      .select(['generations.id', 'users.email as owner_email', 'models.id as model_id', 'models.name as model_name'])
      .where('generations.id', 'in', ids)
      .execute();
  }

  async userSubjects(ids: string[]): Promise<JobSubjectRow[]> {
    if (ids.length === 0) return [];
    const rows = await this.#db.selectFrom('users').select(['id', 'email']).where('id', 'in', ids).execute();
    return rows.map((r) => ({ id: r.id, owner_email: r.email, model_id: null, model_name: null }));
  }
}
