import { conflict, notFound, validation } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import { isUniqueViolation } from '../db/database.ts';
import type { User } from '../accounts/types.ts';
import type { ModelRepository, ModelRow } from './model-repository.ts';
import type { CreateModelInput, ListModelsQuery, UpdateModelInput } from './schemas.ts';
import type { Model } from './types.ts';

const nameKey = (name: string) => name.normalize('NFKC').toLowerCase();

const toModel = (row: ModelRow, viewer: User): Model => ({
  id: row.id,
  name: row.name,
  description: row.description,
  visibility: row.visibility,
  modelType: row.model_type,
  status: row.status,
  imageCount: Number(row.image_count ?? 0),
  owner: { id: row.owner_id, displayName: row.owner_display_name },
  isOwner: row.owner_id === viewer.id,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

const nameTaken = () =>
  conflict('You already have a model with this name. Choose another name.', [
    { path: ['name'], message: 'You already have a model with this name.' },
  ]);

/** Cursor = base64url of "createdAt|id" of the last item on the page; opaque to clients. */
const encodeCursor = (row: ModelRow) => Buffer.from(`${row.created_at}|${row.id}`).toString('base64url');
function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt))) {
    throw validation('The cursor is not valid. Use the nextCursor value from the previous page.', [
      { path: ['cursor'], message: 'Not a cursor returned by this API.' },
    ]);
  }
  return { createdAt, id };
}

export interface ModelDeletionHook {
  /** Called in order after the model row is gone, so owned files and remote resources are cleaned up. */
  (modelId: string): Promise<void>;
}

/**
 * Runs before the model row goes and returns the cleanup to run after it went: for files keyed by
 * the ids of rows that the delete cascades away (a training's weights under `trainings/<id>/`).
 */
export interface ModelDeletionPreparer {
  (modelId: string): Promise<() => Promise<void>>;
}

export class ModelService {
  private readonly repo: ModelRepository;
  private readonly onDeleted: ModelDeletionHook[] = [];
  private readonly preparers: ModelDeletionPreparer[] = [];
  private readonly now: () => Date;

  constructor(repo: ModelRepository, options: { now?: () => Date } = {}) {
    this.repo = repo;
    this.now = options.now ?? (() => new Date());
  }

  addDeletionHook(hook: ModelDeletionHook): void {
    this.onDeleted.push(hook);
  }

  addDeletionPreparer(prepare: ModelDeletionPreparer): void {
    this.preparers.push(prepare);
  }

  async create(viewer: User, input: CreateModelInput): Promise<Model> {
    const at = this.now().toISOString();
    const id = newId();
    try {
      await this.repo.insert({
        id,
        owner_id: viewer.id,
        name: input.name,
        name_key: nameKey(input.name),
        description: input.description,
        visibility: input.visibility,
        model_type: input.modelType,
        status: 'draft',
        created_at: at,
        updated_at: at,
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken();
      throw error;
    }
    return this.get(viewer, id);
  }

  /** Visible = own, or public. Anything else is indistinguishable from a missing model. */
  async get(viewer: User, id: string): Promise<Model> {
    const row = await this.repo.findById(id);
    if (!row || (row.owner_id !== viewer.id && row.visibility !== 'public')) throw notFound('Model');
    return toModel(row, viewer);
  }

  /** For internal callers (jobs, other domains) that act on the system's behalf, not a viewer's. */
  async getForSystem(id: string): Promise<{ id: string; name: string; ownerId: string; modelType: Model['modelType']; visibility: Model['visibility'] } | undefined> {
    const row = await this.repo.findById(id);
    return row && { id: row.id, name: row.name, ownerId: row.owner_id, modelType: row.model_type, visibility: row.visibility };
  }

  /** Changing or deleting requires ownership; a public model of someone else still answers 404. */
  private async getOwnedRow(viewer: User, id: string): Promise<ModelRow> {
    const row = await this.repo.findById(id);
    if (!row || row.owner_id !== viewer.id) throw notFound('Model');
    return row;
  }

  async list(viewer: User, query: ListModelsQuery): Promise<{ models: Model[]; nextCursor: string | null }> {
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    const filter = query.scope === 'mine' ? { ownerId: viewer.id } : { visibility: 'public' as const };
    const rows = await this.repo.list(filter, { limit: query.limit + 1, ...(after && { after }) });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return { models: page.map((r) => toModel(r, viewer)), nextCursor: rows.length > query.limit && last ? encodeCursor(last) : null };
  }

  /** A number that changes whenever the result of `list` for this viewer and scope could change. */
  listRevision(viewer: User, scope: ListModelsQuery['scope']): Promise<number> {
    return this.repo.revision(scope === 'mine' ? { ownerId: viewer.id } : { visibility: 'public' });
  }

  async update(viewer: User, id: string, input: UpdateModelInput): Promise<Model> {
    await this.getOwnedRow(viewer, id);
    try {
      await this.repo.update(id, {
        ...(input.name !== undefined && { name: input.name, name_key: nameKey(input.name) }),
        ...(input.description !== undefined && { description: input.description }),
        ...(input.visibility !== undefined && { visibility: input.visibility }),
        ...(input.modelType !== undefined && { model_type: input.modelType }),
        updated_at: this.now().toISOString(),
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw nameTaken();
      throw error;
    }
    return this.get(viewer, id);
  }

  /** Training progress moves a model between draft, training, ready and failed; not a user action. */
  async setStatus(id: string, status: Model['status']): Promise<void> {
    await this.repo.update(id, { status, updated_at: this.now().toISOString() });
  }

  async delete(viewer: User, id: string): Promise<void> {
    await this.getOwnedRow(viewer, id);
    // Rows the model owns go with it through ON DELETE CASCADE; hooks clean up what is outside the database.
    const cleanups = [];
    for (const prepare of this.preparers) cleanups.push(await prepare(id));
    if (!(await this.repo.delete(id))) throw notFound('Model');
    for (const hook of this.onDeleted) await hook(id);
    for (const cleanup of cleanups) await cleanup();
  }
}
