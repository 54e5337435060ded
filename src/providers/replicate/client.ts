import { Readable } from 'node:stream';
import { setTimeout as sleepTimer } from 'node:timers/promises';
import { errorBackoffMs, rateLimitBackoffMs, rateLimitDelayMs } from './backoff.ts';
import {
  ReplicateApiError,
  ReplicateNetworkError,
  ReplicateProtocolError,
  ReplicateTimeoutError,
  type InvalidField,
} from './errors.ts';
import type {
  ModelVisibility,
  ReplicateFile,
  ReplicateModel,
  ReplicatePage,
  ReplicatePrediction,
  ReplicateTraining,
  ReplicateVersion,
  WebhookEventType,
} from './types.ts';

/**
 * Our own fetch-based Replicate client. The npm `replicate` package is not used: its 429 retry has
 * no working backoff, it retries creates, its file handling can leak the token, and everything we
 * need is a handful of plain JSON calls (see docs/replicate-contract.md).
 *
 * Retry rules: 429 is retried for every call (the request was rejected before doing anything);
 * 5xx, timeouts and network failures only for idempotent calls (GETs and cancels). A create is never
 * re-posted after an ambiguous failure: the error says `outcomeUnknown` and the caller reconciles.
 */

export const DEFAULT_REPLICATE_BASE_URL = 'https://api.replicate.com/v1';
export const MAX_FILE_BYTES = 100 * 1024 * 1024;

export interface ReplicateLogger {
  warn(details: Record<string, unknown>, message: string): void;
  debug?(details: Record<string, unknown>, message: string): void;
}

export interface ReplicateClientOptions {
  token: string;
  /** Default `https://api.replicate.com/v1`; tests point it at the emulator. */
  baseUrl?: string;
  /** Per-attempt timeout for ordinary calls. Default 30 s. */
  timeoutMs?: number;
  /** Per-attempt timeout for file uploads. Default 5 min. */
  uploadTimeoutMs?: number;
  /** Total attempts per call, the first included. Default 5. */
  maxAttempts?: number;
  /** A 429 asking for a longer wait than this is returned to the caller instead. Default 2 min. */
  maxRateLimitWaitMs?: number;
  /** Injectable so tests don't wait for real backoffs. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Injectable jitter source, [0, 1). */
  random?: () => number;
  now?: () => number;
  fetch?: typeof fetch;
  logger?: ReplicateLogger;
  userAgent?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface UploadFileOptions extends CallOptions {
  filename: string;
  contentType?: string;
  metadata?: Record<string, unknown>;
}

export interface CreateModelParams extends CallOptions {
  owner: string;
  name: string;
  visibility: ModelVisibility;
  /** Hardware SKU for the model's predictions, e.g. `gpu-t4` or `cpu`. */
  hardware: string;
  description?: string;
}

export interface CreateTrainingParams extends CallOptions {
  trainerOwner: string;
  trainerName: string;
  /** Pin the trainer version per training (resolve it once from `getModel().latest_version.id`). */
  trainerVersion: string;
  /** `owner/name` of an existing destination model. */
  destination: string;
  input: Record<string, unknown>;
  webhook?: string;
  webhookEventsFilter?: readonly WebhookEventType[];
}

export interface CreatePredictionParams extends CallOptions {
  /** The 64-hex version id (a trained version). */
  version: string;
  input: Record<string, unknown>;
  webhook?: string;
  webhookEventsFilter?: readonly WebhookEventType[];
  /** Sends `Prefer: wait=N` (clamped to 1–60): Replicate holds the response until done or N s. */
  waitSeconds?: number;
}

interface RequestSpec {
  method: 'GET' | 'POST';
  /** Relative to the base URL, or an absolute URL on the same origin (list cursors). */
  target: string;
  body?: FormData | Record<string, unknown>;
  headers?: Record<string, string>;
  idempotent: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
}

export class ReplicateClient {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #uploadTimeoutMs: number;
  readonly #maxAttempts: number;
  readonly #maxRateLimitWaitMs: number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #fetch: typeof fetch;
  readonly #logger: ReplicateLogger | undefined;
  readonly #userAgent: string;

  constructor(options: ReplicateClientOptions) {
    if (!options.token) throw new Error('A Replicate API token is required.');
    this.baseUrl = (options.baseUrl ?? DEFAULT_REPLICATE_BASE_URL).replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#uploadTimeoutMs = options.uploadTimeoutMs ?? 300_000;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#maxRateLimitWaitMs = options.maxRateLimitWaitMs ?? 120_000;
    this.#sleep = options.sleep ?? ((ms, signal) => sleepTimer(ms, undefined, signal === undefined ? {} : { signal }));
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#logger = options.logger;
    this.#userAgent = options.userAgent ?? 'theway-replicate-client';
  }

  // Keeps the token out of console.log / util.inspect output of the client object.
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl };
  }

  /** Uploads a file (≤100 MiB) to the Files API; pass `urls.get` as a training input. */
  async uploadFile(content: Buffer | Uint8Array | Readable | Blob, options: UploadFileOptions): Promise<ReplicateFile> {
    if (Buffer.byteLength(options.filename, 'utf8') > 255) throw new Error('Replicate file names are limited to 255 bytes.');
    const contentType = options.contentType ?? 'application/octet-stream';
    // A stream is read into memory once so that a 429 can re-send it; the Files API caps size anyway.
    const blob = content instanceof Blob ? content : new Blob([(await toBytes(content)) as BlobPart], { type: contentType });
    if (blob.size > MAX_FILE_BYTES) throw new Error('Replicate files are limited to 100 MiB; serve larger ones from own storage.');
    const form = new FormData();
    form.append('content', blob, options.filename);
    form.append('type', contentType);
    form.append('filename', options.filename);
    form.append('metadata', JSON.stringify(options.metadata ?? {}));
    return this.#request<ReplicateFile>({
      method: 'POST',
      target: '/files',
      body: form,
      idempotent: false,
      timeoutMs: this.#uploadTimeoutMs,
      ...signalOf(options),
    });
  }

  getModel(owner: string, name: string, options: CallOptions = {}): Promise<ReplicateModel> {
    return this.#get(`/models/${seg(owner)}/${seg(name)}`, options);
  }

  /** Rejects with a 409 `ReplicateApiError` when the name is taken (deleted names stay taken). */
  createModel(params: CreateModelParams): Promise<ReplicateModel> {
    const body: Record<string, unknown> = {
      owner: params.owner,
      name: params.name,
      visibility: params.visibility,
      hardware: params.hardware,
    };
    if (params.description !== undefined) body.description = params.description;
    return this.#post('/models', body, signalOf(params));
  }

  /** Includes `openapi_schema`, whose `components.schemas.Input` describes the accepted input. */
  getVersion(owner: string, name: string, versionId: string, options: CallOptions = {}): Promise<ReplicateVersion> {
    return this.#get(`/models/${seg(owner)}/${seg(name)}/versions/${seg(versionId)}`, options);
  }

  /**
   * Starts a training. Never retried except on 429: there is no idempotency key, so a second POST
   * could start (and bill) a second training. On `outcomeUnknown` errors, reconcile via listTrainings.
   */
  createTraining(params: CreateTrainingParams): Promise<ReplicateTraining> {
    const body: Record<string, unknown> = { destination: params.destination, input: params.input };
    if (params.webhook !== undefined) body.webhook = params.webhook;
    if (params.webhookEventsFilter !== undefined) body.webhook_events_filter = params.webhookEventsFilter;
    const path = `/models/${seg(params.trainerOwner)}/${seg(params.trainerName)}/versions/${seg(params.trainerVersion)}/trainings`;
    return this.#post(path, body, signalOf(params));
  }

  getTraining(id: string, options: CallOptions = {}): Promise<ReplicateTraining> {
    return this.#get(`/trainings/${seg(id)}`, options);
  }

  /** Newest first, following Replicate's `next` cursor URLs verbatim. Stop early with `break`. */
  async *listTrainings(options: CallOptions = {}): AsyncGenerator<ReplicateTraining, void, undefined> {
    let target: string | null = '/trainings';
    while (target !== null) {
      const page: ReplicatePage<ReplicateTraining> = await this.#get(target, options);
      for (const training of page.results) yield training;
      target = page.next;
    }
  }

  cancelTraining(id: string, options: CallOptions = {}): Promise<ReplicateTraining> {
    return this.#request({ method: 'POST', target: `/trainings/${seg(id)}/cancel`, idempotent: true, timeoutMs: this.#timeoutMs, ...signalOf(options) });
  }

  /** Not retried except on 429, like createTraining. */
  createPrediction(params: CreatePredictionParams): Promise<ReplicatePrediction> {
    const body: Record<string, unknown> = { version: params.version, input: params.input };
    if (params.webhook !== undefined) body.webhook = params.webhook;
    if (params.webhookEventsFilter !== undefined) body.webhook_events_filter = params.webhookEventsFilter;
    const headers: Record<string, string> = {};
    let timeoutMs = this.#timeoutMs;
    if (params.waitSeconds !== undefined) {
      const wait = Math.min(60, Math.max(1, Math.round(params.waitSeconds)));
      headers.Prefer = `wait=${wait}`;
      // The server legitimately holds the response for up to `wait` seconds.
      timeoutMs = Math.max(timeoutMs, (wait + 10) * 1000);
    }
    return this.#request({ method: 'POST', target: '/predictions', body, headers, idempotent: false, timeoutMs, ...signalOf(params) });
  }

  getPrediction(id: string, options: CallOptions = {}): Promise<ReplicatePrediction> {
    return this.#get(`/predictions/${seg(id)}`, options);
  }

  cancelPrediction(id: string, options: CallOptions = {}): Promise<ReplicatePrediction> {
    return this.#request({ method: 'POST', target: `/predictions/${seg(id)}/cancel`, idempotent: true, timeoutMs: this.#timeoutMs, ...signalOf(options) });
  }

  /** The account's webhook signing secret, `whsec_…`. */
  async getWebhookSecret(options: CallOptions = {}): Promise<string> {
    const body = await this.#get<{ key?: unknown }>('/webhooks/default/secret', options);
    if (typeof body.key !== 'string') {
      throw new ReplicateProtocolError({ method: 'GET', path: '/webhooks/default/secret', message: 'response has no key' });
    }
    return body.key;
  }

  #get<T>(target: string, options: CallOptions): Promise<T> {
    return this.#request<T>({ method: 'GET', target, idempotent: true, timeoutMs: this.#timeoutMs, ...signalOf(options) });
  }

  #post<T>(target: string, body: Record<string, unknown>, options: CallOptions): Promise<T> {
    return this.#request<T>({ method: 'POST', target, body, idempotent: false, timeoutMs: this.#timeoutMs, ...signalOf(options) });
  }

  #resolve(target: string): URL {
    if (!/^https?:\/\//i.test(target)) return new URL(this.baseUrl + target);
    const url = new URL(target);
    // Cursor URLs come from the server; the token must never be sent to another origin.
    if (url.origin !== new URL(this.baseUrl).origin) {
      throw new ReplicateProtocolError({ method: 'GET', path: url.pathname, message: 'refusing to follow a cursor to another origin' });
    }
    return url;
  }

  async #request<T>(spec: RequestSpec): Promise<T> {
    const url = this.#resolve(spec.target);
    const path = url.pathname;
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.#token}`,
      'User-Agent': this.#userAgent,
      Accept: 'application/json',
      ...spec.headers,
    };
    let body: FormData | string | undefined;
    if (spec.body instanceof FormData) body = spec.body;
    else if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers['Content-Type'] = 'application/json';
    }

    for (let attempt = 1; ; attempt++) {
      const timeoutSignal = AbortSignal.timeout(spec.timeoutMs);
      const signal = spec.signal ? AbortSignal.any([spec.signal, timeoutSignal]) : timeoutSignal;
      let response: Response;
      let text: string;
      try {
        response = await this.#fetch(url, { method: spec.method, headers, body: body ?? null, signal, redirect: 'error' });
        text = await response.text();
      } catch (cause) {
        if (spec.signal?.aborted) throw spec.signal.reason;
        const error = timeoutSignal.aborted
          ? new ReplicateTimeoutError({ method: spec.method, path, timeoutMs: spec.timeoutMs, idempotent: spec.idempotent })
          : new ReplicateNetworkError({ method: spec.method, path, idempotent: spec.idempotent, cause });
        if (spec.idempotent && attempt < this.#maxAttempts) {
          await this.#wait(errorBackoffMs(attempt, this.#random), spec, attempt, error.message);
          continue;
        }
        throw error;
      }

      // Trainer logs and errors are free text from someone else's code: one that quotes our token must not carry it into our rows, answers and logs.
      if (response.ok) return this.#parseJson<T>(this.redact(text), spec.method, path);

      const problem = parseProblem(text, response.status);
      let retryAfterMs: number | null = null;
      if (response.status === 429) {
        retryAfterMs = rateLimitDelayMs(response.headers.get('retry-after'), problem.detail, this.#now());
        if (attempt < this.#maxAttempts && (retryAfterMs ?? 0) <= this.#maxRateLimitWaitMs) {
          await this.#wait(rateLimitBackoffMs(retryAfterMs, attempt, this.#random), spec, attempt, 'rate limited');
          continue;
        }
      } else if (response.status >= 500 && spec.idempotent && attempt < this.#maxAttempts) {
        await this.#wait(errorBackoffMs(attempt, this.#random), spec, attempt, `status ${response.status}`);
        continue;
      }
      throw new ReplicateApiError({
        method: spec.method,
        path,
        status: response.status,
        title: problem.title === null ? null : this.redact(problem.title),
        detail: this.redact(problem.detail),
        invalidFields: problem.invalidFields,
        retryAfterMs,
      });
    }
  }

  async #wait(ms: number, spec: RequestSpec, attempt: number, reason: string): Promise<void> {
    this.#logger?.warn({ method: spec.method, path: this.#resolve(spec.target).pathname, attempt, delayMs: ms, reason }, 'retrying Replicate call');
    await this.#sleep(ms, spec.signal);
  }

  #parseJson<T>(text: string, method: string, path: string): T {
    try {
      const value: unknown = JSON.parse(text);
      if (value !== null && typeof value === 'object') return value as T;
    } catch {
      // fall through to the protocol error
    }
    throw new ReplicateProtocolError({ method, path, message: 'response is not a JSON object' });
  }

  /** The text with every occurrence of the API token replaced by "[redacted]" (for provider text that reaches us another way, e.g. webhooks). */
  redact(text: string): string {
    return text.includes(this.#token) ? text.split(this.#token).join('[redacted]') : text;
  }
}

function parseProblem(text: string, status: number): { title: string | null; detail: string; invalidFields: InvalidField[] } {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    if (body !== null && typeof body === 'object') {
      const invalid = Array.isArray(body.invalid_fields) ? (body.invalid_fields as InvalidField[]) : [];
      return {
        title: typeof body.title === 'string' ? body.title : null,
        detail: typeof body.detail === 'string' ? body.detail : `HTTP ${status}`,
        invalidFields: invalid,
      };
    }
  } catch {
    // not JSON: proxies and load balancers answer with HTML
  }
  return { title: null, detail: text.trim().slice(0, 300) || `HTTP ${status}`, invalidFields: [] };
}

function seg(value: string): string {
  return encodeURIComponent(value);
}

function signalOf(options: CallOptions): { signal?: AbortSignal } {
  return options.signal === undefined ? {} : { signal: options.signal };
}

async function toBytes(content: Buffer | Uint8Array | Readable): Promise<Uint8Array> {
  if (!(content instanceof Readable)) return content;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of content) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
    size += buffer.length;
    if (size > MAX_FILE_BYTES) {
      content.destroy();
      throw new Error('Replicate files are limited to 100 MiB; serve larger ones from own storage.');
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}
