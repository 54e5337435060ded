import type { Readable } from 'node:stream';
import type { ReplicateStatus } from './replicate/types.ts';

/**
 * The training port: what the trainings service needs from a cloud trainer, in its own terms.
 * The Replicate adapter (replicate/replicate-training-provider.ts) is the one implementation;
 * tests drive it against the Replicate emulator over HTTP.
 */
export interface RemoteTraining {
  id: string;
  status: ReplicateStatus;
  /** The whole log so far (parse incrementally). */
  logs: string | null;
  error: string | null;
  input: Record<string, unknown>;
  output: { version: string; weights: string } | null;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
  predictSeconds: number | null;
}

export interface TrainerRef {
  owner: string;
  name: string;
}

export interface CreateRemoteTraining {
  trainer: TrainerRef;
  trainerVersion: string;
  destination: string;
  input: Record<string, unknown>;
  webhookUrl?: string | undefined;
}

/**
 * Errors from a provider call. `outcomeUnknown`: a create may have happened despite the error
 * (timeout, 5xx): reconcile before trying again. `retryable`: the same call may succeed later.
 */
export interface ProviderError extends Error {
  retryable: boolean;
  outcomeUnknown: boolean;
  status?: number;
  detail?: string;
}

export const isProviderError = (e: unknown): e is ProviderError =>
  e instanceof Error && typeof (e as Partial<ProviderError>).retryable === 'boolean' && typeof (e as Partial<ProviderError>).outcomeUnknown === 'boolean';

export interface TrainingProvider {
  /** The platform's destination model, created once if missing. */
  ensureDestination(): Promise<string>;
  /** The trainer's current version id, to pin on a training. */
  latestTrainerVersion(trainer: TrainerRef): Promise<string>;
  /**
   * Makes the training zip reachable by the trainer; returns the URL to pass as input_images.
   * `key` is where the zip sits in our storage, for adapters that can hand the trainer a link to it.
   */
  uploadDataset(body: Readable, options: { size: number; filename: string; key?: string }): Promise<string>;
  createTraining(params: CreateRemoteTraining): Promise<RemoteTraining>;
  getTraining(id: string): Promise<RemoteTraining>;
  /** Newest first, stopping at trainings created before `since`: for reconciling an unknown outcome. */
  findRecentTraining(match: (t: RemoteTraining) => boolean, since: Date): Promise<RemoteTraining | undefined>;
  cancelTraining(id: string): Promise<RemoteTraining>;
  /** The trained weights archive (trained_model.tar) as a stream. */
  downloadWeights(url: string): Promise<Readable>;
  /**
   * Checks a webhook's signature and freshness over the raw body and parses the training in it.
   * `reason` is safe to show (it never contains key material).
   */
  verifyWebhook(headers: Record<string, string | string[] | undefined>, rawBody: Buffer, now: Date): Promise<WebhookVerdict>;
}

export type WebhookVerdict =
  | { ok: true; webhookId: string; training: RemoteTraining }
  | { ok: false; reason: string };
