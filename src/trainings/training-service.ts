import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { AppError, conflict, notFound, validation } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import { isUniqueViolation } from '../db/database.ts';
import type { User } from '../accounts/types.ts';
import type { ModelService } from '../models/model-service.ts';
import type { BlobStorage } from '../storage/storage.ts';
import type { EventBus } from '../events/event-bus.ts';
import type { Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { JobQueue } from '../jobs/jobs.ts';
import { isProviderError, type RemoteTraining, type TrainingProvider } from '../providers/training-provider.ts';
import { parseTrainingLog, type TrainingLogState } from '../providers/replicate/training-log-parser.ts';
import { isTerminalStatus } from '../providers/replicate/types.ts';
import { BASE_MODEL_INFO, BASE_MODELS, type BaseModel } from './base-models.ts';
import { overridableInputs, planTraining, PRESETS, RESOLUTIONS, type PlanRequest, type Resolution, type TrainingPlan } from './presets.ts';
import { estimateTraining, type CostTable, type Estimate, type RunHistory } from './estimate.ts';
import { isTerminal, nextStatus, type TrainingEvent, type TrainingStatus } from './state-machine.ts';
import { classifyFailure } from './failure.ts';
import type { TrainingRepository, TrainingRow } from './training-repository.ts';
import type { TrainingDatasets } from './dataset-port.ts';
import type { TrainingSettingsInput } from './schemas.ts';
import { finalizeTrainingJob, submitTrainingJob, trackTrainingJob, cancelTrainingJob } from './training-jobs.ts';

const LOG_TAIL_CHARS = 16_000;

export interface TrainingServiceOptions {
  costTable: CostTable;
  /** `https://…/api/webhooks/replicate` when the platform is reachable from the internet, else polling only. */
  webhookUrl: string | undefined;
  /** Poll intervals while a training runs; long when webhooks deliver the fast path. */
  pollIntervalMs: { active: number; max: number };
  /** Wait after a create with an unknown outcome before concluding from the list that it did not happen. */
  reconcileGraceMs: number;
  /** Trainings one user may have queued or running at once (TRAINING_MAX_CONCURRENT); unlimited when unset. */
  maxConcurrentPerUser?: number;
  now?: () => Date;
}

export interface TrainingView {
  id: string;
  modelId: string;
  status: TrainingStatus;
  settings: { baseModel: string; preset: string; resolution: number; epochs: number; steps: number; imageCount: number; triggerWord: string; formula: string; inputs: Record<string, unknown> };
  estimate: Estimate;
  progress: {
    stage: string | null;
    step: number | null;
    totalSteps: number | null;
    percent: number | null;
    itPerSecond: number | null;
    trainerEtaSeconds: number | null;
    loss: number | null;
  };
  failure: { kind: string; message: string; nextStep: string } | null;
  cancelRequested: boolean;
  weightsAvailable: boolean;
  /** Succeeded, but the weights could not be copied and never will be: why (the model still generates on Replicate). */
  weightsNotice: string | null;
  outputVersion: string | null;
  retrainOf: string | null;
  queuedAt: string | null;
  startedAt: string | null;
  completedAt: string | null;
  lastEventAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export class TrainingService {
  readonly #repo: TrainingRepository;
  readonly #models: ModelService;
  readonly #datasets: TrainingDatasets;
  readonly #storage: BlobStorage;
  readonly #jobs: JobQueue;
  readonly #events: EventBus;
  readonly #provider: TrainingProvider | null;
  readonly #options: TrainingServiceOptions;
  readonly #now: () => Date;
  readonly #endedListeners: Array<(trainingId: string) => Promise<void>> = [];

  constructor(deps: {
    repo: TrainingRepository;
    models: ModelService;
    datasets: TrainingDatasets;
    storage: BlobStorage;
    jobs: JobQueue;
    events: EventBus;
    provider: TrainingProvider | null;
    options: TrainingServiceOptions;
  }) {
    this.#repo = deps.repo;
    this.#models = deps.models;
    this.#datasets = deps.datasets;
    this.#storage = deps.storage;
    this.#jobs = deps.jobs;
    this.#events = deps.events;
    this.#provider = deps.provider;
    this.#options = deps.options;
    this.#now = deps.options.now ?? (() => new Date());
  }

  // ─── Use cases (each starts with one access check) ─────────────────────────────────────────

  /** Step 4's choices for this model: base models (with why some are unavailable), presets, resolutions. */
  async options(viewer: User, modelId: string) {
    await this.#ownedModel(viewer, modelId);
    const readiness = await this.#datasets.readiness(modelId);
    return {
      providerConfigured: this.#provider !== null,
      baseModels: BASE_MODELS.map((id) => {
        const info = BASE_MODEL_INFO[id];
        const reason = info.unavailableReason ?? (this.#provider ? null : 'Training is not configured on this server: the administrator must set REPLICATE_API_TOKEN.');
        return { id, label: info.label, summary: info.summary, available: reason === null, unavailableReason: reason, supportsNegativePrompt: info.supportsNegativePrompt, overridableInputs: info.trainer ? overridableInputs(id as PlanRequest['baseModel']) : [] };
      }),
      presets: [...PRESETS],
      resolutions: [...RESOLUTIONS],
      dataset: readiness,
    };
  }

  /** Steps, duration and cost before paying. */
  async plan(viewer: User, modelId: string, input: TrainingSettingsInput): Promise<{ plan: TrainingPlan; estimate: Estimate; imageCount: number; canStart: boolean; blockers: string[] }> {
    const model = await this.#ownedModel(viewer, modelId);
    const readiness = await this.#datasets.readiness(modelId);
    const blockers = [...readiness.reasons];
    const info = BASE_MODEL_INFO[input.baseModel];
    if (info.unavailableReason) blockers.push(info.unavailableReason);
    if (!this.#provider) blockers.push('Training is not configured on this server: the administrator must set REPLICATE_API_TOKEN.');
    const baseModel = (info.trainer ? input.baseModel : 'flux-dev') as PlanRequest['baseModel'];
    if (input.overrides && input.preset !== 'expert') throw validation('Only the Expert preset lets you set trainer inputs by hand.', [{ path: ['overrides'], message: 'Choose the Expert preset to override inputs.' }]);
    if (input.overrides) {
      const allowed = new Set(overridableInputs(baseModel));
      const unknown = Object.keys(input.overrides).filter((k) => !allowed.has(k));
      if (unknown.length) throw validation(`These inputs cannot be set by hand: ${unknown.join(', ')}. Allowed: ${[...allowed].join(', ')}.`, [{ path: ['overrides'], message: `Unknown inputs: ${unknown.join(', ')}` }]);
    }
    const imageCount = Math.max(readiness.imageCount, 1);
    const plan = planTraining({ baseModel, modelType: model.modelType, preset: input.preset, resolution: input.resolution as Resolution, epochs: input.epochs, imageCount, triggerWord: readiness.triggerWord, overrides: input.overrides });
    const estimate = estimateTraining(this.#options.costTable[baseModel], input.resolution as Resolution, plan.steps, await this.#history(baseModel, input.resolution));
    return { plan, estimate, imageCount: readiness.imageCount, canStart: blockers.length === 0 && readiness.canTrain, blockers };
  }

  /** "Start Training": a queued row and its submit job, committed together. */
  async start(viewer: User, modelId: string, input: TrainingSettingsInput): Promise<TrainingView> {
    const { plan, estimate, imageCount, canStart, blockers } = await this.plan(viewer, modelId, input);
    if (!canStart) throw new AppError('conflict', `Training cannot start yet: ${blockers.join(' ')}`, blockers.map((message) => ({ path: [], message })));
    if (input.retrainOf) await this.#ownedTraining(viewer, input.retrainOf);
    const info = BASE_MODEL_INFO[input.baseModel];
    const at = this.#now().toISOString();
    const id = newId();
    const readiness = await this.#datasets.readiness(modelId);
    try {
      await this.#repo.db.transaction().execute(async (trx) => {
        await this.#checkConcurrentCap(viewer.id, modelId, trx);
        await this.#repo.insert({
          id, model_id: modelId, owner_id: viewer.id, status: 'queued',
          base_model: input.baseModel, preset: input.preset, resolution: input.resolution, epochs: plan.epochs, steps: plan.steps,
          image_count: imageCount, trigger_word: readiness.triggerWord, inputs: JSON.stringify(plan.inputs), formula: plan.formula,
          estimate: JSON.stringify(estimate), retrain_of: input.retrainOf ?? null,
          trainer: `${info.trainer!.owner}/${info.trainer!.name}`, trainer_version: null, destination: null, dataset_key: null, dataset_url: null,
          remote_id: null, remote_status: null, submit_attempted_at: null, cancel_requested_at: null,
          stage: 'queued', progress_step: null, progress_total: plan.steps, progress_percent: null, it_per_second: null, trainer_eta_seconds: null, loss: null,
          log_state: null, log_tail: null, failure_kind: null, failure_message: null, provider_error: null,
          output_version: null, weights_url: null, weights_key: null, weights_bytes: null, predict_seconds: null,
          queued_at: at, started_at: null, training_started_at: null, completed_at: null, last_event_at: null, created_at: at, updated_at: at,
        }, trx);
        await this.#jobs.enqueue(submitTrainingJob, { trainingId: id }, { transaction: trx, singletonKey: `training-submit:${id}` });
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict('This model is already training. Wait for it to finish or cancel it first.');
      throw error;
    }
    await this.#models.setStatus(modelId, 'training');
    this.#publish(await this.#mustFind(id));
    return this.get(viewer, id);
  }

  /** The per-user cap on unfinished trainings; this model's own running training is refused by the unique index instead. */
  async #checkConcurrentCap(ownerId: string, modelId: string, trx: Parameters<TrainingRepository['lockOwner']>[1]): Promise<void> {
    const max = this.#options.maxConcurrentPerUser;
    if (max === undefined) return;
    await this.#repo.lockOwner(ownerId, trx);
    const active = await this.#repo.listActiveForOwner(ownerId, trx);
    if (active.length < max || active.some((t) => t.model_id === modelId)) return;
    const names = active.map((t) => `"${t.model_name}"`);
    const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names[0];
    throw new AppError(
      'conflict',
      `You can have ${max} training${max === 1 ? '' : 's'} in progress at once, and ${list} ${active.length === 1 ? 'is' : 'are'} still training. Wait for one to finish, or cancel it, then start this one.`,
      { limit: 'concurrent_trainings', max, active: active.length },
    );
  }

  async get(viewer: User, id: string): Promise<TrainingView> {
    return toView(await this.#ownedTraining(viewer, id));
  }

  async listForModel(viewer: User, modelId: string): Promise<TrainingView[]> {
    await this.#ownedModel(viewer, modelId);
    return (await this.#repo.listForModel(modelId)).map(toView);
  }

  async lossSeries(viewer: User, id: string) {
    await this.#ownedTraining(viewer, id);
    return (await this.#repo.lossSeries(id)).map((r) => ({ step: Number(r.step), loss: Number(r.loss), meanLoss: Number(r.mean_loss) }));
  }

  async logTail(viewer: User, id: string): Promise<string> {
    return (await this.#ownedTraining(viewer, id)).log_tail ?? '';
  }

  /** Cancel stops billing: before submission it is local, afterwards Replicate must confirm. */
  async cancel(viewer: User, id: string): Promise<TrainingView> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await this.#ownedTraining(viewer, id);
      if (isTerminal(row.status)) throw conflict(`This training has already ${row.status === 'succeeded' ? 'finished' : row.status}; there is nothing to cancel.`);
      const at = this.#now().toISOString();
      const local = nextStatus(row.status, { type: 'cancel' });
      if (local) {
        const failure = classifyFailure(null, { canceledByUser: true });
        if (await this.#repo.updateIfStatus(id, row.status, { status: local, cancel_requested_at: at, completed_at: at, failure_kind: failure.kind, failure_message: failure.message, updated_at: at })) {
          await this.#afterTerminal(row.model_id, row.id);
          this.#publish(await this.#mustFind(id));
          return this.get(viewer, id);
        }
        continue;
      }
      await this.#repo.patch(id, { cancel_requested_at: row.cancel_requested_at ?? at, updated_at: at });
      await this.#jobs.enqueue(cancelTrainingJob, { trainingId: id }, { singletonKey: `training-cancel:${id}` });
      this.#publish(await this.#mustFind(id));
      return this.get(viewer, id);
    }
    throw new AppError('conflict', 'The training changed while canceling; try again.');
  }

  /**
   * The model card: what a ready model was trained on and how, for anyone who can see the model
   * (owner, or everyone when it is public). Null when it has no usable trained version yet.
   */
  async card(viewer: User, modelId: string) {
    await this.#models.get(viewer, modelId);
    const row = (await this.#repo.listForModel(modelId, 100)).find((r) => r.status === 'succeeded' && r.weights_key);
    if (!row) return null;
    const info = BASE_MODEL_INFO[row.base_model as BaseModel];
    return {
      baseModel: row.base_model,
      baseModelLabel: info?.label ?? row.base_model,
      triggerWord: row.trigger_word,
      preset: row.preset,
      resolution: row.resolution,
      epochs: row.epochs,
      steps: row.steps,
      imageCount: row.image_count,
      trainedAt: row.completed_at,
      weightsUrl: `/api/trainings/${row.id}/weights`,
      weightsBytes: row.weights_bytes,
    };
  }

  /** The trained LoRA (`lora.safetensors`) for the owner, or anyone when the model is public. */
  async openWeights(viewer: User, id: string): Promise<{ stream: Readable; size: number; filename: string }> {
    const row = await this.#repo.findById(id);
    // Someone else's private model answers exactly like a training that does not exist.
    const model = row && (await this.#models.get(viewer, row.model_id).catch(() => undefined));
    if (!row || !model) throw notFound('Training');
    if (!row.weights_key) throw notFound('Trained weights');
    const stat = await this.#storage.stat(row.weights_key);
    if (!stat) throw notFound('Trained weights');
    const safeName = model.name.replace(/[^a-zA-Z0-9_-]+/g, '-').replace(/^-|-$/g, '').slice(0, 60) || 'model';
    return { stream: await this.#storage.get(row.weights_key), size: stat.size, filename: `${safeName}.safetensors` };
  }

  // ─── The one transition function, fed by webhooks and polling ──────────────────────────────

  /**
   * Applies a provider snapshot: progress from the new part of the log, and the status change
   * the state machine allows. Idempotent; safe to call with stale or duplicate snapshots.
   */
  async applyRemote(trainingId: string, remote: RemoteTraining): Promise<TrainingRow | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const row = await this.#repo.findById(trainingId);
      if (!row || isTerminal(row.status)) return row;
      if (row.remote_id && row.remote_id !== remote.id) return row; // a snapshot of another training
      const at = this.#now().toISOString();
      const final = isTerminalStatus(remote.status);
      const previousState = row.log_state ? (JSON.parse(row.log_state) as TrainingLogState) : null;
      const parsed = parseTrainingLog(remote.logs, previousState, { final });
      const progress = parsed.liveProgress;
      const event: TrainingEvent = { type: 'remote', status: remote.status, cancelRequested: row.cancel_requested_at !== null };
      const next = nextStatus(row.status, event);
      const logState = JSON.stringify(parsed.state);
      // A poll that learns nothing writes nothing: no row churn, no event, and `last_event_at` keeps
      // meaning "the trainer last said something", which the page's stall notice depends on.
      const unchanged =
        !next && row.remote_id === remote.id && row.remote_status === remote.status && row.log_state === logState &&
        parsed.newLossSamples.length === 0 && !parsed.reset && !(remote.startedAt && !row.started_at);
      if (unchanged) return row;
      const changes: Parameters<TrainingRepository['updateIfStatus']>[2] = {
        remote_id: remote.id,
        remote_status: remote.status,
        log_state: logState,
        log_tail: (remote.logs ?? '').slice(-LOG_TAIL_CHARS),
        stage: parsed.state.stage,
        last_event_at: at,
        updated_at: at,
        ...(progress && {
          progress_step: progress.step,
          progress_total: progress.total,
          progress_percent: progress.percent,
          it_per_second: progress.itPerSecond,
          trainer_eta_seconds: progress.remainingSeconds,
          loss: progress.loss ?? row.loss,
        }),
        ...(remote.startedAt && !row.started_at && { started_at: remote.startedAt }),
        ...(progress && !row.training_started_at && { training_started_at: at }),
      };
      if (next) {
        changes.status = next;
        if (isTerminal(next)) {
          changes.completed_at = remote.completedAt ?? at;
          changes.predict_seconds = remote.predictSeconds;
        }
        if (next === 'succeeded') {
          changes.output_version = remote.output?.version ?? null;
          changes.weights_url = remote.output?.weights ?? null;
          changes.stage = 'uploading';
        }
        if (next === 'failed' || next === 'canceled') {
          const failure = classifyFailure(remote.error, { canceledByUser: next === 'canceled' && row.cancel_requested_at !== null });
          changes.failure_kind = next === 'canceled' && !row.cancel_requested_at ? 'canceled' : failure.kind;
          changes.failure_message = failure.message;
          changes.provider_error = remote.error?.slice(0, 4000) ?? null;
        }
      }
      const applied = await this.#repo.db.transaction().execute(async (trx) => {
        // Also guarded by the log state parsed from: two snapshots applied at once (a poll and a
        // webhook, or a poll that outlived its job lease) must not both append the same loss samples.
        if (!(await this.#repo.updateIfStatus(trainingId, row.status, changes, trx, row.log_state))) return false;
        await this.#repo.appendLoss(trainingId, parsed.newLossSamples, parsed.reset, trx);
        if (next === 'succeeded') await this.#ensureFinalizing(trainingId, trx);
        return true;
      });
      if (!applied) continue; // someone else moved it: re-read and decide again
      if (next === 'failed' || next === 'canceled') await this.#afterTerminal(row.model_id, row.id);
      // Ended by a webhook: the tracker sleeping until its next poll can finish now instead of lingering.
      if (next && isTerminal(next)) await this.#jobs.runNow(trackTrainingJob, trackingKey(trainingId));
      const updated = await this.#mustFind(trainingId);
      this.#publish(updated);
      return updated;
    }
    throw new Error(`Training ${trainingId} kept changing while applying a provider update.`);
  }

  /**
   * Whether Replicate is asked to post webhooks (a provider and a public webhook URL). When not, the
   * webhook route answers 404 before reading the body (src/http/routes/training-routes.ts).
   */
  get webhooksEnabled(): boolean {
    return this.#provider !== null && Boolean(this.#options.webhookUrl);
  }

  /**
   * A Replicate webhook: verified (signature over the raw body, 5-minute timestamp window),
   * deduplicated by webhook-id (Replicate retries the final one), then fed to `applyRemote`
   * like a poll result. Nothing changes unless all checks pass.
   */
  async handleWebhook(headers: Record<string, string | string[] | undefined>, rawBody: Buffer): Promise<{ outcome: 'applied' | 'duplicate' }> {
    const provider = this.#provider;
    if (!provider || !this.webhooksEnabled) throw notFound('Webhook endpoint');
    const verdict = await provider.verifyWebhook(headers, rawBody, this.#now());
    if (!verdict.ok) throw new AppError('unauthenticated', `Webhook rejected: ${verdict.reason}.`);
    const remote = verdict.training;
    const datasetUrl = remote.input.input_images;
    const row = (await this.#repo.findByRemoteId(remote.id))
      // A webhook can beat the create call's response: match the dataset URL only that training used.
      ?? (typeof datasetUrl === 'string' ? await this.#repo.findSubmittingByDatasetUrl(datasetUrl) : undefined);
    if (!row) throw notFound('Training for this webhook');
    if (!(await this.#repo.recordWebhookDelivery(verdict.webhookId, this.#now().toISOString()))) return { outcome: 'duplicate' };
    try {
      if (!row.remote_id) await this.#adopt(row, remote);
      else await this.applyRemote(row.id, remote);
    } catch (error) {
      // Not processed: let Replicate's retry (same webhook-id) try again.
      await this.#repo.forgetWebhookDelivery(verdict.webhookId);
      throw error;
    }
    return { outcome: 'applied' };
  }

  // ─── Job handlers (idempotent; payloads carry only the id) ─────────────────────────────────

  /**
   * Submission, safe against crashes at every point: the zip, upload, destination and version are
   * each stored before the next step, `submitting` is stored before the create call, and a run that
   * finds `submitting` without a remote id first looks for the training on Replicate (matched by
   * the dataset URL only this training used) before creating one. `signal` aborts when the job's
   * run lost its lease: another run now owns the submission.
   */
  async runSubmit(trainingId: string, signal?: AbortSignal): Promise<void> {
    const provider = this.#requireProvider();
    let row = await this.#repo.findById(trainingId);
    if (!row || (row.status !== 'queued' && row.status !== 'submitting')) return;
    let justMarked = false;
    if (row.status === 'queued') {
      if (!row.dataset_key) {
        const pkg = await this.#datasets.buildPackage(row.model_id, row.resolution, `trainings/${row.id}/dataset.zip`);
        await this.#repo.patch(row.id, { dataset_key: pkg.key, image_count: pkg.imageCount, stage: 'queued', updated_at: this.#now().toISOString() });
        row = { ...row, dataset_key: pkg.key, image_count: pkg.imageCount };
      }
      if (!row.dataset_url) {
        const stat = await this.#storage.stat(row.dataset_key!);
        if (!stat) throw new Error(`Training package ${row.dataset_key} is missing from storage.`);
        const key = row.dataset_key!;
        const url = await this.#callProvider(row, async () => provider.uploadDataset(await this.#storage.get(key), { size: stat.size, filename: `theway-${trainingId}.zip`, key }));
        if (url === undefined) return;
        await this.#repo.patch(row.id, { dataset_url: url, updated_at: this.#now().toISOString() });
        row = { ...row, dataset_url: url };
      }
      if (!row.destination || !row.trainer_version) {
        const [owner, name] = row.trainer.split('/') as [string, string];
        const pinned = await this.#callProvider(row, async () => ({ destination: await provider.ensureDestination(), version: await provider.latestTrainerVersion({ owner, name }) }));
        if (pinned === undefined) return;
        await this.#repo.patch(row.id, { destination: pinned.destination, trainer_version: pinned.version, updated_at: this.#now().toISOString() });
        row = { ...row, destination: pinned.destination, trainer_version: pinned.version };
      }
      const at = this.#now().toISOString();
      if (!(await this.#repo.updateIfStatus(row.id, 'queued', { status: 'submitting', submit_attempted_at: at, stage: 'submitting', updated_at: at }))) return;
      row = { ...row, status: 'submitting', submit_attempted_at: at };
      justMarked = true;
      this.#publish(row);
    }
    if (row.remote_id) {
      await this.#ensureTracking(row.id);
      return;
    }
    if (!justMarked) {
      // A previous run may have created it before dying: adopt rather than pay twice.
      const since = new Date(Date.parse(row.submit_attempted_at ?? row.created_at) - 60_000);
      const found = await provider.findRecentTraining((t) => t.input?.input_images === row!.dataset_url, since);
      if (found) {
        await this.#adopt(row, found);
        return;
      }
      const sinceAttempt = this.#now().getTime() - Date.parse(row.submit_attempted_at ?? row.created_at);
      if (sinceAttempt < this.#options.reconcileGraceMs) {
        throw Object.assign(new Error('The last create call may still be in flight; checking again before creating a new training.'), { retryable: true });
      }
      const at = this.#now().toISOString();
      await this.#repo.patch(row.id, { submit_attempted_at: at, updated_at: at });
    }
    const input = { ...(JSON.parse(row.inputs) as Record<string, unknown>), input_images: row.dataset_url };
    const [owner, name] = row.trainer.split('/') as [string, string];
    let created: RemoteTraining;
    // A run that lost its job (lease lapsed while it worked) must not race the run that took over into a second paid training.
    signal?.throwIfAborted();
    try {
      created = await provider.createTraining({ trainer: { owner, name }, trainerVersion: row.trainer_version!, destination: row.destination!, input, webhookUrl: this.#options.webhookUrl });
    } catch (error) {
      if (isProviderError(error) && !error.outcomeUnknown && !error.retryable) {
        await this.#failLocally(row, classifyFailure(error.detail ?? error.message, { notSent: true }), error.message);
        return;
      }
      throw error; // unknown outcome or transient: the job retries, and the retry reconciles first
    }
    await this.#adopt(row, created);
  }

  /** Polls one training until it ends. Returns when to poll again, or null when done. */
  async runTrack(trainingId: string): Promise<number | null> {
    const row = await this.#repo.findById(trainingId);
    if (!row) return null;
    if (isTerminal(row.status)) {
      if (row.status === 'succeeded' && !row.weights_key) await this.#ensureFinalizing(trainingId);
      return null;
    }
    if (!row.remote_id) return row.status === 'submitting' || row.status === 'queued' ? this.#options.pollIntervalMs.active : null;
    const remote = await this.#requireProvider().getTraining(row.remote_id);
    const updated = await this.applyRemote(trainingId, remote);
    if (!updated || isTerminal(updated.status)) {
      if (updated?.status === 'succeeded' && !updated.weights_key) await this.#ensureFinalizing(trainingId);
      return null;
    }
    if (updated.cancel_requested_at && updated.remote_status !== 'canceled') {
      await this.#jobs.enqueue(cancelTrainingJob, { trainingId }, { singletonKey: `training-cancel:${trainingId}` });
    }
    // Progress comes from polling also with webhooks, which only announce the start and the end.
    return this.#options.pollIntervalMs.active;
  }

  /** Asks Replicate to stop (and stop billing); the status changes when it confirms. */
  async runCancel(trainingId: string): Promise<void> {
    const row = await this.#repo.findById(trainingId);
    if (!row || isTerminal(row.status) || !row.cancel_requested_at) return;
    if (!row.remote_id) return; // the submit job cancels right after it creates or adopts
    const remote = await this.#requireProvider().cancelTraining(row.remote_id);
    await this.applyRemote(trainingId, remote);
    await this.#ensureTracking(trainingId);
  }

  /** Copies `lora.safetensors` out of Replicate's expiring `trained_model.tar` into our storage. */
  async runFinalize(trainingId: string): Promise<void> {
    const row = await this.#repo.findById(trainingId);
    if (!row || row.status !== 'succeeded' || row.weights_key) return;
    if (!row.weights_url) return this.#endWithoutWeights(row, 'Replicate reported success but no weights file.');
    const key = `trainings/${row.id}/lora.safetensors`;
    let archive: Readable;
    try {
      archive = await this.#requireProvider().downloadWeights(row.weights_url);
    } catch (error) {
      // Gone (404/410: the link expired, e.g. while this server was down): retrying cannot bring it back.
      if (isProviderError(error) && !error.retryable) {
        return this.#endWithoutWeights(row, `The trained weights could no longer be copied from Replicate (${error.message}); its download links expire. Train the model again.`);
      }
      throw error;
    }
    const stored = await extractLora(archive, (entry) => this.#storage.put(key, entry, { contentType: 'application/octet-stream' }));
    if (!stored) throw new Error('The trained weights archive has no lora.safetensors.');
    const at = this.#now().toISOString();
    await this.#repo.patch(trainingId, { weights_key: key, weights_bytes: stored.size, stage: 'finished', updated_at: at });
    await this.#afterTerminal(row.model_id, trainingId);
    this.#publish(await this.#mustFind(trainingId));
  }

  /**
   * The submit job ran out of attempts (e.g. Replicate unreachable for a long while). Before the create
   * call nothing can have been charged, so the training fails with the reason. Once `submitting`, a
   * training may exist on Replicate and is never abandoned: returns when to reconcile again.
   */
  async giveUpSubmit(trainingId: string, error: unknown): Promise<number | null> {
    const row = await this.#repo.findById(trainingId);
    if (!row || isTerminal(row.status)) return null;
    if (row.status !== 'queued') return this.#options.pollIntervalMs.max;
    const last = error instanceof Error ? error.message : String(error);
    const failure = classifyFailure(null);
    await this.#failLocally(row, { ...failure, message: 'The training could not be sent to Replicate after retrying for a long while, so nothing was charged. Start it again.' }, last);
    return null;
  }

  /** A paid training is never abandoned: when its tracking job runs out of attempts it polls on at the slowest pace. */
  slowestPollMs(): number {
    return this.#options.pollIntervalMs.max;
  }

  /** The copy job ran out of attempts: end the training's copy with the reason instead of leaving the model "training". */
  async giveUpFinalize(trainingId: string, error: unknown): Promise<void> {
    const row = await this.#repo.findById(trainingId);
    if (!row || row.status !== 'succeeded' || row.weights_key) return;
    await this.#endWithoutWeights(row, `The trained weights could not be copied from Replicate: ${error instanceof Error ? error.message : String(error)}. Train the model again.`);
  }

  /** A succeeded training whose weights will never be copied: say why, and let the model leave "training". */
  async #endWithoutWeights(row: TrainingRow, message: string): Promise<void> {
    await this.#repo.patch(row.id, { failure_message: message.slice(0, 2000), stage: 'finished', updated_at: this.#now().toISOString() });
    await this.#afterTerminal(row.model_id, row.id);
    this.#publish(await this.#mustFind(row.id));
  }

  /**
   * A deleted model's trainings take their rows with them (cascade); their zips and weights live
   * under `trainings/<id>/`, so the ids are read before the delete and the files removed after.
   */
  async prepareModelDeletion(modelId: string): Promise<() => Promise<void>> {
    const ids = await this.#repo.idsForModel(modelId);
    return async () => {
      for (const id of ids) await this.#storage.deletePrefix(`trainings/${id}/`);
    };
  }

  /**
   * Forgets the ids of webhooks received more than `ageMs` ago. Replays older than the 5-minute
   * signature window are refused by their timestamp anyway, so a day of ids is plenty.
   */
  async pruneWebhookDeliveries(ageMs: number): Promise<void> {
    await this.#repo.pruneWebhookDeliveries(new Date(this.#now().getTime() - ageMs).toISOString());
  }

  /**
   * Makes sure every unfinished training has its job: at start, and in each housekeeping round,
   * because a job can end without its training (a worker lost on the job's last attempt fails the
   * job without running its give-up path). The singleton keys make this a no-op for live jobs.
   * A succeeded training whose weights are not copied yet (and not given up on) counts as unfinished.
   */
  async resumeUnfinished(): Promise<number> {
    const rows = await this.#repo.listUnfinished();
    for (const r of rows) {
      if (r.status === 'queued' || r.status === 'submitting') await this.#jobs.enqueue(submitTrainingJob, { trainingId: r.id }, { singletonKey: `training-submit:${r.id}` });
      else if (r.status === 'succeeded') await this.#ensureFinalizing(r.id);
      else await this.#ensureTracking(r.id);
    }
    return rows.length;
  }

  // ─── internals ──────────────────────────────────────────────────────────────────────────

  async #adopt(row: TrainingRow, remote: RemoteTraining): Promise<void> {
    const at = this.#now().toISOString();
    const moved = await this.#repo.updateIfStatus(row.id, 'submitting', { status: 'starting', remote_id: remote.id, remote_status: remote.status, stage: 'booting', updated_at: at });
    if (!moved) await this.#repo.patch(row.id, { remote_id: row.remote_id ?? remote.id, updated_at: at });
    await this.applyRemote(row.id, remote);
    const current = await this.#mustFind(row.id);
    if (current.cancel_requested_at && !isTerminal(current.status)) await this.#jobs.enqueue(cancelTrainingJob, { trainingId: row.id }, { singletonKey: `training-cancel:${row.id}` });
    await this.#ensureTracking(row.id);
  }

  async #ensureTracking(trainingId: string): Promise<void> {
    await this.#jobs.enqueue(trackTrainingJob, { trainingId }, { singletonKey: trackingKey(trainingId) });
  }

  /** The weights copy's job (one at a time per training), in the caller's transaction when given. */
  async #ensureFinalizing(trainingId: string, transaction?: Transaction<Database>): Promise<void> {
    await this.#jobs.enqueue(finalizeTrainingJob, { trainingId }, { singletonKey: `training-finalize:${trainingId}`, transaction });
  }

  /**
   * Runs a provider call whose refusal ends the training (bad token, no credit…) rather than
   * being retried. Returns undefined when the training was failed.
   */
  async #callProvider<T>(row: TrainingRow, call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      if (isProviderError(error) && !error.retryable) {
        await this.#failLocally(row, classifyFailure(error.detail ?? error.message, { notSent: true }), error.message);
        return undefined;
      }
      throw error;
    }
  }

  async #failLocally(row: TrainingRow, failure: ReturnType<typeof classifyFailure>, providerError: string): Promise<void> {
    const at = this.#now().toISOString();
    const current = await this.#mustFind(row.id);
    if (!nextStatus(current.status, { type: 'fail' })) return;
    if (await this.#repo.updateIfStatus(row.id, current.status, { status: 'failed', failure_kind: failure.kind, failure_message: failure.message, provider_error: providerError.slice(0, 4000), completed_at: at, updated_at: at })) {
      await this.#afterTerminal(row.model_id, row.id);
      this.#publish(await this.#mustFind(row.id));
    }
  }

  /** A model with a usable version stays ready when a retrain fails; otherwise it shows the failure. */
  async #afterTerminal(modelId: string, trainingId: string): Promise<void> {
    const rows = await this.#repo.listForModel(modelId, 100);
    const status = rows.some((r) => r.status === 'succeeded' && r.weights_key) ? 'ready' : rows[0]?.status === 'failed' ? 'failed' : 'draft';
    await this.#models.setStatus(modelId, status);
    for (const listener of this.#endedListeners) await listener(trainingId);
  }

  /** Runs when a training has ended for good: ready to use, failed, or canceled. */
  addEndedListener(listener: (trainingId: string) => Promise<void>): void {
    this.#endedListeners.push(listener);
  }

  async #history(baseModel: BaseModel, resolution: number): Promise<RunHistory> {
    const runs = await this.#repo.finishedRunStats(baseModel, resolution);
    const secondsPerStep = runs.filter((r) => r.it_per_second && r.it_per_second > 0).map((r) => 1 / Number(r.it_per_second));
    const overheadSeconds = runs
      .filter((r) => r.started_at && r.completed_at && r.it_per_second)
      .map((r) => (Date.parse(r.completed_at!) - Date.parse(r.started_at!)) / 1000 - Number(r.steps) / Number(r.it_per_second))
      .filter((s) => s >= 0);
    return { secondsPerStep, overheadSeconds };
  }

  #requireProvider(): TrainingProvider {
    if (!this.#provider) throw new AppError('conflict', 'Training is not configured on this server: the administrator must set REPLICATE_API_TOKEN.');
    return this.#provider;
  }

  async #ownedModel(viewer: User, modelId: string) {
    const model = await this.#models.get(viewer, modelId);
    if (!model.isOwner) throw notFound('Model');
    return model;
  }

  async #ownedTraining(viewer: User, id: string): Promise<TrainingRow> {
    const row = await this.#repo.findById(id);
    if (!row || row.owner_id !== viewer.id) throw notFound('Training');
    return row;
  }

  async #mustFind(id: string): Promise<TrainingRow> {
    const row = await this.#repo.findById(id);
    if (!row) throw notFound('Training');
    return row;
  }

  #publish(row: TrainingRow): void {
    const { progress } = toView(row);
    this.#events.publish({
      type: 'training.updated',
      ownerId: row.owner_id,
      modelId: row.model_id,
      trainingId: row.id,
      status: row.status,
      progress: { stage: progress.stage, percent: progress.percent, step: progress.step, totalSteps: progress.totalSteps, trainerEtaSeconds: progress.trainerEtaSeconds, loss: progress.loss },
      at: this.#now().toISOString(),
    });
  }
}

/** Streams the tar and hands the first `…/lora.safetensors` entry to `store`; the rest is skipped. */
async function extractLora<T>(archive: Readable, store: (entry: Readable) => Promise<T>): Promise<T | undefined> {
  const extract = tar.extract();
  let stored: T | undefined;
  extract.on('entry', (header, stream, next) => {
    if (stored === undefined && header.type === 'file' && /(^|\/)lora\.safetensors$/.test(header.name)) {
      // tar-stream entries are streamx streams; node's storage adapters want a node Readable.
      store(Readable.from(stream as AsyncIterable<Buffer>)).then((r) => { stored = r; next(); }, (e: unknown) => extract.destroy(e as Error));
    } else {
      stream.on('end', next);
      stream.resume();
    }
  });
  await pipeline(archive, extract);
  return stored;
}

function toView(row: TrainingRow): TrainingView {
  const failure = row.failure_kind ? { kind: row.failure_kind, message: row.failure_message ?? '', nextStep: classifyFailureNextStep(row) } : null;
  const total = row.progress_total ?? row.steps;
  return {
    id: row.id,
    modelId: row.model_id,
    status: row.status,
    settings: { baseModel: row.base_model, preset: row.preset, resolution: row.resolution, epochs: row.epochs, steps: row.steps, imageCount: row.image_count, triggerWord: row.trigger_word, formula: row.formula, inputs: JSON.parse(row.inputs) },
    estimate: JSON.parse(row.estimate),
    progress: {
      stage: row.stage,
      step: row.progress_step,
      totalSteps: total,
      percent: row.status === 'succeeded' ? 100 : row.progress_percent,
      itPerSecond: row.it_per_second,
      trainerEtaSeconds: row.trainer_eta_seconds,
      loss: row.loss,
    },
    failure,
    cancelRequested: row.cancel_requested_at !== null,
    weightsAvailable: row.weights_key !== null,
    weightsNotice: row.status === 'succeeded' && row.weights_key === null && !row.failure_kind ? row.failure_message : null,
    outputVersion: row.output_version,
    retrainOf: row.retrain_of,
    queuedAt: row.queued_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    lastEventAt: row.last_event_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function classifyFailureNextStep(row: TrainingRow): string {
  if (row.failure_kind === 'canceled') return classifyFailure(null, { canceledByUser: true }).nextStep;
  return classifyFailure(row.provider_error, { notSent: row.remote_id === null }).nextStep;
}

const trackingKey = (trainingId: string) => `training-track:${trainingId}`;
