import { randomInt } from 'node:crypto';
import sharp from 'sharp';
import { z } from 'zod';
import type { User } from '../accounts/types.ts';
import type { ModelService } from '../models/model-service.ts';
import type { BlobStorage } from '../storage/storage.ts';
import type { EventBus } from '../events/event-bus.ts';
import { defineJob, jobSpec, type AnyJobDefinition, type JobQueue } from '../jobs/jobs.ts';
import type { GenerationProvider, InputSchema } from '../providers/generation-provider.ts';
import { isProviderError } from '../providers/training-provider.ts';
import { sniff } from '../datasets/image/sniff.ts';
import { isUniqueViolation } from '../db/database.ts';
import { AppError, conflict, notFound, validation } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import { CONTROLS, resolveParams, type GenerationInput, type GenerationParams } from './controls.ts';
import type { GenerationRepository, GenerationRow, RecipeRow } from './generation-repository.ts';

export const runGenerationJob = jobSpec({ name: 'generation.run', payload: z.object({ generationId: z.uuid() }) });

export interface GenerationLimits {
  maxConcurrent: number;
  maxPerHour: number;
  pollIntervalMs: number;
}

const ACTIVE = new Set(['queued', 'submitting', 'starting', 'processing']);

/** Checks the input against the trained version's own schema before anything is paid for. */
function checkAgainstSchema(input: Record<string, unknown>, schema: InputSchema): Array<{ path: string[]; message: string }> {
  const problems: Array<{ path: string[]; message: string }> = [];
  for (const [key, value] of Object.entries(input)) {
    const p = schema[key];
    if (!p) {
      problems.push({ path: [key], message: `This model's version does not accept "${key}".` });
      continue;
    }
    if (typeof value === 'number') {
      if (p.minimum !== undefined && value < p.minimum) problems.push({ path: [key], message: `${key} must be at least ${p.minimum}.` });
      if (p.maximum !== undefined && value > p.maximum) problems.push({ path: [key], message: `${key} must be at most ${p.maximum}.` });
      if (p.type === 'integer' && !Number.isInteger(value)) problems.push({ path: [key], message: `${key} must be a whole number.` });
    }
    if (p.enum && !p.enum.includes(value)) problems.push({ path: [key], message: `${key} must be one of ${p.enum.join(', ')}.` });
  }
  return problems;
}

/**
 * Step 7 and the guide's best practices: generate with a ready model (own or public), keep every
 * output in our storage at once (Replicate deletes them within the hour), reproduce from the
 * stored parameters and seed, compare LoRA scales side by side, save prompts as recipes.
 */
export class GenerationService {
  readonly #repo: GenerationRepository;
  readonly #models: ModelService;
  readonly #storage: BlobStorage;
  readonly #jobs: JobQueue;
  readonly #events: EventBus;
  readonly #provider: GenerationProvider | null;
  readonly #limits: GenerationLimits;

  constructor(deps: { repo: GenerationRepository; models: ModelService; storage: BlobStorage; jobs: JobQueue; events: EventBus; provider: GenerationProvider | null; limits: GenerationLimits }) {
    this.#repo = deps.repo;
    this.#models = deps.models;
    this.#storage = deps.storage;
    this.#jobs = deps.jobs;
    this.#events = deps.events;
    this.#provider = deps.provider;
    this.#limits = deps.limits;
  }

  /** The model's trained version, if it has one ready: its latest training with copied weights. */
  async #readyVersion(viewer: User, modelId: string) {
    const model = await this.#models.get(viewer, modelId); // own or public, else 404
    const training = await this.#repo.db
      .selectFrom('trainings')
      .select(['id', 'base_model', 'output_version', 'trigger_word'])
      .where('model_id', '=', modelId)
      .where('status', '=', 'succeeded')
      .where('weights_key', 'is not', null)
      .where('output_version', 'is not', null)
      .orderBy('completed_at', 'desc')
      .executeTakeFirst();
    return { model, training };
  }

  async options(viewer: User, modelId: string) {
    const { training } = await this.#readyVersion(viewer, modelId);
    const reason = !training ? 'This model has no trained version yet. Train it first.' : !this.#provider ? 'Generation is not configured on this server: the administrator must set REPLICATE_API_TOKEN.' : null;
    const baseModel = (training?.base_model ?? 'flux-dev') as 'flux-dev' | 'sdxl';
    return {
      available: reason === null,
      unavailableReason: reason,
      triggerWord: training?.trigger_word ?? null,
      triggerWordHelp: training ? `Include ${training.trigger_word} in your prompt to call up what the model learned, e.g. "a photo of ${training.trigger_word} on a beach". It is added in front when missing.` : null,
      controls: CONTROLS[baseModel],
    };
  }

  async create(viewer: User, modelId: string, input: GenerationInput, batchId: string | null = null, seed?: number): Promise<GenerationView> {
    const [view] = await this.#createMany(viewer, modelId, [input], batchId, seed);
    return view!;
  }

  /** One prompt and seed at several LoRA (and optionally guidance) scales, side by side. */
  async compare(viewer: User, modelId: string, request: { prompt: string; seed?: number | undefined; loraScales: number[]; guidanceScales?: number[] | undefined; aspectRatio?: GenerationInput['aspectRatio'] }) {
    const seed = request.seed ?? randomInt(0, 2 ** 31 - 1);
    const guidance = request.guidanceScales?.length ? request.guidanceScales : [undefined];
    const inputs: GenerationInput[] = [];
    for (const g of guidance) for (const l of request.loraScales) inputs.push({ prompt: request.prompt, loraScale: l, guidanceScale: g, aspectRatio: request.aspectRatio, numOutputs: 1, insertTriggerWord: true });
    const batchId = newId();
    const generations = await this.#createMany(viewer, modelId, inputs, batchId, seed);
    return { batchId, seed, generations };
  }

  async #createMany(viewer: User, modelId: string, inputs: GenerationInput[], batchId: string | null, fixedSeed?: number): Promise<GenerationView[]> {
    const { training } = await this.#readyVersion(viewer, modelId);
    if (!training) throw conflict('This model has no trained version yet. Train it first, then generate.');
    const provider = this.#provider;
    if (!provider) throw conflict('Generation is not configured on this server: the administrator must set REPLICATE_API_TOKEN.');
    const usage = await this.#repo.usage(viewer.id, new Date(Date.now() - 3600_000).toISOString());
    if (usage.active + inputs.length > this.#limits.maxConcurrent) {
      throw new AppError('rate_limited', `You can run ${this.#limits.maxConcurrent} generations at once (${usage.active} running). Wait for them to finish, then try again.`);
    }
    if (usage.recent + inputs.length > this.#limits.maxPerHour) {
      throw new AppError('rate_limited', `You reached the limit of ${this.#limits.maxPerHour} generations per hour. Try again later in the hour.`);
    }
    const schema = await provider.inputSchema(training.output_version!);
    const at = new Date().toISOString();
    const rows: GenerationRow[] = [];
    for (const input of inputs) {
      const resolved = resolveParams(training.base_model as 'flux-dev' | 'sdxl', input, training.trigger_word, fixedSeed ?? input.seed ?? randomInt(0, 2 ** 31 - 1));
      const problems = [...resolved.problems, ...(resolved.problems.length ? [] : checkAgainstSchema(resolved.input, schema))];
      if (problems.length) throw validation(`The settings do not fit this model: ${problems[0]!.message}`, problems);
      rows.push({
        id: newId(), owner_id: viewer.id, model_id: modelId, training_id: training.id, status: 'queued', prompt: resolved.params.prompt,
        negative_prompt: resolved.params.negativePrompt, params: JSON.stringify(resolved.params), input: JSON.stringify(resolved.input), batch_id: batchId,
        remote_id: null, submit_attempted_at: null, error: null, created_at: at, updated_at: at, completed_at: null,
      });
    }
    await this.#repo.db.transaction().execute(async (trx) => {
      for (const row of rows) {
        await this.#repo.insert(row, trx);
        await this.#jobs.enqueue(runGenerationJob, { generationId: row.id }, { transaction: trx, singletonKey: `generation:${row.id}` });
      }
    });
    return rows.map((r) => toView(r, []));
  }

  async list(viewer: User, query: { modelId?: string | undefined; batchId?: string | undefined; limit: number; cursor?: string | undefined }) {
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    const rows = await this.#repo.listForOwner(viewer.id, { modelId: query.modelId, batchId: query.batchId }, { limit: query.limit + 1, after });
    const page = rows.slice(0, query.limit);
    const images = await this.#repo.images(page.map((r) => r.id));
    const last = page.at(-1);
    return {
      generations: page.map((r) => toView(r, images.filter((i) => i.generation_id === r.id))),
      nextCursor: rows.length > query.limit && last ? Buffer.from(`${last.created_at}|${last.id}`).toString('base64url') : null,
    };
  }

  /** Generations are private to the user who made them. */
  async #own(viewer: User, id: string): Promise<GenerationRow> {
    const row = await this.#repo.findById(id);
    if (!row || row.owner_id !== viewer.id) throw notFound('Generation');
    return row;
  }

  async get(viewer: User, id: string): Promise<GenerationView> {
    const row = await this.#own(viewer, id);
    return toView(row, await this.#repo.images([id]));
  }

  async delete(viewer: User, id: string): Promise<void> {
    await this.#own(viewer, id);
    await this.#repo.delete(id);
    await this.#storage.deletePrefix(`generations/${id}/`);
  }

  async openImage(viewer: User, id: string, position: number) {
    await this.#own(viewer, id);
    const image = (await this.#repo.images([id])).find((i) => i.position === position);
    if (!image) throw notFound('Image');
    return { stream: await this.#storage.get(image.blob_key), contentType: image.content_type, size: Number(image.bytes), filename: `theway-${id.slice(0, 8)}-${position + 1}.${image.content_type.split('/')[1]}` };
  }

  // ─── recipes ("Save successful prompts") ──────────────────────────────────────────────────

  async listRecipes(viewer: User, modelId: string) {
    await this.#models.get(viewer, modelId);
    return (await this.#repo.recipes(viewer.id, modelId)).map(recipeView);
  }

  async createRecipe(viewer: User, modelId: string, input: { name: string; fromGeneration?: string | undefined; prompt?: string | undefined; negativePrompt?: string | null | undefined; params?: Record<string, unknown> | undefined }) {
    await this.#models.get(viewer, modelId);
    let prompt = input.prompt;
    let negative = input.negativePrompt ?? null;
    let params: Record<string, unknown> = input.params ?? {};
    if (input.fromGeneration) {
      const g = await this.#own(viewer, input.fromGeneration);
      if (g.model_id !== modelId) throw notFound('Generation');
      const p = JSON.parse(g.params) as GenerationParams;
      prompt = p.prompt;
      negative = p.negativePrompt;
      params = { loraScale: p.loraScale, guidanceScale: p.guidanceScale, steps: p.steps, seed: p.seed, aspectRatio: p.aspectRatio, numOutputs: p.numOutputs };
    }
    if (!prompt) throw validation('Give the recipe a prompt, or save it from a generation.', [{ path: ['prompt'], message: 'Required unless fromGeneration is given.' }]);
    const at = new Date().toISOString();
    const row: RecipeRow = { id: newId(), owner_id: viewer.id, model_id: modelId, name: input.name, name_key: input.name.toLowerCase(), prompt, negative_prompt: negative, params: JSON.stringify(params), created_at: at, updated_at: at };
    try {
      await this.#repo.insertRecipe(row);
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('You already have a recipe with this name for this model.', [{ path: ['name'], message: 'Name already used.' }]);
      throw error;
    }
    return recipeView(row);
  }

  async updateRecipe(viewer: User, id: string, input: { name?: string | undefined; prompt?: string | undefined; negativePrompt?: string | null | undefined; params?: Record<string, unknown> | undefined }) {
    const row = await this.#repo.findRecipe(id);
    if (!row || row.owner_id !== viewer.id) throw notFound('Recipe');
    try {
      await this.#repo.updateRecipe(id, {
        ...(input.name !== undefined && { name: input.name, name_key: input.name.toLowerCase() }),
        ...(input.prompt !== undefined && { prompt: input.prompt }),
        ...(input.negativePrompt !== undefined && { negative_prompt: input.negativePrompt }),
        ...(input.params !== undefined && { params: JSON.stringify(input.params) }),
        updated_at: new Date().toISOString(),
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('You already have a recipe with this name for this model.');
      throw error;
    }
    return recipeView((await this.#repo.findRecipe(id))!);
  }

  async deleteRecipe(viewer: User, id: string): Promise<void> {
    const row = await this.#repo.findRecipe(id);
    if (!row || row.owner_id !== viewer.id) throw notFound('Recipe');
    await this.#repo.deleteRecipe(id);
  }

  // ─── the job ──────────────────────────────────────────────────────────────────────────────

  /**
   * Submits (state persisted first), polls until the end, then copies every output into our
   * storage before calling it succeeded: a crash at any point resumes here and loses no image.
   */
  async run(id: string): Promise<number | null> {
    const provider = this.#provider;
    let row = await this.#repo.findById(id);
    if (!row || !ACTIVE.has(row.status) || !provider) return null;
    const versionRef = (await this.#repo.db.selectFrom('trainings').select('output_version').where('id', '=', row.training_id).executeTakeFirst())?.output_version;
    if (!versionRef) return this.#fail(row, 'The trained version this generation used is gone.');
    if (row.status === 'queued') {
      const at = new Date().toISOString();
      if (!(await this.#repo.updateIfStatus(id, 'queued', { status: 'submitting', submit_attempted_at: at, updated_at: at }))) return null;
      row = { ...row, status: 'submitting' };
    }
    let remote;
    if (!row.remote_id) {
      // A submit interrupted before its id was stored is sent again: a prediction costs cents and
      // the user is waiting for the image, unlike a training (see docs/decisions.md).
      try {
        remote = await provider.createPrediction(versionRef, JSON.parse(row.input));
      } catch (error) {
        if (isProviderError(error) && !error.retryable && !error.outcomeUnknown) return this.#fail(row, `Replicate refused the generation: ${error.detail ?? error.message}`);
        throw error;
      }
      await this.#repo.updateIfStatus(id, 'submitting', { status: 'starting', remote_id: remote.id, updated_at: new Date().toISOString() });
      row = { ...row, status: 'starting', remote_id: remote.id };
    } else {
      remote = await provider.getPrediction(row.remote_id);
    }
    if (remote.status === 'starting' || remote.status === 'processing') {
      if (remote.status === 'processing' && row.status === 'starting') await this.#repo.updateIfStatus(id, 'starting', { status: 'processing', updated_at: new Date().toISOString() });
      this.#publish(row, remote.status);
      return this.#limits.pollIntervalMs;
    }
    if (remote.status !== 'succeeded') {
      const reason = remote.status === 'failed' && /nsfw/i.test(remote.error ?? '') ? 'Every image was withheld by the safety filter. Rephrase the prompt and try again.' : remote.error ? `The generation failed on Replicate: ${remote.error}` : `The generation was ${remote.status}.`;
      return this.#fail(row, reason, remote.status === 'canceled' ? 'canceled' : 'failed');
    }
    const outputs = remote.output ?? [];
    if (outputs.length === 0) return this.#fail(row, 'Every image was withheld by the safety filter. Rephrase the prompt and try again.');
    for (const [position, url] of outputs.entries()) {
      const bytes = await provider.download(url);
      const kind = sniff(bytes.subarray(0, 64));
      if (kind.kind !== 'image') throw new Error(`Output ${position + 1} is not an image (${kind.kind}).`);
      const meta = await sharp(bytes).metadata();
      const ext = kind.format === 'jpeg' ? 'jpg' : kind.format;
      const key = `generations/${id}/${position}.${ext}`;
      await this.#storage.put(key, bytes, { contentType: `image/${kind.format}` });
      await this.#repo.addImage({ generation_id: id, position, blob_key: key, content_type: `image/${kind.format}`, bytes: bytes.length, width: meta.width, height: meta.height });
    }
    const at = new Date().toISOString();
    await this.#repo.updateIfStatus(id, row.status, { status: 'succeeded', completed_at: at, updated_at: at });
    this.#publish(row, 'succeeded');
    return null;
  }

  async resumeUnfinished(): Promise<void> {
    for (const { id } of await this.#repo.listUnfinished()) await this.#jobs.enqueue(runGenerationJob, { generationId: id }, { singletonKey: `generation:${id}` });
  }

  jobDefinitions(): AnyJobDefinition[] {
    return [
      defineJob({
        ...runGenerationJob,
        maxAttempts: 20,
        backoff: { initialDelayMs: 1_000, maxDelayMs: 60_000 },
        handler: async ({ generationId }) => {
          const again = await this.run(generationId);
          return again === null ? undefined : { rerunInMs: again };
        },
      }),
    ];
  }

  async #fail(row: GenerationRow, message: string, status: 'failed' | 'canceled' = 'failed'): Promise<null> {
    const at = new Date().toISOString();
    await this.#repo.updateIfStatus(row.id, row.status, { status, error: message, completed_at: at, updated_at: at });
    this.#publish(row, status);
    return null;
  }

  #publish(row: GenerationRow, status: string): void {
    this.#events.publish({ type: 'generation.updated', ownerId: row.owner_id, modelId: row.model_id, generationId: row.id, status, at: new Date().toISOString() });
  }
}

export interface GenerationView {
  id: string;
  modelId: string;
  status: string;
  prompt: string;
  negativePrompt: string | null;
  params: GenerationParams;
  batchId: string | null;
  error: string | null;
  images: Array<{ url: string; downloadUrl: string; width: number; height: number; contentType: string }>;
  createdAt: string;
  completedAt: string | null;
}

function toView(r: GenerationRow, images: Array<{ position: number; width: number; height: number; content_type: string }>): GenerationView {
  return {
    id: r.id,
    modelId: r.model_id,
    status: r.status,
    prompt: r.prompt,
    negativePrompt: r.negative_prompt,
    params: JSON.parse(r.params) as GenerationParams,
    batchId: r.batch_id,
    error: r.error,
    images: images.map((i) => ({ url: `/api/generations/${r.id}/images/${i.position}`, downloadUrl: `/api/generations/${r.id}/images/${i.position}?download=1`, width: Number(i.width), height: Number(i.height), contentType: i.content_type })),
    createdAt: r.created_at,
    completedAt: r.completed_at,
  };
}

const recipeView = (r: RecipeRow) => ({ id: r.id, modelId: r.model_id, name: r.name, prompt: r.prompt, negativePrompt: r.negative_prompt, params: JSON.parse(r.params) as Record<string, unknown>, createdAt: r.created_at, updatedAt: r.updated_at });

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt))) throw validation('The cursor is not valid. Use the nextCursor value from the previous page.');
  return { createdAt, id };
}
