import { Readable } from 'node:stream';
import type { CreateRemoteTraining, RemoteTraining, TrainerRef, TrainingProvider, WebhookVerdict } from '../training-provider.ts';
import { verifyWebhook } from './webhook-signature.ts';
import { isTerminalStatus } from './types.ts';
import type { ReplicateClient } from './client.ts';
import { isReplicateApiError } from './errors.ts';
import type { ReplicateTraining } from './types.ts';

export interface ReplicateTrainingProviderOptions {
  /** `owner/name` of the one private model all trainings write versions into. */
  destination: string;
  /** Hardware for the destination model's predictions. */
  destinationHardware: string;
  /** Largest zip sent through the Files API; bigger ones need a presigned URL (S3 storage). */
  maxUploadBytes: number;
  /**
   * A URL Replicate can download a stored zip from, by storage key, or null when the storage
   * cannot make one (local directory). With S3 storage: a presigned GET valid for
   * DATASET_URL_TTL_SECONDS. Used only for zips above `maxUploadBytes`.
   */
  presignDataset?: ((key: string) => Promise<string | null>) | undefined;
  fetch?: typeof fetch;
}

/**
 * How long a presigned training zip stays downloadable: Replicate fetches it when the training
 * starts, which can be hours after the submission in a busy queue (or after our retries).
 */
export const DATASET_URL_TTL_SECONDS = 24 * 3600;

const toRemote = (t: ReplicateTraining): RemoteTraining => ({
  id: t.id,
  status: t.status,
  logs: t.logs,
  error: t.error,
  input: t.input ?? {},
  output: t.output && typeof t.output.version === 'string' ? { version: t.output.version, weights: t.output.weights } : null,
  createdAt: t.created_at,
  startedAt: t.started_at,
  completedAt: t.completed_at,
  predictSeconds: t.metrics?.predict_time ?? null,
});

export class ReplicateTrainingProvider implements TrainingProvider {
  readonly #client: ReplicateClient;
  readonly #options: ReplicateTrainingProviderOptions;
  #secret: Promise<string> | undefined;

  constructor(client: ReplicateClient, options: ReplicateTrainingProviderOptions) {
    this.#client = client;
    this.#options = options;
  }

  async ensureDestination(): Promise<string> {
    const [owner, name] = this.#options.destination.split('/') as [string, string];
    try {
      await this.#client.getModel(owner, name);
    } catch (error) {
      if (!isReplicateApiError(error, 404)) throw error;
      try {
        await this.#client.createModel({
          owner,
          name,
          visibility: 'private',
          hardware: this.#options.destinationHardware,
          description: 'LoRA versions trained by The Way. Each version is one user model.',
        });
      } catch (createError) {
        // Another worker created it between our read and our create: that is fine.
        if (!isReplicateApiError(createError, 409)) throw createError;
      }
    }
    return this.#options.destination;
  }

  async latestTrainerVersion(trainer: TrainerRef): Promise<string> {
    const model = await this.#client.getModel(trainer.owner, trainer.name);
    const id = model.latest_version?.id;
    if (!id) throw new Error(`The trainer ${trainer.owner}/${trainer.name} has no published version.`);
    return id;
  }

  async uploadDataset(body: Readable, options: { size: number; filename: string; key?: string }): Promise<string> {
    if (options.size > this.#options.maxUploadBytes) {
      // Too big for the Files API: Replicate downloads it from our bucket instead. The presigned
      // URL names this training's own zip key, so it identifies the training when reconciling, like a file URL.
      body.destroy();
      const url = options.key !== undefined && this.#options.presignDataset ? await this.#options.presignDataset(options.key) : null;
      if (url) return url;
      throw Object.assign(new Error(`The training images add up to ${Math.ceil(options.size / 2 ** 20)} MiB, more than Replicate's file upload accepts (${Math.floor(this.#options.maxUploadBytes / 2 ** 20)} MiB). Remove some images or use S3 storage, which hands Replicate a presigned URL instead.`), { retryable: false, outcomeUnknown: false });
    }
    const file = await this.#client.uploadFile(body, { filename: options.filename, contentType: 'application/zip' });
    return file.urls.get;
  }

  async createTraining(params: CreateRemoteTraining): Promise<RemoteTraining> {
    const t = await this.#client.createTraining({
      trainerOwner: params.trainer.owner,
      trainerName: params.trainer.name,
      trainerVersion: params.trainerVersion,
      destination: params.destination,
      input: params.input,
      // Not `logs`: Replicate sends the whole log with each one, up to twice a second per training,
      // several times the cost of polling for progress (docs/decisions.md, "Webhooks for start and end").
      ...(params.webhookUrl && { webhook: params.webhookUrl, webhookEventsFilter: ['start', 'completed'] as const }),
    } as Parameters<ReplicateClient['createTraining']>[0]);
    return toRemote(t);
  }

  async getTraining(id: string): Promise<RemoteTraining> {
    return toRemote(await this.#client.getTraining(id));
  }

  async findRecentTraining(match: (t: RemoteTraining) => boolean, since: Date): Promise<RemoteTraining | undefined> {
    for await (const t of this.#client.listTrainings()) {
      const remote = toRemote(t);
      if (match(remote)) return remote;
      if (Date.parse(t.created_at) < since.getTime()) return undefined;
    }
    return undefined;
  }

  async cancelTraining(id: string): Promise<RemoteTraining> {
    return toRemote(await this.#client.cancelTraining(id));
  }

  async downloadWeights(url: string): Promise<Readable> {
    const res = await (this.#options.fetch ?? fetch)(url, { redirect: 'follow', signal: AbortSignal.timeout(10 * 60_000) });
    if (!res.ok || !res.body) {
      throw Object.assign(new Error(`Downloading the trained weights failed with HTTP ${res.status}.`), { retryable: res.status >= 500 || res.status === 429, outcomeUnknown: false, status: res.status });
    }
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  }

  async verifyWebhook(headers: Record<string, string | string[] | undefined>, rawBody: Buffer, now: Date): Promise<WebhookVerdict> {
    const verdict = verifyWebhook({ secret: await this.#webhookSecret(), headers, rawBody, now: () => now.getTime() });
    if (!verdict.ok) return { ok: false, reason: verdict.reason.replaceAll('_', ' ') };
    let body: ReplicateTraining;
    try {
      // Redacted after the signature check (which needs the exact bytes), like every answer of the client.
      body = JSON.parse(this.#client.redact(Buffer.from(rawBody).toString('utf8'))) as ReplicateTraining;
    } catch {
      return { ok: false, reason: 'body is not JSON' };
    }
    const known = isTerminalStatus(body?.status) || body?.status === 'starting' || body?.status === 'processing';
    if (typeof body?.id !== 'string' || !known) return { ok: false, reason: 'body is not a training object' };
    return { ok: true, webhookId: verdict.webhookId, training: toRemote(body) };
  }

  #webhookSecret(): Promise<string> {
    // Fetched once per process; a failed fetch is retried on the next webhook.
    this.#secret ??= this.#client.getWebhookSecret().catch((error: unknown) => {
      this.#secret = undefined;
      throw error;
    });
    return this.#secret;
  }
}
