import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ReplicateStatus } from '../../../src/providers/replicate/types.ts';
import { fluxWeightsTar, inspectTrainingZip, renderOutputImage, sdxlWeightsTar, type ImageFormat, type ZipSummary } from './artifacts.ts';
import { FaultBook, type Fault, type InjectedFault, type RandomFaultOptions, type Route } from './faults.ts';
import { generateTrainerLog, type TimedLogLine } from './log-generator.ts';
import { hex64, jobId, seededRandom } from './rng.ts';
import { openApiSchemaFor, validateInput, type SchemaKind } from './schemas.ts';
import { WebhookSender, type WebhookDelivery } from './webhook-sender.ts';

/**
 * A Replicate stand-in on loopback that behaves like docs/replicate-contract.md: the platform talks
 * to it over HTTP through the production client. Trainings follow scripted timelines that emit
 * real-format trainer logs, time-compressed (`speed`); predictions render real images with sharp;
 * webhooks are signed. Tests inject faults and inspect every request, training and webhook.
 */

export type { Fault, FaultKind, FaultMix, InjectedFault, RandomFaultOptions, Route } from './faults.ts';
export type { WebhookDelivery } from './webhook-sender.ts';

export type TrainingScript =
  | { outcome: 'succeed' }
  /**
   * Ends `failed` with this error. Errors starting "Prediction input failed validation" fail at
   * once without logs; with `atStep` the log stops at that training step; otherwise the whole run
   * is logged first (like "Failed to create trained image after successful training run.").
   */
  | { outcome: 'fail'; error: string; atStep?: number }
  /** Ends `aborted` without ever running. */
  | { outcome: 'abort' }
  /** Never leaves `starting` (no GPU available): for cancel and timeout tests. */
  | { outcome: 'stall' }
  /** Runs and then hangs in `processing` at this step until canceled. */
  | { outcome: 'hang'; atStep: number };

export type PredictionScript =
  | { outcome: 'succeed' }
  | { outcome: 'fail'; error?: string }
  /** Stays `processing` until canceled (for `Prefer: wait` returning early). */
  | { outcome: 'stall' };

export interface EmulatorOptions {
  token?: string;
  /** The account that owns the emulator's API token (models can be created for any owner). */
  owner?: string;
  /** Simulated trainer seconds per real millisecond. Default 1: a 1000-step flux run (~1000 s) takes ~1 s. */
  speed?: number;
  /** Real milliseconds a training stays `starting`. Default 150. */
  bootMs?: number;
  /** Real milliseconds between two `logs`/`output` webhooks (Replicate: 500 ms). Default 50. */
  logsThrottleMs?: number;
  /** Real milliseconds a prediction runs. Default 300. */
  predictionMs?: number;
  /** Trainings per page of `GET /v1/trainings` (Replicate: up to 100). */
  pageSize?: number;
  /** Seeds ids, generated logs and random faults. */
  seed?: number;
  /** Fraction (0–1) of API calls answered with a random fault, drawn from a seeded RNG (default kinds: 429, 500). */
  failureRate?: number;
  /** What random faults look like: kinds and weights, dropped webhooks, creates that fail after the work. */
  randomFaults?: RandomFaultOptions;
  /** Delays between retries of a failed `completed` webhook. Default 50, 100, 200, 400, 800 ms. */
  webhookRetryDelaysMs?: number[];
  /** Output images are rendered at this fraction of the requested size (speed). Default 0.25. */
  outputScale?: number;
  /** Model names that answer 409 on create although they cannot be read (deleted models). */
  deletedModelNames?: string[];
}

/** A training as the emulator holds it (API fields plus the script and real-time bookkeeping). */
export interface EmulatedTraining {
  id: string;
  /** `owner/name` of the trainer. */
  model: string;
  version: string;
  destination: string;
  input: Record<string, unknown>;
  status: ReplicateStatus;
  error: string | null;
  output: { version: string; weights: string } | null;
  logs: string;
  webhook: string | null;
  events: string[];
  script: TrainingScript;
  createdAtMs: number;
  /** When it leaves (or would leave) `starting`. */
  processingAtMs: number;
  startedAtMs: number | null;
  completedAtMs: number | null;
}

export interface EmulatedPrediction {
  id: string;
  version: string;
  input: Record<string, unknown>;
  status: ReplicateStatus;
  error: string | null;
  output: string[] | null;
  logs: string;
  createdAtMs: number;
  completedAtMs: number | null;
}

export interface RecordedRequest {
  method: string;
  path: string;
  route: Route | null;
  /** Status answered; 0 while pending or when the connection was dropped or left hanging. */
  status: number;
  /** Parsed JSON body of POSTs (multipart uploads: the form's filename). */
  body: unknown;
  at: string;
}

export interface ReplicateEmulator {
  /** Origin of the emulator; the API is at `${url}/v1`. */
  url: string;
  baseUrl: string;
  token: string;
  owner: string;
  webhookSecret: string;
  /** The platform's settings that point it at this emulator (token, API address, destination `theway/loras`). */
  platformEnv(): { REPLICATE_API_TOKEN: string; REPLICATE_BASE_URL: string; REPLICATE_DESTINATION: string };
  /** Every API call received, in order. */
  requests: RecordedRequest[];
  /**
   * Every GET of a public file or delivery URL (uploaded files, trained weights, generated
   * images), in order; kept apart from `requests`, which counts API calls.
   */
  downloads: RecordedRequest[];
  /** Every webhook attempt, in order. */
  webhooks: WebhookDelivery[];
  /** Trainings created so far, oldest first. */
  trainingIds(): string[];
  training(id: string): Readonly<EmulatedTraining> | undefined;
  predictionIds(): string[];
  prediction(id: string): Readonly<EmulatedPrediction> | undefined;
  /** Bytes of an uploaded file, by file id. */
  uploadedFile(id: string): Buffer | undefined;
  /** Outcome of the next trainings created (FIFO); unscripted ones succeed. */
  scriptNextTraining(script: TrainingScript): void;
  scriptNextPrediction(script: PredictionScript): void;
  faults: {
    add(fault: Fault): void;
    clear(): void;
    pending(): Fault[];
    setFailureRate(rate: number): void;
  };
  addFault(fault: Fault): void;
  clearFaults(): void;
  setFailureRate(rate: number): void;
  /** Every fault that fired (scripted or random), in order, and their counts by kind. */
  injectedFaults: InjectedFault[];
  faultCounts(): Record<string, number>;
  /**
   * Holds the next request on `route` (optionally only one `match` accepts): `before` it is handled
   * or `after` the work was done but before the answer is written. `reached` resolves when it is
   * held; `release()` lets it go on (the answer goes to whoever is still listening). For tests that
   * kill the platform while a call is in flight.
   */
  pause(route: Route, stage: 'before' | 'after', match?: (request: RecordedRequest) => boolean): PausedRequest;
  /** How many trainings were created per `input_images` URL (a platform training has its own URL). */
  trainingCreatesByDataset(): Map<string, number>;
  /** Pretend a model was created out of band. */
  createModel(owner: string, name: string): void;
  /** Delivery URLs (weights, outputs, files) answer 404 from now on, as they do after expiry. */
  expireDeliveries(): void;
  /** Resolves when every webhook queued so far has had its first attempt. */
  webhooksSettled(): Promise<void>;
  close(): Promise<void>;
}

export interface PausedRequest {
  reached: Promise<RecordedRequest>;
  release(): void;
}

interface PauseHook {
  route: Route;
  stage: 'before' | 'after';
  match: ((request: RecordedRequest) => boolean) | undefined;
  arrive: (request: RecordedRequest) => void;
  released: Promise<void>;
  release: () => void;
  taken: boolean;
}

interface Trainer {
  kind: 'flux' | 'sdxl';
  version: string;
  trainerSchema: SchemaKind;
  trainedSchema: SchemaKind;
}

const TRAINERS: Record<string, Trainer> = {
  'ostris/flux-dev-lora-trainer': { kind: 'flux', version: hex64('flux-trainer', 1), trainerSchema: 'flux-trainer', trainedSchema: 'flux-trained' },
  'stability-ai/sdxl': { kind: 'sdxl', version: hex64('sdxl-trainer', 1), trainerSchema: 'sdxl-trainer', trainedSchema: 'sdxl-trained' },
};

const TERMINAL = new Set<ReplicateStatus>(['succeeded', 'failed', 'canceled', 'aborted']);
const ALL_EVENTS = ['start', 'output', 'logs', 'completed'];
const NSFW_ERROR = 'All generated images contained NSFW content. Try running it again with a different prompt.';

const FLUX_DIMENSIONS: Record<string, [number, number]> = {
  '1:1': [1024, 1024], '16:9': [1344, 768], '21:9': [1536, 640], '3:2': [1216, 832], '2:3': [832, 1216], '4:5': [896, 1088],
  '5:4': [1088, 896], '3:4': [896, 1152], '4:3': [1152, 896], '9:16': [768, 1344], '9:21': [640, 1536],
};

interface TrainingRecord extends EmulatedTraining {
  seq: number;
  trainer: Trainer;
  lines: TimedLogLine[];
  shownLines: number;
  endsAtSec: number;
  captions: string[];
  sentStart: boolean;
  sentLogsLength: number;
  lastLogsWebhookMs: number;
  sentCompleted: boolean;
}

interface PredictionRecord extends EmulatedPrediction {
  trainedSchema: SchemaKind;
  model: string;
  seed: number;
  script: PredictionScript;
  doneAtMs: number;
  webhook: string | null;
  events: string[];
  rendering: Promise<void> | null;
  sentStart: boolean;
  sentCompleted: boolean;
}

interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw bytes instead of JSON. */
  raw?: Buffer;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => ({ status, body, headers });
const notFound = (detail = 'Not found.') => json(404, { detail, status: 404 });

export async function startReplicateEmulator(options: EmulatorOptions = {}): Promise<ReplicateEmulator> {
  const token = options.token ?? `r8_emulator_${randomBytes(8).toString('hex')}`;
  const owner = options.owner ?? 'theway';
  const webhookSecret = `whsec_${randomBytes(24).toString('base64')}`;
  const speed = options.speed ?? 1;
  const bootMs = options.bootMs ?? 150;
  const logsThrottleMs = options.logsThrottleMs ?? 50;
  const predictionMs = options.predictionMs ?? 300;
  const pageSize = options.pageSize ?? 100;
  const outputScale = options.outputScale ?? 0.25;
  const seed = options.seed ?? 42;
  const random = seededRandom(seed);
  const faults = new FaultBook(options.failureRate ?? 0, seed + 1, options.randomFaults);
  const pauses: PauseHook[] = [];

  const files = new Map<string, { data: Buffer; contentType: string; filename: string }>();
  const models = new Map<string, { owner: string; name: string; visibility: string; description: string | null; versions: Array<{ id: string; schema: SchemaKind; createdAt: string }> }>();
  const deletedNames = new Set(options.deletedModelNames ?? []);
  const trainings = new Map<string, TrainingRecord>();
  const predictions = new Map<string, PredictionRecord>();
  const trainingScripts: TrainingScript[] = [];
  const predictionScripts: PredictionScript[] = [];
  const requests: RecordedRequest[] = [];
  const downloads: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const hanging = new Set<Socket>();
  let seq = 0;
  let closed = false;
  let deliveriesExpired = false;
  let origin = '';

  const schedule = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!closed) fn();
    }, ms);
    timers.add(timer);
  };

  const webhooks = new WebhookSender({
    secret: webhookSecret,
    faults,
    retryDelaysMs: options.webhookRetryDelaysMs ?? [50, 100, 200, 400, 800],
    timeoutMs: 5000,
    nextId: () => `msg_${jobId(random)}`,
    isClosed: () => closed,
    schedule,
  });

  // ─── trainings ──────────────────────────────────────────────────────────────────────────
  const simSeconds = (t: TrainingRecord, now: number) => Math.max(0, (now - t.processingAtMs) * speed);

  function revealLogs(t: TrainingRecord, untilSec: number): void {
    // Lines are in time order: append the newly due ones to the cached text (cheap for 1,000 jobs).
    let added = '';
    while (t.shownLines < t.lines.length && t.lines[t.shownLines]!.at <= untilSec) {
      added += `${t.lines[t.shownLines]!.line}\n`;
      t.shownLines += 1;
    }
    if (added) t.logs += added;
  }

  function advanceTraining(t: TrainingRecord, now = Date.now()): void {
    if (TERMINAL.has(t.status) || t.script.outcome === 'stall' || now < t.processingAtMs) return;
    const script = t.script;
    if (script.outcome === 'abort') return finishTraining(t, 'aborted', null, t.processingAtMs);
    if (t.status === 'starting') {
      t.status = 'processing';
      t.startedAtMs = t.processingAtMs;
      if (script.outcome === 'fail' && script.error.startsWith('Prediction input failed validation')) {
        return finishTraining(t, 'failed', script.error, t.processingAtMs);
      }
    }
    const sim = simSeconds(t, now);
    revealLogs(t, sim);
    if (sim < t.endsAtSec || script.outcome === 'hang') return;
    const completedAt = Math.min(now, t.processingAtMs + t.endsAtSec / speed);
    if (script.outcome === 'fail') {
      if (script.atStep !== undefined) t.logs += `Traceback (most recent call last):\n  File "/src/train.py", line 312, in train\n    job.run()\n${script.error}\n`;
      return finishTraining(t, 'failed', script.error, completedAt);
    }
    const versionId = hex64(t.id, 'version');
    models.get(t.destination)?.versions.push({ id: versionId, schema: t.trainer.trainedSchema, createdAt: new Date(completedAt).toISOString() });
    t.output = { version: `${t.destination}:${versionId}`, weights: `${origin}/delivery/${t.id}/trained_model.tar` };
    finishTraining(t, 'succeeded', null, completedAt);
  }

  function finishTraining(t: TrainingRecord, status: ReplicateStatus, error: string | null, atMs: number): void {
    t.status = status;
    t.error = error;
    t.completedAtMs = atMs;
  }

  function trainingJson(t: TrainingRecord) {
    advanceTraining(t);
    return {
      id: t.id,
      model: t.model,
      version: t.version,
      input: t.input,
      logs: t.logs,
      error: t.error,
      status: t.status,
      source: 'api',
      created_at: new Date(t.createdAtMs).toISOString(),
      started_at: t.startedAtMs === null ? null : new Date(t.startedAtMs).toISOString(),
      completed_at: t.completedAtMs === null ? null : new Date(t.completedAtMs).toISOString(),
      metrics:
        t.completedAtMs !== null && t.startedAtMs !== null
          ? { predict_time: (t.completedAtMs - t.startedAtMs) / 1000, total_time: (t.completedAtMs - t.createdAtMs) / 1000 }
          : {},
      output: t.output,
      webhook: t.webhook,
      webhook_events_filter: t.events,
      urls: { get: `${origin}/v1/trainings/${t.id}`, cancel: `${origin}/v1/trainings/${t.id}/cancel`, web: `https://replicate.com/p/${t.id}` },
    };
  }

  async function readZip(url: string): Promise<ZipSummary | string> {
    let data: Buffer | undefined;
    const local = /\/files\/([a-z0-9]+)$/.exec(url);
    if (url.startsWith(origin) && local) data = files.get(local[1]!)?.data;
    else if (url.startsWith('data:')) data = Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
    else {
      try {
        // Like Replicate, fetch any http(s) URL (e.g. a presigned S3 link); generous for big zips on a busy machine.
        const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
        if (response.ok) data = Buffer.from(await response.arrayBuffer());
      } catch {
        // reported below
      }
    }
    if (!data) return `Could not download input_images from ${url}`;
    try {
      return await inspectTrainingZip(data);
    } catch {
      return 'zipfile.BadZipFile: File is not a zip file';
    }
  }

  async function createTraining(trainerKey: string, versionId: string, body: Record<string, unknown>): Promise<Answer> {
    const trainer = TRAINERS[trainerKey];
    if (!trainer) return notFound();
    if (versionId !== trainer.version) return json(422, { title: 'Invalid version', detail: 'Invalid version or not permitted', status: 422 });
    const destination = typeof body.destination === 'string' ? body.destination : '';
    if (!models.has(destination)) return notFound('The specified training destination does not exist');
    const problems = validateInput(trainer.trainerSchema, body.input);
    if (problems.length > 0) return json(422, { title: 'Input validation failed', detail: problems.map((p) => `${p.field}: ${p.description}`).join('; '), status: 422, invalid_fields: problems });
    const input = body.input as Record<string, unknown>;

    let script = trainingScripts.shift() ?? { outcome: 'succeed' as const };
    const zip = await readZip(String(input.input_images));
    let zipError: string | null = null;
    if (typeof zip === 'string') zipError = zip;
    else if (zip.images.length === 0) zipError = 'ValueError: No images found in input_images';
    if (zipError !== null) script = { outcome: 'fail', error: zipError, atStep: 0 };
    const images = typeof zip === 'string' ? [] : zip.images;
    const captionFiles = typeof zip === 'string' ? 0 : zip.captions.length;

    const id = jobId(random);
    const steps = Number(trainer.kind === 'flux' ? (input.steps ?? 1000) : (input.max_train_steps ?? 1000));
    const trigger = String(input.trigger_word ?? input.token_string ?? 'TOK');
    const stopAtStep = script.outcome === 'hang' || (script.outcome === 'fail' && script.atStep !== undefined) ? script.atStep : undefined;
    const generated = generateTrainerLog({
      trainer: trainer.kind,
      steps,
      imageCount: Math.max(1, images.length),
      captionFiles,
      autocaption: input.autocaption !== false,
      weightsCached: seq > 0, // the first run on a fresh machine downloads the base weights
      triggerWord: trigger,
      learningRate: typeof input.learning_rate === 'number' ? input.learning_rate : 4e-4,
      loraRank: typeof input.lora_rank === 'number' ? input.lora_rank : 16,
      seed: Math.floor(random() * 2 ** 31),
      ...(stopAtStep !== undefined && { stopAtStep }),
    });
    if (zipError !== null) {
      // The trainer dies while extracting: keep only the lines before the extraction.
      const cut = generated.lines.findIndex((l) => l.line.startsWith('Extract'));
      generated.lines = generated.lines.slice(0, Math.max(0, cut));
      generated.endsAt = (generated.lines.at(-1)?.at ?? 0) + 1;
    }
    const now = Date.now();
    const t: TrainingRecord = {
      id,
      seq: seq++,
      model: trainerKey,
      version: trainer.version,
      trainer,
      destination,
      input,
      status: 'starting',
      error: null,
      output: null,
      logs: '',
      webhook: typeof body.webhook === 'string' ? body.webhook : null,
      events: Array.isArray(body.webhook_events_filter) ? body.webhook_events_filter.map(String) : ALL_EVENTS,
      script,
      createdAtMs: now,
      processingAtMs: now + bootMs,
      startedAtMs: null,
      completedAtMs: null,
      lines: generated.lines,
      shownLines: 0,
      endsAtSec: generated.endsAt,
      captions: images.map((name) => `A photo of ${trigger}, ${name.replace(/\.[^.]+$/, '').replaceAll('_', ' ')}`),
      sentStart: false,
      sentLogsLength: 0,
      lastLogsWebhookMs: 0,
      sentCompleted: false,
    };
    trainings.set(id, t);
    const answer = trainingJson(t);
    notifyTraining(t, now);
    return json(201, answer);
  }

  function notifyTraining(t: TrainingRecord, now: number): void {
    if (!t.webhook) return;
    advanceTraining(t, now);
    const terminal = TERMINAL.has(t.status);
    if (!t.sentStart) {
      t.sentStart = true;
      if (t.events.includes('start')) webhooks.send('training', t.id, t.webhook, 'start', trainingJson(t));
    }
    if (!terminal && t.events.includes('logs') && t.logs.length !== t.sentLogsLength && now - t.lastLogsWebhookMs >= logsThrottleMs) {
      t.sentLogsLength = t.logs.length;
      t.lastLogsWebhookMs = now;
      webhooks.send('training', t.id, t.webhook, 'logs', trainingJson(t));
    }
    if (terminal && !t.sentCompleted) {
      t.sentCompleted = true;
      if (t.events.includes('completed')) webhooks.send('training', t.id, t.webhook, 'completed', trainingJson(t));
    }
  }

  // ─── predictions ────────────────────────────────────────────────────────────────────────
  function advancePrediction(p: PredictionRecord, now = Date.now()): void {
    if (TERMINAL.has(p.status)) return;
    if (p.status === 'starting' && now >= p.createdAtMs + Math.min(30, predictionMs / 4)) {
      p.status = 'processing';
      const steps = Number(p.input.num_inference_steps ?? (p.trainedSchema === 'flux-trained' ? 28 : 50));
      p.logs = `Using seed: ${p.seed}\n  0%|          | 0/${steps} [00:00<?, ?it/s]\n`;
    }
    if (p.script.outcome === 'stall' || now < p.doneAtMs || p.rendering) return;
    if (p.script.outcome === 'fail') {
      p.status = 'failed';
      p.error = p.script.error ?? NSFW_ERROR;
      p.completedAtMs = now;
      return;
    }
    // Rendering is async: the prediction succeeds once its images exist.
    p.rendering = renderPrediction(p).then(() => {
      if (TERMINAL.has(p.status)) return;
      p.status = 'succeeded';
      p.completedAtMs = Date.now();
      p.logs += '100%|██████████| done\n';
    });
  }

  async function renderPrediction(p: PredictionRecord): Promise<void> {
    const count = Number(p.input.num_outputs ?? 1);
    const flux = p.trainedSchema === 'flux-trained';
    const format: ImageFormat = flux ? ((p.input.output_format as ImageFormat | undefined) ?? 'webp') : 'png';
    let [width, height] = flux ? (FLUX_DIMENSIONS[String(p.input.aspect_ratio ?? '1:1')] ?? [1024, 1024]) : [Number(p.input.width ?? 1024), Number(p.input.height ?? 1024)];
    if (flux && p.input.aspect_ratio === 'custom') [width, height] = [Number(p.input.width ?? 1024), Number(p.input.height ?? 1024)];
    const urls: string[] = [];
    for (let index = 0; index < count; index++) {
      const bytes = await renderOutputImage({
        prompt: String(p.input.prompt ?? ''),
        seed: p.seed,
        index,
        width: Math.max(16, Math.round(width * outputScale)),
        height: Math.max(16, Math.round(height * outputScale)),
        format,
        quality: Number(p.input.output_quality ?? 80),
      });
      const key = `outputs/${p.id}/out-${index}.${format}`;
      files.set(key, { data: bytes, contentType: format === 'jpg' ? 'image/jpeg' : `image/${format}`, filename: `out-${index}.${format}` });
      urls.push(`${origin}/delivery/${key}`);
    }
    p.output = urls;
  }

  function predictionJson(p: PredictionRecord) {
    advancePrediction(p);
    return {
      id: p.id,
      model: p.model,
      version: p.version,
      input: p.input,
      logs: p.logs,
      error: p.error,
      status: p.status,
      source: 'api',
      data_removed: false,
      created_at: new Date(p.createdAtMs).toISOString(),
      started_at: p.status === 'starting' ? null : new Date(p.createdAtMs + 30).toISOString(),
      completed_at: p.completedAtMs === null ? null : new Date(p.completedAtMs).toISOString(),
      output: p.status === 'succeeded' ? p.output : null,
      metrics: p.completedAtMs === null ? {} : { predict_time: (p.completedAtMs - p.createdAtMs) / 1000 },
      webhook: p.webhook,
      webhook_events_filter: p.events,
      urls: { get: `${origin}/v1/predictions/${p.id}`, cancel: `${origin}/v1/predictions/${p.id}/cancel`, web: `https://replicate.com/p/${p.id}` },
    };
  }

  function findVersion(id: string): { model: string; schema: SchemaKind } | undefined {
    for (const [key, model] of models) {
      const version = model.versions.find((v) => v.id === id);
      if (version) return { model: key, schema: version.schema };
    }
    return undefined;
  }

  async function createPrediction(body: Record<string, unknown>, prefer: string | undefined): Promise<Answer> {
    const versionRef = typeof body.version === 'string' ? body.version : '';
    // Accept `owner/name:id` as well as the bare id, like Replicate.
    const found = findVersion(versionRef.includes(':') ? versionRef.slice(versionRef.indexOf(':') + 1) : versionRef);
    if (!found) return json(422, { title: 'Invalid version', detail: 'Invalid version or not permitted', status: 422 });
    const problems = validateInput(found.schema, body.input ?? {});
    if (problems.length > 0) return json(422, { title: 'Input validation failed', detail: problems.map((p) => `${p.field}: ${p.description}`).join('; '), status: 422, invalid_fields: problems });
    const input = { ...(body.input as Record<string, unknown> | undefined) };
    const now = Date.now();
    const versionId = versionRef.includes(':') ? versionRef.slice(versionRef.indexOf(':') + 1) : versionRef;
    const p: PredictionRecord = {
      id: jobId(random),
      version: versionId,
      model: found.model,
      trainedSchema: found.schema,
      input,
      // Replicate echoes the input as sent; the seed it picked shows in the logs only.
      seed: typeof input.seed === 'number' ? input.seed : Math.floor(random() * 65535),
      status: 'starting',
      error: null,
      output: null,
      logs: '',
      script: predictionScripts.shift() ?? { outcome: 'succeed' },
      createdAtMs: now,
      doneAtMs: now + predictionMs,
      completedAtMs: null,
      webhook: typeof body.webhook === 'string' ? body.webhook : null,
      events: Array.isArray(body.webhook_events_filter) ? body.webhook_events_filter.map(String) : ALL_EVENTS,
      rendering: null,
      sentStart: false,
      sentCompleted: false,
    };
    predictions.set(p.id, p);
    notifyPrediction(p, now);

    const wait = /wait(?:=(\d+))?/.exec(prefer ?? '');
    if (wait) {
      const deadline = now + Math.min(60, Math.max(1, Number(wait[1] ?? 60))) * 1000;
      while (!closed && Date.now() < deadline) {
        advancePrediction(p);
        if (p.rendering) await p.rendering;
        if (TERMINAL.has(p.status)) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    return json(201, predictionJson(p));
  }

  function notifyPrediction(p: PredictionRecord, now: number): void {
    if (!p.webhook) return;
    advancePrediction(p, now);
    if (!p.sentStart) {
      p.sentStart = true;
      if (p.events.includes('start')) webhooks.send('prediction', p.id, p.webhook, 'start', predictionJson(p));
    }
    if (TERMINAL.has(p.status) && !p.sentCompleted) {
      p.sentCompleted = true;
      if (p.status === 'succeeded' && p.events.includes('output')) webhooks.send('prediction', p.id, p.webhook, 'output', predictionJson(p));
      if (p.events.includes('completed')) webhooks.send('prediction', p.id, p.webhook, 'completed', predictionJson(p));
    }
  }

  // Webhooks need a clock: polling alone would advance jobs lazily.
  const ticker = setInterval(() => {
    const now = Date.now();
    for (const t of trainings.values()) if (!t.sentCompleted && t.webhook) notifyTraining(t, now);
    for (const p of predictions.values()) if (!p.sentCompleted && p.webhook) notifyPrediction(p, now);
  }, 20);

  // ─── models, files ──────────────────────────────────────────────────────────────────────
  function modelJson(key: string) {
    const trainer = TRAINERS[key];
    const model = models.get(key);
    const [modelOwner, name] = key.split('/') as [string, string];
    const latest = trainer ? { id: trainer.version, schema: trainer.trainerSchema, createdAt: '2024-08-14T00:00:00.000Z' } : model?.versions.at(-1);
    return {
      url: `https://replicate.com/${key}`,
      owner: modelOwner,
      name,
      description: model?.description ?? null,
      visibility: model?.visibility ?? 'public',
      github_url: null,
      paper_url: null,
      license_url: null,
      run_count: 0,
      cover_image_url: null,
      default_example: null,
      latest_version: latest ? versionJson(latest.id, latest.schema, latest.createdAt) : null,
    };
  }

  function versionJson(id: string, schema: SchemaKind, createdAt: string) {
    return { id, created_at: createdAt, cog_version: '0.9.14', openapi_schema: openApiSchemaFor(schema) };
  }

  function createModel(body: Record<string, unknown>): Answer {
    const problems: Array<{ type: string; field: string; description: string }> = [];
    for (const field of ['owner', 'name', 'visibility', 'hardware']) {
      if (typeof body[field] !== 'string' || body[field] === '') problems.push({ type: 'required', field, description: `${field} is required` });
    }
    if (typeof body.visibility === 'string' && !['public', 'private'].includes(body.visibility)) {
      problems.push({ type: 'enum', field: 'visibility', description: 'visibility must be one of "public", "private"' });
    }
    if (problems.length) return json(422, { title: 'Invalid request', detail: 'Invalid model', status: 422, invalid_fields: problems });
    const key = `${String(body.owner)}/${String(body.name)}`;
    if (models.has(key) || deletedNames.has(key) || TRAINERS[key]) {
      return json(409, { title: 'Model already exists', detail: 'A model with that name and owner already exists.', status: 409 });
    }
    models.set(key, { owner: String(body.owner), name: String(body.name), visibility: String(body.visibility), description: typeof body.description === 'string' ? body.description : null, versions: [] });
    return json(201, modelJson(key));
  }

  async function uploadFile(req: IncomingMessage, body: Buffer): Promise<Answer> {
    let form: FormData;
    try {
      form = await new Request(`${origin}/upload`, { method: 'POST', headers: { 'content-type': String(req.headers['content-type']) }, body: new Uint8Array(body) }).formData();
    } catch {
      return json(400, { detail: 'Expected a multipart/form-data body', status: 400 });
    }
    const content = form.get('content');
    if (!(content instanceof Blob)) {
      return json(422, { detail: 'content is required', status: 422, invalid_fields: [{ type: 'required', field: 'content', description: 'content is required' }] });
    }
    const data = Buffer.from(await content.arrayBuffer());
    if (data.length > 100 * 2 ** 20) return json(413, { detail: 'File too large: the maximum is 100 MiB.', status: 413 });
    const filename = String(form.get('filename') ?? (content instanceof File ? content.name : 'file'));
    if (Buffer.byteLength(filename) > 255) return json(422, { detail: 'filename is longer than 255 bytes', status: 422 });
    let metadata: unknown = {};
    try {
      metadata = JSON.parse(String(form.get('metadata') ?? '{}'));
    } catch {
      return json(422, { detail: 'metadata must be JSON', status: 422 });
    }
    const id = jobId(random);
    const contentType = String(form.get('type') ?? (content.type || 'application/octet-stream'));
    files.set(id, { data, contentType, filename });
    const created = new Date();
    return json(201, {
      id,
      content_type: contentType,
      size: data.length,
      checksums: { sha256: createHash('sha256').update(data).digest('hex') },
      metadata,
      created_at: created.toISOString(),
      expires_at: new Date(created.getTime() + 86_400_000).toISOString(),
      // An opaque URL without a file extension, like Replicate's.
      urls: { get: `${origin}/files/${id}` },
    });
  }

  function download(path: string): Answer {
    if (deliveriesExpired) return notFound();
    const weights = /^\/delivery\/([a-z0-9]+)\/trained_model\.tar$/.exec(path);
    if (weights) {
      const t = trainings.get(weights[1]!);
      if (!t || t.status !== 'succeeded') return notFound();
      const steps = Number(t.input.steps ?? t.input.max_train_steps ?? 1000);
      const raw =
        t.trainer.kind === 'flux'
          ? fluxWeightsTar({ triggerWord: String(t.input.trigger_word ?? 'TOK'), steps, loraRank: Number(t.input.lora_rank ?? 16), captions: t.captions })
          : sdxlWeightsTar(String(t.input.token_string ?? 'TOK'));
      return { status: 200, raw, headers: { 'content-type': 'application/x-tar' } };
    }
    const key = path.startsWith('/delivery/') ? path.slice('/delivery/'.length) : path.slice('/files/'.length);
    const file = files.get(key);
    if (!file) return notFound();
    return { status: 200, raw: file.data, headers: { 'content-type': file.contentType } };
  }

  // ─── HTTP ───────────────────────────────────────────────────────────────────────────────
  function routeOf(method: string, path: string): Route | null {
    if (method === 'GET' && (path.startsWith('/files/') || path.startsWith('/delivery/'))) return 'download';
    if (method === 'POST' && path === '/v1/files') return 'uploadFile';
    if (method === 'GET' && /^\/v1\/files\/[^/]+$/.test(path)) return 'getFile';
    if (method === 'POST' && path === '/v1/models') return 'createModel';
    if (method === 'GET' && /^\/v1\/models\/[^/]+\/[^/]+$/.test(path)) return 'getModel';
    if (method === 'GET' && /^\/v1\/models\/[^/]+\/[^/]+\/versions\/[^/]+$/.test(path)) return 'getVersion';
    if (method === 'POST' && /^\/v1\/models\/[^/]+\/[^/]+\/versions\/[^/]+\/trainings$/.test(path)) return 'createTraining';
    if (method === 'GET' && path === '/v1/trainings') return 'listTrainings';
    if (method === 'GET' && /^\/v1\/trainings\/[^/]+$/.test(path)) return 'getTraining';
    if (method === 'POST' && /^\/v1\/trainings\/[^/]+\/cancel$/.test(path)) return 'cancelTraining';
    if (method === 'POST' && path === '/v1/predictions') return 'createPrediction';
    if (method === 'GET' && /^\/v1\/predictions\/[^/]+$/.test(path)) return 'getPrediction';
    if (method === 'POST' && /^\/v1\/predictions\/[^/]+\/cancel$/.test(path)) return 'cancelPrediction';
    if (method === 'GET' && path === '/v1/webhooks/default/secret') return 'webhookSecret';
    return null;
  }

  async function dispatch(route: Route, url: URL, req: IncomingMessage, raw: Buffer): Promise<Answer> {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let body: Record<string, unknown> = {};
    if (req.method === 'POST' && route !== 'uploadFile' && raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        return json(400, { detail: 'Request body is not valid JSON', status: 400 });
      }
    }
    switch (route) {
      case 'download':
        return download(url.pathname);
      case 'uploadFile':
        return uploadFile(req, raw);
      case 'getFile': {
        const file = files.get(parts[2]!);
        return file ? json(200, { id: parts[2], content_type: file.contentType, size: file.data.length, urls: { get: `${origin}/files/${parts[2]}` } }) : notFound();
      }
      case 'createModel':
        return createModel(body);
      case 'getModel': {
        const key = `${parts[2]}/${parts[3]}`;
        return TRAINERS[key] || models.has(key) ? json(200, modelJson(key)) : notFound();
      }
      case 'getVersion': {
        const key = `${parts[2]}/${parts[3]}`;
        const trainer = TRAINERS[key];
        if (trainer && trainer.version === parts[5]) return json(200, versionJson(trainer.version, trainer.trainerSchema, '2024-08-14T00:00:00.000Z'));
        const version = models.get(key)?.versions.find((v) => v.id === parts[5]);
        return version ? json(200, versionJson(version.id, version.schema, version.createdAt)) : notFound();
      }
      case 'createTraining':
        return createTraining(`${parts[2]}/${parts[3]}`, parts[5]!, body);
      case 'getTraining': {
        const t = trainings.get(parts[2]!);
        return t ? json(200, trainingJson(t)) : notFound();
      }
      case 'listTrainings': {
        // Opaque cursor = sequence number of the last training on the previous page: stable while
        // new trainings are created between two pages.
        const cursor = url.searchParams.get('cursor');
        const before = cursor === null ? Infinity : Number(Buffer.from(cursor, 'base64url').toString('utf8'));
        const newestFirst = [...trainings.values()].filter((t) => t.seq < before).sort((a, b) => b.seq - a.seq);
        const page = newestFirst.slice(0, pageSize);
        const last = page.at(-1);
        const next = newestFirst.length > pageSize && last ? `${origin}/v1/trainings?cursor=${Buffer.from(String(last.seq)).toString('base64url')}` : null;
        return json(200, { next, previous: null, results: page.map(trainingJson) });
      }
      case 'cancelTraining': {
        const t = trainings.get(parts[2]!);
        if (!t) return notFound();
        advanceTraining(t);
        if (!TERMINAL.has(t.status)) finishTraining(t, 'canceled', null, Date.now());
        notifyTraining(t, Date.now());
        return json(200, trainingJson(t));
      }
      case 'createPrediction':
        return createPrediction(body, typeof req.headers.prefer === 'string' ? req.headers.prefer : undefined);
      case 'getPrediction': {
        const p = predictions.get(parts[2]!);
        if (p?.rendering) await p.rendering;
        return p ? json(200, predictionJson(p)) : notFound();
      }
      case 'cancelPrediction': {
        const p = predictions.get(parts[2]!);
        if (!p) return notFound();
        advancePrediction(p);
        if (!TERMINAL.has(p.status)) {
          p.status = 'canceled';
          p.completedAtMs = Date.now();
        }
        notifyPrediction(p, Date.now());
        return json(200, predictionJson(p));
      }
      case 'webhookSecret':
        return json(200, { key: webhookSecret });
      case 'webhook':
        return notFound();
    }
  }

  function faultAnswer(fault: Fault): Answer | 'timeout' | 'reset' {
    if (fault.kind === 'timeout' || fault.kind === 'reset') return fault.kind;
    if (fault.kind === '429') {
      const seconds = fault.retryAfter ?? 1;
      const where = fault.retryAfterIn ?? 'both';
      const detail = where === 'header' ? 'Request was throttled.' : `Request was throttled. Your rate limit resets in ~${seconds}s.`;
      return json(429, { title: 'Request was throttled', detail, status: 429 }, where === 'detail' ? {} : { 'retry-after': String(seconds) });
    }
    const status = Number(fault.kind);
    return json(status, { detail: 'Internal server error', status });
  }

  function write(res: ServerResponse, answer: Answer | 'timeout' | 'reset', record: RecordedRequest | null): void {
    if (answer === 'timeout') {
      // Never answer: the client's own timeout fires. The socket is destroyed on close().
      hanging.add(res.socket as Socket);
      return;
    }
    if (answer === 'reset') {
      res.socket?.destroy();
      return;
    }
    if (record) record.status = answer.status;
    const payload = answer.raw ?? Buffer.from(JSON.stringify(answer.body ?? {}));
    res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': String(payload.length), ...answer.headers });
    res.end(payload);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const method = req.method ?? 'GET';
    const route = routeOf(method, url.pathname);
    const raw = await readBody(req);
    const record: RecordedRequest = { method, path: url.pathname, route, status: 0, body: route === 'download' ? null : summarizeBody(req, raw), at: new Date().toISOString() };
    (route === 'download' ? downloads : requests).push(record);

    // Delivery URLs are public (replicate.delivery needs no token).
    if (route !== 'download' && req.headers.authorization !== `Bearer ${token}`) {
      return write(res, json(401, { title: 'Unauthenticated', detail: 'You did not pass a valid authentication token', status: 401 }), record);
    }
    if (!route) return write(res, notFound(), record);

    await holdIfPaused(route, 'before', record, url.pathname);
    const scripted = faults.takeForRequest(route, false);
    const drawn = scripted ? undefined : faults.drawRandom(route);
    const before = scripted ?? (drawn && !drawn.afterHandling ? drawn : undefined);
    if (before) return write(res, faultAnswer(before), record);
    const answer = await dispatch(route, url, req, raw);
    await holdIfPaused(route, 'after', record, url.pathname);
    const after = faults.takeForRequest(route, true) ?? (drawn?.afterHandling ? drawn : undefined);
    write(res, after ? faultAnswer(after) : answer, record);
  }

  async function holdIfPaused(route: Route, stage: 'before' | 'after', record: RecordedRequest | null, path: string): Promise<void> {
    // Downloads are not recorded; a pause on them still sees the path.
    const seen = record ?? { method: 'GET', path, route, status: 0, body: null, at: new Date().toISOString() };
    const hook = pauses.find((p) => !p.taken && p.route === route && p.stage === stage && (p.match?.(seen) ?? true));
    if (!hook) return;
    hook.taken = true;
    hook.arrive(seen);
    await hook.released;
  }

  function pause(route: Route, stage: 'before' | 'after', match?: (request: RecordedRequest) => boolean): PausedRequest {
    let arrive!: (request: RecordedRequest) => void;
    let release!: () => void;
    const reached = new Promise<RecordedRequest>((resolve) => (arrive = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const hook: PauseHook = { route, stage, match, arrive, released, release, taken: false };
    pauses.push(hook);
    return {
      reached,
      release: () => {
        hook.taken = true; // an unused pause is withdrawn
        release();
        pauses.splice(pauses.indexOf(hook), 1);
      },
    };
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) write(res, json(500, { detail: `emulator error: ${(error as Error).message}`, status: 500 }), null);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const trainingView = (t: TrainingRecord): EmulatedTraining => {
    advanceTraining(t);
    const { id, model, version, destination, input, status, error, output, logs, webhook, events, script, createdAtMs, processingAtMs, startedAtMs, completedAtMs } = t;
    return { id, model, version, destination, input, status, error, output, logs, webhook, events, script, createdAtMs, processingAtMs, startedAtMs, completedAtMs };
  };
  const faultApi = {
    add: (fault: Fault) => faults.add(fault),
    clear: () => faults.clear(),
    pending: () => faults.pending(),
    setFailureRate: (rate: number) => faults.setFailureRate(rate),
  };

  return {
    url: origin,
    baseUrl: `${origin}/v1`,
    token,
    owner,
    webhookSecret,
    platformEnv: () => ({ REPLICATE_API_TOKEN: token, REPLICATE_BASE_URL: `${origin}/v1`, REPLICATE_DESTINATION: 'theway/loras' }),
    requests,
    downloads,
    webhooks: webhooks.deliveries,
    trainingIds: () => [...trainings.values()].sort((a, b) => a.seq - b.seq).map((t) => t.id),
    training: (id) => {
      const t = trainings.get(id);
      return t ? trainingView(t) : undefined;
    },
    predictionIds: () => [...predictions.keys()],
    prediction: (id) => {
      const p = predictions.get(id);
      if (!p) return undefined;
      advancePrediction(p);
      const { version, input, status, error, output, logs, createdAtMs, completedAtMs } = p;
      return { id, version, input, status, error, output: status === 'succeeded' ? output : null, logs, createdAtMs, completedAtMs };
    },
    uploadedFile: (id) => files.get(id)?.data,
    scriptNextTraining: (script) => void trainingScripts.push(script),
    scriptNextPrediction: (script) => void predictionScripts.push(script),
    faults: faultApi,
    addFault: faultApi.add,
    clearFaults: faultApi.clear,
    setFailureRate: faultApi.setFailureRate,
    injectedFaults: faults.injected,
    faultCounts: () => faults.countsByKind(),
    pause,
    trainingCreatesByDataset: () => {
      const counts = new Map<string, number>();
      for (const t of trainings.values()) {
        const url = String(t.input.input_images);
        counts.set(url, (counts.get(url) ?? 0) + 1);
      }
      return counts;
    },
    createModel: (modelOwner, name) =>
      void models.set(`${modelOwner}/${name}`, { owner: modelOwner, name, visibility: 'private', description: null, versions: [] }),
    expireDeliveries: () => {
      deliveriesExpired = true;
    },
    webhooksSettled: () => webhooks.settled(),
    close: async () => {
      closed = true;
      for (const hook of [...pauses]) hook.release();
      clearInterval(ticker);
      for (const timer of timers) clearTimeout(timer);
      for (const socket of hanging) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function summarizeBody(req: IncomingMessage, raw: Buffer): unknown {
  if (raw.length === 0) return null;
  const type = String(req.headers['content-type'] ?? '');
  if (type.startsWith('multipart/')) return { multipart: true, bytes: raw.length };
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return raw.toString('utf8').slice(0, 200);
  }
}
