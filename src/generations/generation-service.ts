import { randomInt } from 'node:crypto';
import type { Readable } from 'node:stream';
import sharp from 'sharp';
import type { User } from '../accounts/types.ts';
import type { ModelService } from '../models/model-service.ts';
import type { StorageQuota } from '../quotas/storage-quota.ts';
import type { BlobStorage } from '../storage/storage.ts';
import type { EventBus } from '../events/event-bus.ts';
import type { GenerationStatus } from '../db/schema.ts';
import type { JobQueue } from '../jobs/jobs.ts';
import { describeJobError } from '../jobs/jobs.ts';
import type { GenerationProvider, InputSchema, RemotePrediction } from '../providers/generation-provider.ts';
import { isProviderError } from '../providers/training-provider.ts';
import { sniff } from '../datasets/image/sniff.ts';
import { isUniqueViolation } from '../db/database.ts';
import { BASE_MODEL_INFO } from '../trainings/base-models.ts';
import { AppError, conflict, notFound, validation } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import { CONTROLS, resolveParams, type FieldProblem, type GenerationBaseModel, type GenerationParams, type GenerationRequest } from './controls.ts';
import { checkAgainstVersionSchema } from './version-schema.ts';
import { cancelPredictionJob, runGenerationJob } from './generation-jobs.ts';
import type { ComparisonInput, RecipeCreateInput, RecipeParams, RecipeUpdateInput } from './schemas.ts';
import { ACTIVE_STATUSES, type GenerationRepository, type GenerationRow, type RecipeRow } from './generation-repository.ts';
import type { GenerationLinkService, ShareLinkView } from './generation-links-service.ts';

export interface GenerationLimits {
  /** Generations of one user queued or running at the same time (a comparison of N counts N). */
  maxConcurrent: number;
  /** Generations one user may start in any rolling hour (deleting one does not give it back). */
  maxPerHour: number;
  pollIntervalMs: number;
}

const HOUR_MS = 3_600_000;
const MAX_SEED = 2 ** 31 - 1;
const isActive = (status: string) => (ACTIVE_STATUSES as readonly string[]).includes(status);
const SAFETY_FILTER_ALL = "Every image was withheld by Replicate's safety filter. Rephrase the prompt and try again.";

export interface GenerationImageView {
  position: number;
  /** Served by this server (owner only); the provider's own URLs expire within the hour. */
  url: string;
  downloadUrl: string;
  width: number;
  height: number;
  contentType: string;
  bytes: number;
}

export interface GenerationView {
  id: string;
  modelId: string;
  trainingId: string;
  status: GenerationStatus;
  /** The prompt exactly as sent (trigger word included). */
  prompt: string;
  negativePrompt: string | null;
  /** Everything needed to reproduce the result, including the seed actually used. */
  params: GenerationParams;
  batchId: string | null;
  /** Shown on the model's showcase to everyone who can see the model. */
  shared: boolean;
  /** Why it failed or was canceled; null otherwise. */
  error: string | null;
  /** A succeeded generation that came back incomplete (e.g. some images withheld by the safety filter). */
  notice: string | null;
  images: GenerationImageView[];
  /** Its public share link, shown to the owner only; null when it has none (or the viewer is not the owner). */
  link: ShareLinkView | null;
  createdAt: string;
  completedAt: string | null;
}

export interface RecipeView {
  id: string;
  modelId: string;
  name: string;
  prompt: string;
  negativePrompt: string | null;
  params: RecipeParams;
  createdAt: string;
  updatedAt: string;
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
  readonly #quota: Pick<StorageQuota, 'assertNotFull'>;
  readonly #links: Pick<GenerationLinkService, 'viewsFor'> | null;
  readonly #now: () => Date;

  constructor(deps: { repo: GenerationRepository; models: ModelService; storage: BlobStorage; jobs: JobQueue; events: EventBus; provider: GenerationProvider | null; limits: GenerationLimits; quota: Pick<StorageQuota, 'assertNotFull'>; links?: Pick<GenerationLinkService, 'viewsFor'>; now?: () => Date }) {
    this.#quota = deps.quota;
    this.#links = deps.links ?? null;
    this.#repo = deps.repo;
    this.#models = deps.models;
    this.#storage = deps.storage;
    this.#jobs = deps.jobs;
    this.#events = deps.events;
    this.#provider = deps.provider;
    this.#limits = deps.limits;
    this.#now = deps.now ?? (() => new Date());
  }

  /** The Generate page's controls for this model, as its trained version really supports them. */
  async options(viewer: User, modelId: string) {
    await this.#models.get(viewer, modelId); // own or public, else 404
    const training = await this.#repo.readyTraining(modelId);
    const reason = !training ? 'This model has no trained version yet. Train it first.' : !this.#provider ? 'Generation is not configured on this server: the administrator must set REPLICATE_API_TOKEN.' : null;
    const baseModel = (training?.base_model ?? 'flux-dev') as GenerationBaseModel;
    const [active, usage] = await Promise.all([this.#repo.activeCount(viewer.id), this.#repo.usageSince(viewer.id, this.#windowStart())]);
    const word = training?.trigger_word ?? null;
    return {
      available: reason === null,
      unavailableReason: reason,
      baseModelLabel: BASE_MODEL_INFO[baseModel].label,
      triggerWord: word,
      triggerWordHelp: word
        ? `${word} is the word this model learned your subject under: put it in the prompt where the subject belongs, e.g. "a photo of ${word} on a beach". When the prompt lacks it, it is added in front.`
        : null,
      controls: CONTROLS[baseModel],
      quota: { maxConcurrent: this.#limits.maxConcurrent, maxPerHour: this.#limits.maxPerHour, active, usedThisHour: usage.reduce((n, u) => n + Number(u.count), 0) },
    };
  }

  async create(viewer: User, modelId: string, request: GenerationRequest): Promise<GenerationView> {
    const [view] = await this.#createMany(viewer, modelId, [request], null);
    return view!;
  }

  /** One prompt and seed at several LoRA (and optionally guidance) scales, side by side. */
  async compare(viewer: User, modelId: string, request: ComparisonInput): Promise<{ batchId: string; seed: number; generations: GenerationView[] }> {
    const seed = request.seed ?? randomInt(0, MAX_SEED);
    const guidance: Array<number | undefined> = request.guidanceScales?.length ? request.guidanceScales : [undefined];
    const requests: GenerationRequest[] = [];
    for (const guidanceScale of guidance) {
      for (const loraScale of request.loraScales) {
        requests.push({ prompt: request.prompt, negativePrompt: request.negativePrompt, loraScale, guidanceScale, steps: request.steps, seed, aspectRatio: request.aspectRatio, outputFormat: request.outputFormat, numOutputs: 1, insertTriggerWord: request.insertTriggerWord });
      }
    }
    const batchId = newId();
    const generations = await this.#createMany(viewer, modelId, requests, batchId);
    return { batchId, seed, generations };
  }

  async #createMany(viewer: User, modelId: string, requests: GenerationRequest[], batchId: string | null): Promise<GenerationView[]> {
    await this.#models.get(viewer, modelId); // another user's private model: 404
    // Outputs are copied into storage as they arrive: a user at the cap would go past it.
    await this.#quota.assertNotFull(viewer.id);
    const training = await this.#repo.readyTraining(modelId);
    if (!training?.output_version) throw conflict('This model has no trained version yet. Train it first, then generate.');
    const provider = this.#provider;
    if (!provider) throw conflict('Generation is not configured on this server: the administrator must set REPLICATE_API_TOKEN.');
    const baseModel = training.base_model as GenerationBaseModel;
    if (!CONTROLS[baseModel]) throw conflict(`Generating with ${training.base_model} models is not supported.`);

    const resolved = requests.map((r) => resolveParams(baseModel, r, training.trigger_word, r.seed ?? randomInt(0, MAX_SEED)));
    this.#refuse(resolved.flatMap((r) => r.problems));
    const schema = await this.#versionSchema(provider, training.output_version);
    this.#refuse(resolved.flatMap((r) => checkAgainstVersionSchema(r.input, schema)));

    const at = this.#now().toISOString();
    const rows: GenerationRow[] = resolved.map((r) => ({
      id: newId(), owner_id: viewer.id, model_id: modelId, training_id: training.id, status: 'queued', prompt: r.params.prompt,
      negative_prompt: r.params.negativePrompt, params: JSON.stringify(r.params), input: JSON.stringify(r.input), batch_id: batchId, shared_at: null,
      remote_id: null, submit_attempted_at: null, error: null, created_at: at, updated_at: at, completed_at: null,
    }));
    await this.#repo.db.transaction().execute(async (trx) => {
      await this.#repo.lockOwner(viewer.id, trx);
      await this.#checkQuota(viewer.id, rows.length, trx);
      await this.#repo.recordUsage({ id: newId(), owner_id: viewer.id, count: rows.length, created_at: at }, trx);
      for (const row of rows) {
        await this.#repo.insert(row, trx);
        await this.#jobs.enqueue(runGenerationJob, { generationId: row.id }, { transaction: trx, singletonKey: `generation:${row.id}` });
      }
    });
    for (const row of rows) this.#publish(row, 'queued');
    return rows.map((r) => toView(r, []));
  }

  #refuse(problems: FieldProblem[]): void {
    if (problems.length) throw validation(`The settings do not fit this model: ${problems[0]!.message}`, problems);
  }

  async #versionSchema(provider: GenerationProvider, versionRef: string): Promise<InputSchema> {
    try {
      return await provider.inputSchema(versionRef);
    } catch (error) {
      if (isProviderError(error) && error.status === 404) throw conflict("This model's trained version no longer exists on Replicate. Retrain the model to generate with it again.");
      if (isProviderError(error)) throw new AppError('provider_error', 'Replicate could not be reached to check the settings against the trained version. Try again in a minute.');
      throw error;
    }
  }

  async #checkQuota(ownerId: string, requested: number, executor: Parameters<GenerationRepository['activeCount']>[1]): Promise<void> {
    const { maxConcurrent, maxPerHour } = this.#limits;
    const active = await this.#repo.activeCount(ownerId, executor);
    if (active + requested > maxConcurrent) {
      const message = requested > maxConcurrent
        ? `This request needs ${requested} generations, more than the ${maxConcurrent} you can run at once. Compare fewer scales.`
        : `You can run ${maxConcurrent} generations at once and ${active} are still running${requested > 1 ? ` (this request needs ${requested})` : ''}. You can generate again as soon as ${active + requested - maxConcurrent === 1 ? 'one finishes' : `${active + requested - maxConcurrent} finish`}.`;
      throw new AppError('rate_limited', message, { limit: 'concurrent', maxConcurrent, active, requested, retryAt: null });
    }
    const usage = await this.#repo.usageSince(ownerId, this.#windowStart(), executor);
    const used = usage.reduce((n, u) => n + Number(u.count), 0);
    if (used + requested <= maxPerHour) return;
    if (requested > maxPerHour) throw new AppError('rate_limited', `This request needs ${requested} generations, more than the ${maxPerHour} generations per hour allowed.`, { limit: 'hourly', maxPerHour, used, requested, retryAt: null });
    // The earliest moment enough of the hour's usage has aged out to make room for this request.
    let freed = 0;
    let retryAt = this.#now();
    for (const u of usage) {
      freed += Number(u.count);
      retryAt = new Date(Date.parse(u.created_at) + HOUR_MS);
      if (freed >= used + requested - maxPerHour) break;
    }
    const minutes = Math.max(1, Math.ceil((retryAt.getTime() - this.#now().getTime()) / 60_000));
    throw new AppError(
      'rate_limited',
      `You reached the limit of ${maxPerHour} generations per hour (${used} started in the last hour). You can generate again at ${retryAt.toISOString().slice(11, 16)} UTC, in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
      { limit: 'hourly', maxPerHour, used, requested, retryAt: retryAt.toISOString() },
    );
  }

  #windowStart(): string {
    return new Date(this.#now().getTime() - HOUR_MS).toISOString();
  }

  async list(viewer: User, query: { modelId?: string | undefined; batchId?: string | undefined; limit: number; cursor?: string | undefined }) {
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    const rows = await this.#repo.listForOwner(viewer.id, { modelId: query.modelId, batchId: query.batchId }, { limit: query.limit + 1, after });
    const page = rows.slice(0, query.limit);
    const images = await this.#repo.images(page.map((r) => r.id));
    const links = await this.#links?.viewsFor(page.map((r) => r.id));
    const last = page.at(-1);
    return {
      generations: page.map((r) => toView(r, images.filter((i) => i.generation_id === r.id), links?.get(r.id))),
      nextCursor: rows.length > query.limit && last ? Buffer.from(`${last.created_at}|${last.id}`).toString('base64url') : null,
    };
  }

  /** Generations are private to the user who made them: anyone else gets a 404. */
  async #own(viewer: User, id: string): Promise<GenerationRow> {
    const row = await this.#repo.findById(id);
    if (!row || row.owner_id !== viewer.id) throw notFound('Generation');
    return row;
  }

  /** Own generations, and shared ones of a model the viewer can see; anything else is a 404. */
  async #visible(viewer: User, id: string): Promise<GenerationRow> {
    const row = await this.#repo.findById(id);
    if (row && row.owner_id === viewer.id) return row;
    if (row?.shared_at && (await this.#models.get(viewer, row.model_id).catch(() => null))) return row;
    throw notFound('Generation');
  }

  async get(viewer: User, id: string): Promise<GenerationView> {
    const row = await this.#visible(viewer, id);
    // Only the owner gets the link: a showcase viewer sees the generation, not the owner's capability URL.
    const link = row.owner_id === viewer.id ? (await this.#links?.viewsFor([id]))?.get(id) : undefined;
    return toView(row, await this.#repo.images([id]), link);
  }

  /** Shows (or hides again) a finished generation on the model's showcase. */
  async share(viewer: User, id: string, shared: boolean): Promise<GenerationView> {
    const row = await this.#own(viewer, id);
    if (shared && row.status !== 'succeeded') throw conflict('Only finished generations with images can be shared.');
    await this.#repo.setShared(id, shared ? (row.shared_at ?? this.#now().toISOString()) : null);
    return this.get(viewer, id);
  }

  /** What the model's page shows everyone who can see the model: generations their authors shared. */
  async showcase(viewer: User, modelId: string, limit = 12): Promise<GenerationView[]> {
    await this.#models.get(viewer, modelId);
    const rows = await this.#repo.listShared(modelId, limit);
    const images = await this.#repo.images(rows.map((r) => r.id));
    return rows.map((r) => toView(r, images.filter((i) => i.generation_id === r.id)));
  }

  /** Stops a queued or running generation (and its prediction, so it stops costing). */
  async cancel(viewer: User, id: string): Promise<GenerationView> {
    const row = await this.#own(viewer, id);
    if (!isActive(row.status)) throw conflict(`This generation already ${row.status === 'succeeded' ? 'succeeded' : `ended (${row.status})`}.`);
    const at = this.#now().toISOString();
    if (await this.#repo.updateIfStatus(id, ACTIVE_STATUSES, { status: 'canceled', error: 'Canceled by you.', completed_at: at, updated_at: at })) {
      if (row.remote_id) await this.#jobs.enqueue(cancelPredictionJob, { predictionId: row.remote_id }, { singletonKey: `prediction-cancel:${row.remote_id}` });
      this.#publish(row, 'canceled');
    }
    return this.get(viewer, id);
  }

  /** Removes the generation, its images and their files; a running prediction is canceled. */
  async delete(viewer: User, id: string): Promise<void> {
    const row = await this.#own(viewer, id);
    const images = await this.#repo.images([id]);
    await this.#repo.delete(id);
    for (const image of images) await this.#storage.delete(image.blob_key);
    await this.#storage.deletePrefix(blobPrefix(row));
    if (isActive(row.status) && row.remote_id) await this.#jobs.enqueue(cancelPredictionJob, { predictionId: row.remote_id }, { singletonKey: `prediction-cancel:${row.remote_id}` });
    this.#publish(row, 'deleted');
  }

  async openImage(viewer: User, id: string, position: number): Promise<{ stream: Readable; contentType: string; size: number; filename: string }> {
    await this.#visible(viewer, id);
    const image = (await this.#repo.images([id])).find((i) => Number(i.position) === position);
    if (!image) throw notFound('Image');
    const ext = extensionOf(image.content_type);
    return { stream: await this.#storage.get(image.blob_key), contentType: image.content_type, size: Number(image.bytes), filename: `theway-${id.slice(0, 8)}-${position + 1}.${ext}` };
  }

  /** Deleting a model cascades its generations' rows; this removes their files (all users'). */
  async deleteModelFiles(modelId: string): Promise<void> {
    await this.#storage.deletePrefix(`generations/${modelId}/`);
  }

  // ─── recipes ("Save successful prompts") ──────────────────────────────────────────────────

  async listRecipes(viewer: User, modelId: string): Promise<RecipeView[]> {
    await this.#models.get(viewer, modelId);
    return (await this.#repo.recipes(viewer.id, modelId)).map(recipeView);
  }

  async createRecipe(viewer: User, modelId: string, input: Omit<RecipeCreateInput, 'params'> & { params?: RecipeParams | undefined }): Promise<RecipeView> {
    await this.#models.get(viewer, modelId);
    let prompt = input.prompt;
    let negative = input.negativePrompt ?? null;
    let params: RecipeParams = input.params ?? {};
    if (input.fromGeneration) {
      const g = await this.#own(viewer, input.fromGeneration);
      if (g.model_id !== modelId) throw notFound('Generation');
      const p = readParams(g);
      prompt = input.prompt ?? p.prompt;
      negative = input.negativePrompt !== undefined ? input.negativePrompt : p.negativePrompt;
      params = { loraScale: p.loraScale, guidanceScale: p.guidanceScale, steps: p.steps, seed: p.seed, aspectRatio: p.aspectRatio as RecipeParams['aspectRatio'], numOutputs: p.numOutputs, outputFormat: p.outputFormat, ...input.params };
    }
    if (!prompt) throw validation('Give the recipe a prompt, or save it from a generation.', [{ path: ['prompt'], message: 'Required unless fromGeneration is given.' }]);
    const at = this.#now().toISOString();
    const name = input.name.trim();
    const row: RecipeRow = { id: newId(), owner_id: viewer.id, model_id: modelId, name, name_key: name.toLowerCase(), prompt, negative_prompt: negative || null, params: JSON.stringify(params), created_at: at, updated_at: at };
    try {
      await this.#repo.insertRecipe(row);
    } catch (error) {
      if (isUniqueViolation(error)) throw recipeNameTaken();
      throw error;
    }
    return recipeView(row);
  }

  async updateRecipe(viewer: User, id: string, input: RecipeUpdateInput): Promise<RecipeView> {
    const row = await this.#ownRecipe(viewer, id);
    const name = input.name?.trim();
    try {
      await this.#repo.updateRecipe(id, {
        ...(name !== undefined && { name, name_key: name.toLowerCase() }),
        ...(input.prompt !== undefined && { prompt: input.prompt }),
        ...(input.negativePrompt !== undefined && { negative_prompt: input.negativePrompt || null }),
        ...(input.params !== undefined && { params: JSON.stringify(input.params) }),
        updated_at: this.#now().toISOString(),
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw recipeNameTaken();
      throw error;
    }
    return recipeView((await this.#repo.findRecipe(row.id))!);
  }

  async deleteRecipe(viewer: User, id: string): Promise<void> {
    await this.#ownRecipe(viewer, id);
    await this.#repo.deleteRecipe(id);
  }

  async #ownRecipe(viewer: User, id: string): Promise<RecipeRow> {
    const row = await this.#repo.findRecipe(id);
    if (!row || row.owner_id !== viewer.id) throw notFound('Recipe');
    return row;
  }

  // ─── the job ──────────────────────────────────────────────────────────────────────────────

  /**
   * One step of a generation's life: submit (state persisted first), poll, then copy every output
   * into our storage before calling it succeeded. Idempotent: a crash at any point runs this
   * again and loses no image. Returns when to run again, or null when the generation has ended.
   * `signal` aborts when the job's run lost its lease: another run now owns the generation.
   */
  async run(id: string, signal?: AbortSignal): Promise<number | null> {
    let row = await this.#repo.findById(id);
    if (!row || !isActive(row.status)) return null;
    const provider = this.#provider;
    if (!provider) return this.#fail(row, 'Generation is not configured on this server: the administrator must set REPLICATE_API_TOKEN.');
    const versionRef = await this.#repo.versionOf(row.training_id);
    if (!versionRef) return this.#fail(row, 'The trained version this generation used is gone.');
    if (row.status === 'queued') {
      const at = this.#now().toISOString();
      if (!(await this.#repo.updateIfStatus(id, 'queued', { status: 'submitting', submit_attempted_at: at, updated_at: at }))) return null;
      row = { ...row, status: 'submitting', submit_attempted_at: at };
      this.#publish(row, 'submitting');
    }
    let remote: RemotePrediction;
    if (!row.remote_id) {
      // A submit interrupted before its id was stored is sent again: a prediction costs cents and
      // the user is waiting for the image, unlike a training (see docs/decisions.md).
      try {
        signal?.throwIfAborted(); // a run that lost its job must not pay for a second prediction
        remote = await provider.createPrediction(versionRef, JSON.parse(row.input) as Record<string, unknown>);
      } catch (error) {
        if (isProviderError(error) && !error.retryable && !error.outcomeUnknown) return this.#fail(row, `Replicate refused the generation: ${error.detail ?? error.message}`);
        throw error;
      }
      const at = this.#now().toISOString();
      if (!(await this.#repo.updateIfStatus(id, 'submitting', { status: 'starting', remote_id: remote.id, updated_at: at }))) {
        // Canceled or deleted while the create was in flight: stop the prediction we just started.
        await this.#jobs.enqueue(cancelPredictionJob, { predictionId: remote.id }, { singletonKey: `prediction-cancel:${remote.id}` });
        return null;
      }
      row = { ...row, status: 'starting', remote_id: remote.id };
      this.#publish(row, 'starting');
    } else {
      try {
        remote = await provider.getPrediction(row.remote_id);
      } catch (error) {
        if (isProviderError(error) && error.status === 404) return this.#fail(row, 'Replicate no longer knows this prediction.');
        throw error;
      }
    }
    if (remote.status === 'starting' || remote.status === 'processing') {
      if (remote.status !== row.status && (await this.#repo.updateIfStatus(id, row.status, { status: remote.status, updated_at: this.#now().toISOString() }))) this.#publish(row, remote.status);
      return this.#limits.pollIntervalMs;
    }
    if (remote.status !== 'succeeded') {
      const message =
        remote.status === 'failed' && /nsfw|safety/i.test(remote.error ?? '') ? SAFETY_FILTER_ALL
        : remote.status === 'failed' ? `The generation failed on Replicate: ${remote.error ?? 'no reason given'}.`
        : remote.status === 'aborted' ? 'Replicate aborted the generation before it ran. Try again.'
        : 'The generation was canceled on Replicate.';
      return this.#fail(row, message, remote.status === 'canceled' ? 'canceled' : 'failed');
    }
    return this.#copyOutputs(row, provider, remote.output ?? []);
  }

  /** Copies each output into our storage (skipping those already copied by an earlier run). */
  async #copyOutputs(row: GenerationRow, provider: GenerationProvider, outputs: string[]): Promise<null> {
    const params = readParams(row);
    const stored = new Set((await this.#repo.images([row.id])).map((i) => Number(i.position)));
    const notes: string[] = [];
    for (const [position, url] of outputs.entries()) {
      if (stored.has(position)) continue;
      let bytes: Buffer;
      let declared: string | null;
      try {
        ({ bytes, contentType: declared } = await provider.download(url));
      } catch (error) {
        if (isProviderError(error) && !error.retryable) {
          notes.push(`Image ${position + 1} could not be copied from Replicate (${error.status === 404 || error.status === 410 ? 'it had already expired' : error.message}).`);
          continue;
        }
        throw error;
      }
      // The file server's label is only a claim: the bytes decide what is stored and served.
      const kind = sniff(bytes.subarray(0, 64));
      const format = kind.kind === 'image' ? kind.format : null;
      const meta = format ? await sharp(bytes).metadata().catch(() => null) : null;
      if (!format || !meta?.width || !meta.height) {
        notes.push(`Image ${position + 1} from Replicate was not a readable image${declared ? ` (labelled ${declared})` : ''}.`);
        continue;
      }
      const contentType = `image/${format}`;
      const key = `${blobPrefix(row)}${position}.${extensionOf(contentType)}`;
      await this.#storage.put(key, bytes, { contentType });
      try {
        await this.#repo.addImage({ generation_id: row.id, position, blob_key: key, content_type: contentType, bytes: bytes.length, width: meta.width, height: meta.height });
      } catch (error) {
        if (!(await this.#repo.findById(row.id))) return this.#discardFiles(row);
        throw error;
      }
      stored.add(position);
    }
    const withheld = Math.max(0, params.numOutputs - outputs.length);
    if (withheld > 0) notes.unshift(`${withheld} of ${params.numOutputs} images ${withheld === 1 ? 'was' : 'were'} withheld by Replicate's safety filter.`);
    const current = await this.#repo.findById(row.id);
    if (!current) return this.#discardFiles(row); // deleted while we copied
    if (stored.size === 0) return this.#fail(current, outputs.length === 0 ? SAFETY_FILTER_ALL : notes.join(' '));
    const at = this.#now().toISOString();
    if (await this.#repo.updateIfStatus(row.id, ACTIVE_STATUSES, { status: 'succeeded', error: notes.length ? notes.join(' ') : null, completed_at: at, updated_at: at })) this.#publish(row, 'succeeded');
    return null;
  }

  async #discardFiles(row: GenerationRow): Promise<null> {
    await this.#storage.deletePrefix(blobPrefix(row));
    return null;
  }

  /** The job ran out of attempts: end the generation with the reason instead of leaving it busy. */
  async giveUp(id: string, error: unknown): Promise<void> {
    const row = await this.#repo.findById(id);
    if (!row || !isActive(row.status)) return;
    await this.#fail(row, `The generation could not be completed because Replicate kept failing: ${describeJobError(error)}`);
    if (row.remote_id) await this.#jobs.enqueue(cancelPredictionJob, { predictionId: row.remote_id }, { singletonKey: `prediction-cancel:${row.remote_id}` });
  }

  async runCancelRemote(predictionId: string): Promise<void> {
    const provider = this.#provider;
    if (!provider) return;
    try {
      await provider.cancelPrediction(predictionId);
    } catch (error) {
      if (isProviderError(error) && !error.retryable) return; // already finished or unknown: nothing to stop
      throw error;
    }
  }

  /** After a restart: make sure every unfinished generation has its job. */
  async resumeUnfinished(): Promise<number> {
    const rows = await this.#repo.listUnfinished();
    for (const { id } of rows) await this.#jobs.enqueue(runGenerationJob, { generationId: id }, { singletonKey: `generation:${id}` });
    return rows.length;
  }

  async #fail(row: GenerationRow, message: string, status: 'failed' | 'canceled' = 'failed'): Promise<null> {
    const at = this.#now().toISOString();
    if (await this.#repo.updateIfStatus(row.id, ACTIVE_STATUSES, { status, error: message.slice(0, 2000), completed_at: at, updated_at: at })) this.#publish(row, status);
    return null;
  }

  #publish(row: GenerationRow, status: string): void {
    this.#events.publish({ type: 'generation.updated', ownerId: row.owner_id, modelId: row.model_id, generationId: row.id, status, at: this.#now().toISOString() });
  }
}

/** Files live under their model so deleting a model removes every generation's files with one prefix. */
const blobPrefix = (row: { model_id: string; id: string }) => `generations/${row.model_id}/${row.id}/`;

const extensionOf = (contentType: string) => (contentType === 'image/jpeg' ? 'jpg' : contentType.split('/')[1] ?? 'bin');

const recipeNameTaken = () => conflict('You already have a recipe with this name for this model.', [{ path: ['name'], message: 'Name already used.' }]);

/** Rows written before outputFormat existed were PNG. */
function readParams(row: GenerationRow): GenerationParams {
  return { outputFormat: 'png', ...(JSON.parse(row.params) as Partial<GenerationParams>) } as GenerationParams;
}

function toView(r: GenerationRow, images: Array<{ position: number; width: number; height: number; content_type: string; bytes: number }>, link?: ShareLinkView): GenerationView {
  const succeeded = r.status === 'succeeded';
  return {
    id: r.id,
    modelId: r.model_id,
    trainingId: r.training_id,
    status: r.status,
    prompt: r.prompt,
    negativePrompt: r.negative_prompt,
    params: readParams(r),
    batchId: r.batch_id,
    shared: r.shared_at !== null,
    error: succeeded ? null : r.error,
    notice: succeeded ? r.error : null,
    images: images.map((i) => ({
      position: Number(i.position),
      url: `/api/generations/${r.id}/images/${i.position}`,
      downloadUrl: `/api/generations/${r.id}/images/${i.position}?download=1`,
      width: Number(i.width),
      height: Number(i.height),
      contentType: i.content_type,
      bytes: Number(i.bytes),
    })),
    link: link ?? null,
    createdAt: r.created_at,
    completedAt: r.completed_at,
  };
}

const recipeView = (r: RecipeRow): RecipeView => ({ id: r.id, modelId: r.model_id, name: r.name, prompt: r.prompt, negativePrompt: r.negative_prompt, params: JSON.parse(r.params) as RecipeParams, createdAt: r.created_at, updatedAt: r.updated_at });

function decodeCursor(cursor: string): { createdAt: string; id: string } {
  const [createdAt, id] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!createdAt || !id || Number.isNaN(Date.parse(createdAt))) throw validation('The cursor is not valid. Use the nextCursor value from the previous page.');
  return { createdAt, id };
}
