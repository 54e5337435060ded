import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import tar from 'tar-stream';
import yauzl from 'yauzl';
import { signWebhook } from '../../../src/providers/replicate/webhook-signature.ts';
import { generateTrainerLog, renderLogLines, type TimedLogLine } from './log-generator.ts';
import { hex64, jobId, seededRandom } from './rng.ts';

/**
 * A Replicate stand-in on loopback, following `replicate-contract.md`: the platform talks to it
 * over HTTP through the production client. Trainings follow scripted timelines that emit
 * real-format trainer logs, time-compressed so a 1000-step run takes about a second or two;
 * predictions render real images; webhooks are signed (Standard Webhooks). Tests can inject
 * faults and inspect every request, training and webhook.
 */

export type Route =
  | 'uploadFile' | 'getModel' | 'createModel' | 'getVersion' | 'createTraining' | 'getTraining' | 'listTrainings'
  | 'cancelTraining' | 'createPrediction' | 'getPrediction' | 'cancelPrediction' | 'webhookSecret' | 'download';

export interface Fault {
  route: Route | 'any';
  kind: '429' | '500' | 'timeout' | 'drop-webhook';
  /** How many times the fault fires (default 1). */
  times?: number;
  /** 429 only: the Retry-After seconds sent. */
  retryAfter?: number;
  /** Apply the request first, then fail the response: a create whose outcome the client cannot know. */
  afterHandling?: boolean;
}

export type TrainingScript =
  | { outcome: 'succeed' }
  | { outcome: 'fail'; error: string; atStep?: number }
  | { outcome: 'abort' }
  /** Never leaves `starting` (no GPU available). */
  | { outcome: 'stall' };

export interface EmulatorOptions {
  token?: string;
  /** Simulated trainer seconds per real millisecond. Default 1: a 1000-step flux run (~900 s) takes ~1 s. */
  speed?: number;
  /** Real milliseconds between two `logs` webhooks (Replicate: 500 ms of real time). Default 50. */
  logsThrottleMs?: number;
  /** Real milliseconds a prediction runs. Default 300. */
  predictionMs?: number;
  /** Real milliseconds a training stays `starting`. Default 150. */
  bootMs?: number;
  pageSize?: number;
  seed?: number;
  /** Fraction (0–1) of API calls answered with a random fault (429/500), seeded. */
  failureRate?: number;
}

interface EmTraining {
  id: string;
  model: string;
  version: string;
  destination: string;
  input: Record<string, unknown>;
  webhook: string | null;
  events: string[];
  createdAtMs: number;
  processingAtMs: number;
  script: TrainingScript;
  log: TimedLogLine[];
  endsAtSec: number;
  status: 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled' | 'aborted';
  error: string | null;
  output: { version: string; weights: string } | null;
  completedAtMs: number | null;
  startedAtMs: number | null;
  sentStart: boolean;
  lastLogsWebhookMs: number;
  lastLogsLength: number;
  completedWebhookSent: boolean;
}

interface EmPrediction {
  id: string;
  version: string;
  input: Record<string, unknown>;
  createdAtMs: number;
  doneAtMs: number;
  status: 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';
  outputs: string[];
  error: string | null;
}

export interface WebhookDelivery {
  trainingId: string;
  event: string;
  status: string;
  webhookId: string;
  responseStatus: number | null;
  attempt: number;
}

const TRAINERS: Record<string, { trainer: 'flux' | 'sdxl'; version: string }> = {
  'ostris/flux-dev-lora-trainer': { trainer: 'flux', version: hex64('flux-trainer', 1) },
  'stability-ai/sdxl': { trainer: 'sdxl', version: hex64('sdxl-trainer', 1) },
};

const FLUX_TRAINER_INPUT = {
  type: 'object',
  required: ['input_images'],
  properties: {
    input_images: { type: 'string', format: 'uri' },
    trigger_word: { type: 'string', default: 'TOK' },
    autocaption: { type: 'boolean', default: true },
    steps: { type: 'integer', default: 1000, minimum: 3, maximum: 6000 },
    learning_rate: { type: 'number', default: 0.0004 },
    batch_size: { type: 'integer', default: 1 },
    resolution: { type: 'string', default: '512,768,1024' },
    lora_rank: { type: 'integer', default: 16, minimum: 1, maximum: 128 },
    caption_dropout_rate: { type: 'number', default: 0.05, minimum: 0, maximum: 1 },
    optimizer: { type: 'string', default: 'adamw8bit' },
  },
};
const SDXL_TRAINER_INPUT = {
  type: 'object',
  required: ['input_images'],
  properties: {
    input_images: { type: 'string', format: 'uri' },
    input_images_filetype: { type: 'string', enum: ['zip', 'tar', 'infer'], default: 'infer' },
    token_string: { type: 'string', default: 'TOK' },
    caption_prefix: { type: 'string', default: 'a photo of TOK, ' },
    max_train_steps: { type: 'integer', default: 1000, minimum: 3, maximum: 6000 },
    num_train_epochs: { type: 'integer', default: 4000 },
    resolution: { type: 'integer', default: 768 },
    train_batch_size: { type: 'integer', default: 4 },
    is_lora: { type: 'boolean', default: true },
    lora_lr: { type: 'number', default: 0.0001 },
    lora_rank: { type: 'integer', default: 32, minimum: 1, maximum: 128 },
    use_face_detection_instead: { type: 'boolean', default: false },
    crop_based_on_salience: { type: 'boolean', default: true },
  },
};
export const FLUX_VERSION_INPUT = {
  type: 'object',
  required: ['prompt'],
  properties: {
    prompt: { type: 'string' },
    aspect_ratio: { type: 'string', enum: ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21', 'custom'], default: '1:1' },
    width: { type: 'integer', minimum: 256, maximum: 1440 },
    height: { type: 'integer', minimum: 256, maximum: 1440 },
    num_outputs: { type: 'integer', default: 1, minimum: 1, maximum: 4 },
    num_inference_steps: { type: 'integer', default: 28, minimum: 1, maximum: 50 },
    guidance_scale: { type: 'number', default: 3, minimum: 0, maximum: 10 },
    seed: { type: 'integer' },
    output_format: { type: 'string', enum: ['webp', 'jpg', 'png'], default: 'webp' },
    output_quality: { type: 'integer', default: 80, minimum: 0, maximum: 100 },
    lora_scale: { type: 'number', default: 1, minimum: -1, maximum: 3 },
    model: { type: 'string', enum: ['dev', 'schnell'], default: 'dev' },
  },
};
export const SDXL_VERSION_INPUT = {
  type: 'object',
  required: ['prompt'],
  properties: {
    prompt: { type: 'string' },
    negative_prompt: { type: 'string', default: '' },
    width: { type: 'integer', default: 1024 },
    height: { type: 'integer', default: 1024 },
    num_outputs: { type: 'integer', default: 1, minimum: 1, maximum: 4 },
    scheduler: { type: 'string', default: 'K_EULER' },
    num_inference_steps: { type: 'integer', default: 50, minimum: 1, maximum: 500 },
    guidance_scale: { type: 'number', default: 7.5, minimum: 1, maximum: 50 },
    lora_scale: { type: 'number', default: 0.6, minimum: 0, maximum: 1 },
    seed: { type: 'integer' },
    refine: { type: 'string', default: 'no_refiner' },
    apply_watermark: { type: 'boolean', default: true },
  },
};

export interface ReplicateEmulator {
  /** Origin of the emulator; the API is at `${url}/v1`. */
  url: string;
  baseUrl: string;
  token: string;
  webhookSecret: string;
  /** Every API call received, in order (method, path, status answered). */
  requests: Array<{ method: string; path: string; route: Route | null; status: number }>;
  webhooks: WebhookDelivery[];
  /** Trainings created so far, oldest first. */
  trainingIds(): string[];
  training(id: string): Readonly<EmTraining> | undefined;
  /** Outcome of the next trainings created (FIFO); unscripted ones succeed. */
  scriptNextTraining(script: TrainingScript): void;
  addFault(fault: Fault): void;
  clearFaults(): void;
  setFailureRate(rate: number): void;
  /** Pretend the destination model was created out of band. */
  createModel(owner: string, name: string): void;
  close(): Promise<void>;
}

export async function startReplicateEmulator(options: EmulatorOptions = {}): Promise<ReplicateEmulator> {
  const token = options.token ?? `r8_emulator_${randomBytes(8).toString('hex')}`;
  const webhookSecret = `whsec_${randomBytes(24).toString('base64')}`;
  const speed = options.speed ?? 1;
  const bootMs = options.bootMs ?? 150;
  const logsThrottleMs = options.logsThrottleMs ?? 50;
  const predictionMs = options.predictionMs ?? 300;
  const pageSize = options.pageSize ?? 100;
  const random = seededRandom(options.seed ?? 42);
  let failureRate = options.failureRate ?? 0;
  const faultRandom = seededRandom((options.seed ?? 42) + 1);

  const files = new Map<string, { data: Buffer; contentType: string }>();
  const models = new Map<string, { owner: string; name: string; visibility: string; versions: string[] }>();
  const trainings = new Map<string, EmTraining>();
  const trainingOrder: string[] = [];
  const predictions = new Map<string, EmPrediction>();
  const scripts: TrainingScript[] = [];
  let faults: Array<Fault & { left: number }> = [];
  const requests: ReplicateEmulator['requests'] = [];
  const webhooks: WebhookDelivery[] = [];
  const pendingTimers = new Set<NodeJS.Timeout>();
  let closed = false;
  let origin = '';

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => { pendingTimers.delete(t); if (!closed) fn(); }, ms);
    pendingTimers.add(t);
  };

  // ─── training timeline ──────────────────────────────────────────────────────────────────
  const simSeconds = (t: EmTraining, now: number) => Math.max(0, (now - t.processingAtMs) * speed);

  function advance(t: EmTraining, now = Date.now()): void {
    if (['succeeded', 'failed', 'canceled', 'aborted'].includes(t.status)) return;
    if (t.script.outcome === 'stall') return;
    if (t.script.outcome === 'abort' && now >= t.processingAtMs) {
      finish(t, 'aborted', null, now);
      return;
    }
    if (now >= t.processingAtMs && t.status === 'starting') {
      t.status = 'processing';
      t.startedAtMs = t.processingAtMs;
    }
    if (t.status === 'processing' && simSeconds(t, now) >= t.endsAtSec) {
      if (t.script.outcome === 'fail') finish(t, 'failed', t.script.error, now);
      else {
        const version = hex64(t.id, 'version');
        const dest = models.get(t.destination);
        dest?.versions.push(version);
        t.output = { version: `${t.destination}:${version}`, weights: `${origin}/delivery/${t.id}/trained_model.tar` };
        finish(t, 'succeeded', null, now);
      }
    }
  }

  function finish(t: EmTraining, status: EmTraining['status'], error: string | null, now: number) {
    t.status = status;
    t.error = error;
    t.completedAtMs = now;
  }

  function visibleLogs(t: EmTraining, now = Date.now()): string {
    if (t.status === 'starting' || t.startedAtMs === null) return '';
    const until = t.completedAtMs !== null ? simSeconds(t, t.completedAtMs) : simSeconds(t, now);
    return renderLogLines(t.log.filter((l) => l.at <= until));
  }

  function trainingJson(t: EmTraining) {
    advance(t);
    return {
      id: t.id,
      model: t.model,
      version: t.version,
      input: t.input,
      logs: visibleLogs(t),
      error: t.error,
      status: t.status,
      source: 'api',
      created_at: new Date(t.createdAtMs).toISOString(),
      started_at: t.startedAtMs ? new Date(t.startedAtMs).toISOString() : null,
      completed_at: t.completedAtMs ? new Date(t.completedAtMs).toISOString() : null,
      metrics: t.completedAtMs && t.startedAtMs ? { predict_time: (t.completedAtMs - t.startedAtMs) / 1000, total_time: (t.completedAtMs - t.createdAtMs) / 1000 } : {},
      output: t.output,
      webhook: t.webhook,
      webhook_events_filter: t.events,
      urls: { get: `${origin}/v1/trainings/${t.id}`, cancel: `${origin}/v1/trainings/${t.id}/cancel`, web: `https://replicate.com/p/${t.id}` },
    };
  }

  // ─── webhooks ───────────────────────────────────────────────────────────────────────────
  function tickWebhooks() {
    const now = Date.now();
    for (const t of trainings.values()) {
      if (!t.webhook) continue;
      advance(t, now);
      if (!t.sentStart && t.events.includes('start')) {
        t.sentStart = true;
        void deliver(t, 'start', false, 1, `msg_${jobId(random)}`);
      }
      const terminal = ['succeeded', 'failed', 'canceled', 'aborted'].includes(t.status);
      if (t.events.includes('logs') && !terminal && t.status === 'processing' && now - t.lastLogsWebhookMs >= logsThrottleMs) {
        const len = visibleLogs(t, now).length;
        if (len !== t.lastLogsLength) {
          t.lastLogsLength = len;
          t.lastLogsWebhookMs = now;
          void deliver(t, 'logs', false, 1, `msg_${jobId(random)}`);
        }
      }
      if (terminal && !t.completedWebhookSent && t.events.includes('completed')) {
        t.completedWebhookSent = true;
        void deliver(t, 'completed', true, 1, `msg_${jobId(random)}`);
      }
    }
  }

  async function deliver(t: EmTraining, event: string, retry: boolean, attempt: number, webhookId: string): Promise<void> {
    const record: WebhookDelivery = { trainingId: t.id, event, status: t.status, webhookId, responseStatus: null, attempt };
    webhooks.push(record);
    if (takeFault('any', 'drop-webhook') || takeFault('download', 'drop-webhook')) return;
    const body = JSON.stringify(trainingJson(t));
    const headers = signWebhook({ secret: webhookSecret, webhookId, timestampSeconds: Math.floor(Date.now() / 1000), rawBody: body });
    try {
      const res = await fetch(t.webhook!, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, redirect: 'manual', signal: AbortSignal.timeout(5000) });
      record.responseStatus = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return;
    } catch {
      record.responseStatus = 0;
    }
    // Only the completed webhook is retried, with backoff (compressed here).
    if (retry && attempt < 5) later(50 * 2 ** attempt, () => void deliver(t, event, retry, attempt + 1, webhookId));
  }

  const ticker = setInterval(tickWebhooks, 20);

  // ─── faults ─────────────────────────────────────────────────────────────────────────────
  function takeFault(route: Route | 'any', kind?: Fault['kind'], afterHandling = false): (Fault & { left: number }) | undefined {
    const f = faults.find((x) => (x.route === route || x.route === 'any') && x.left > 0 && (kind ? x.kind === kind : x.kind !== 'drop-webhook') && !!x.afterHandling === afterHandling);
    if (f) f.left -= 1;
    faults = faults.filter((x) => x.left > 0);
    return f;
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  function applyFault(res: ServerResponse, fault: Fault): boolean {
    if (fault.kind === 'timeout') return true; // never answer: the client's timeout fires
    if (fault.kind === '429') {
      const s = fault.retryAfter ?? 1;
      send(res, 429, { detail: `Request was throttled. Your rate limit resets in ~${s}s.`, status: 429 }, { 'retry-after': String(s) });
    } else send(res, 500, { detail: 'Internal server error', status: 500 });
    return true;
  }

  // ─── HTTP ───────────────────────────────────────────────────────────────────────────────
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { detail: `emulator error: ${(error as Error).message}`, status: 500 });
    });
  });

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  function routeOf(method: string, path: string): Route | null {
    if (method === 'POST' && path === '/v1/files') return 'uploadFile';
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

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin);
    const method = req.method ?? 'GET';
    // Public delivery URLs (files, weights, outputs) need no token, like replicate.delivery.
    if (method === 'GET' && (url.pathname.startsWith('/files/') || url.pathname.startsWith('/delivery/'))) return serveDelivery(url.pathname, res);
    const route = routeOf(method, url.pathname);
    const entry = { method, path: url.pathname, route, status: 0 };
    requests.push(entry);
    res.on('finish', () => (entry.status = res.statusCode));
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, { title: 'Unauthenticated', detail: 'You did not pass a valid authentication token', status: 401 });
    if (!route) return send(res, 404, { detail: 'Not found', status: 404 });
    const before = takeFault(route);
    if (before) {
      applyFault(res, before);
      return;
    }
    if (failureRate > 0 && faultRandom() < failureRate) {
      applyFault(res, { route, kind: faultRandom() < 0.5 ? '429' : '500', retryAfter: 0 });
      return;
    }
    const body = method === 'POST' ? await readBody(req) : Buffer.alloc(0);
    const after = takeFault(route, undefined, true);
    if (after) {
      // Do the work, then lose the answer.
      const sink = { writeHead: () => sink, end: () => undefined, setHeader: () => undefined, headersSent: false } as unknown as ServerResponse;
      await dispatch(route, url, req, body, sink);
      applyFault(res, after);
      return;
    }
    await dispatch(route, url, req, body, res);
  }

  async function dispatch(route: Route, url: URL, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const parts = url.pathname.split('/').filter(Boolean);
    const json = () => (body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {});
    switch (route) {
      case 'uploadFile': {
        const form = await new Request(`${origin}/upload`, { method: 'POST', headers: { 'content-type': String(req.headers['content-type']) }, body: new Uint8Array(body) }).formData();
        const content = form.get('content');
        if (!(content instanceof Blob)) return send(res, 422, { detail: 'content is required', status: 422, invalid_fields: [{ type: 'required', field: 'content', description: 'content is required' }] });
        const data = Buffer.from(await content.arrayBuffer());
        if (data.length > 100 * 2 ** 20) return send(res, 413, { detail: 'File too large', status: 413 });
        const id = jobId(random);
        const type = String(form.get('type') ?? content.type ?? 'application/octet-stream');
        files.set(id, { data, contentType: type });
        return send(res, 201, {
          id, content_type: type, size: data.length, checksums: { sha256: hex64(data.toString('base64')) }, metadata: {},
          created_at: new Date().toISOString(), expires_at: new Date(Date.now() + 86_400_000).toISOString(), urls: { get: `${origin}/files/${id}` },
        });
      }
      case 'createModel': {
        const b = json();
        const key = `${b.owner}/${b.name}`;
        if (models.has(key)) return send(res, 409, { detail: 'A model with that name already exists.', status: 409 });
        models.set(key, { owner: String(b.owner), name: String(b.name), visibility: String(b.visibility), versions: [] });
        return send(res, 201, modelJson(key));
      }
      case 'getModel': {
        const key = `${parts[2]}/${parts[3]}`;
        if (!TRAINERS[key] && !models.has(key)) return send(res, 404, { detail: 'Not found', status: 404 });
        return send(res, 200, modelJson(key));
      }
      case 'getVersion': {
        const key = `${parts[2]}/${parts[3]}`;
        const id = parts[5]!;
        const trainer = TRAINERS[key];
        if (trainer && trainer.version === id) return send(res, 200, versionJson(id, trainer.trainer === 'flux' ? FLUX_TRAINER_INPUT : SDXL_TRAINER_INPUT));
        const model = models.get(key);
        if (model?.versions.includes(id)) {
          const t = [...trainings.values()].find((x) => x.output?.version.endsWith(id));
          return send(res, 200, versionJson(id, t && TRAINERS[t.model]?.trainer === 'sdxl' ? SDXL_VERSION_INPUT : FLUX_VERSION_INPUT));
        }
        return send(res, 404, { detail: 'Not found', status: 404 });
      }
      case 'createTraining':
        return createTraining(parts, json(), res);
      case 'getTraining': {
        const t = trainings.get(parts[2]!);
        return t ? send(res, 200, trainingJson(t)) : send(res, 404, { detail: 'Not found', status: 404 });
      }
      case 'listTrainings': {
        const offset = Number(url.searchParams.get('cursor') ?? 0);
        const newestFirst = [...trainingOrder].reverse();
        const page = newestFirst.slice(offset, offset + pageSize).map((id) => trainingJson(trainings.get(id)!));
        const next = offset + pageSize < newestFirst.length ? `${origin}/v1/trainings?cursor=${offset + pageSize}` : null;
        return send(res, 200, { next, previous: offset > 0 ? `${origin}/v1/trainings?cursor=${Math.max(0, offset - pageSize)}` : null, results: page });
      }
      case 'cancelTraining': {
        const t = trainings.get(parts[2]!);
        if (!t) return send(res, 404, { detail: 'Not found', status: 404 });
        advance(t);
        if (!['succeeded', 'failed', 'canceled', 'aborted'].includes(t.status)) finish(t, 'canceled', null, Date.now());
        return send(res, 200, trainingJson(t));
      }
      case 'createPrediction':
        return createPrediction(json(), req, res);
      case 'getPrediction': {
        const p = predictions.get(parts[2]!);
        return p ? send(res, 200, predictionJson(p)) : send(res, 404, { detail: 'Not found', status: 404 });
      }
      case 'cancelPrediction': {
        const p = predictions.get(parts[2]!);
        if (!p) return send(res, 404, { detail: 'Not found', status: 404 });
        advancePrediction(p);
        if (p.status !== 'succeeded' && p.status !== 'failed') p.status = 'canceled';
        return send(res, 200, predictionJson(p));
      }
      case 'webhookSecret':
        return send(res, 200, { key: webhookSecret });
      case 'download':
        return send(res, 404, { detail: 'Not found', status: 404 });
    }
  }

  function modelJson(key: string) {
    const trainer = TRAINERS[key];
    const model = models.get(key);
    const [owner, name] = key.split('/');
    const latest = trainer ? trainer.version : model?.versions.at(-1);
    return {
      url: `https://replicate.com/${key}`, owner, name, description: null, visibility: model?.visibility ?? 'public',
      latest_version: latest ? versionJson(latest, null) : null,
    };
  }

  function versionJson(id: string, input: object | null) {
    return { id, created_at: new Date().toISOString(), cog_version: '0.9.0', openapi_schema: input ? { openapi: '3.0.2', components: { schemas: { Input: input } } } : null };
  }

  async function createTraining(parts: string[], b: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const trainerKey = `${parts[2]}/${parts[3]}`;
    const trainer = TRAINERS[trainerKey];
    if (!trainer) return send(res, 404, { detail: 'Not found', status: 404 });
    if (parts[5] !== trainer.version) return send(res, 422, { detail: 'Invalid version or not permitted', status: 422 });
    const destination = String(b.destination ?? '');
    if (!models.has(destination)) return send(res, 404, { detail: 'The specified training destination does not exist', status: 404 });
    const input = (b.input ?? {}) as Record<string, unknown>;
    if (typeof input.input_images !== 'string') {
      return send(res, 422, { detail: 'Input validation failed', status: 422, invalid_fields: [{ type: 'required', field: 'input.input_images', description: 'input_images is required' }] });
    }
    const id = jobId(random);
    const script = scripts.shift() ?? { outcome: 'succeed' as const };
    const steps = Number(trainer.trainer === 'flux' ? (input.steps ?? 1000) : (input.max_train_steps ?? 1000));
    let error: string | null = null;
    let status: EmTraining['status'] = 'starting';
    let imageCount = 0;
    let captionFiles = 0;
    if (!Number.isInteger(steps) || steps < 3 || steps > 6000) {
      error = `Prediction input failed validation: ${trainer.trainer === 'flux' ? 'steps' : 'max_train_steps'} must be between 3 and 6000`;
      status = 'failed';
    } else {
      const counted = await countZipImages(String(input.input_images));
      if (counted === null) {
        error = 'BadZipFile: File is not a zip file';
        status = 'failed';
      } else ({ imageCount, captionFiles } = counted);
      if (counted && imageCount === 0) {
        error = 'No images found in input_images';
        status = 'failed';
      }
    }
    const stopAtStep = script.outcome === 'fail' ? script.atStep : undefined;
    const generated = generateTrainerLog({ trainer: trainer.trainer, steps, imageCount: imageCount || 1, captionFiles, triggerWord: String(input.trigger_word ?? input.token_string ?? 'TOK'), seed: random() * 1e9, ...(stopAtStep !== undefined && { stopAtStep }) });
    const now = Date.now();
    const t: EmTraining = {
      id, model: trainerKey, version: trainer.version, destination, input, webhook: typeof b.webhook === 'string' ? b.webhook : null,
      events: Array.isArray(b.webhook_events_filter) ? (b.webhook_events_filter as string[]) : ['start', 'output', 'logs', 'completed'],
      createdAtMs: now, processingAtMs: now + bootMs, script, log: generated.lines, endsAtSec: generated.endsAt, status, error,
      output: null, completedAtMs: status === 'failed' ? now : null, startedAtMs: null, sentStart: false, lastLogsWebhookMs: 0, lastLogsLength: 0, completedWebhookSent: false,
    };
    trainings.set(id, t);
    trainingOrder.push(id);
    return send(res, 201, trainingJson(t));
  }

  async function countZipImages(url: string): Promise<{ imageCount: number; captionFiles: number } | null> {
    let data: Buffer | undefined;
    const local = url.startsWith(`${origin}/files/`) ? files.get(url.slice(`${origin}/files/`.length)) : undefined;
    if (local) data = local.data;
    else {
      try {
        const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
        if (!r.ok) return null;
        data = Buffer.from(await r.arrayBuffer());
      } catch {
        return null;
      }
    }
    return new Promise((resolve) => {
      yauzl.fromBuffer(data!, { lazyEntries: false }, (err, zip) => {
        if (err || !zip) return resolve(null);
        let imageCount = 0;
        let captionFiles = 0;
        zip.on('entry', (e: yauzl.Entry) => {
          if (/\.(jpe?g|png|webp)$/i.test(e.fileName)) imageCount++;
          if (/\.txt$/i.test(e.fileName)) captionFiles++;
        });
        zip.on('end', () => resolve({ imageCount, captionFiles }));
        zip.on('error', () => resolve(null));
      });
    });
  }

  // ─── predictions ────────────────────────────────────────────────────────────────────────
  function advancePrediction(p: EmPrediction, now = Date.now()) {
    if (p.status === 'succeeded' || p.status === 'failed' || p.status === 'canceled') return;
    p.status = now >= p.doneAtMs ? 'succeeded' : now >= p.createdAtMs + 30 ? 'processing' : 'starting';
  }

  function predictionJson(p: EmPrediction) {
    advancePrediction(p);
    return {
      id: p.id, model: 'theway/loras', version: p.version, input: p.input, logs: p.status === 'starting' ? '' : 'Using seed: 42\n', error: p.error,
      status: p.status, created_at: new Date(p.createdAtMs).toISOString(), started_at: new Date(p.createdAtMs + 30).toISOString(),
      completed_at: p.status === 'succeeded' ? new Date(p.doneAtMs).toISOString() : null,
      output: p.status === 'succeeded' ? p.outputs : null, metrics: {},
      urls: { get: `${origin}/v1/predictions/${p.id}`, cancel: `${origin}/v1/predictions/${p.id}/cancel` },
    };
  }

  async function createPrediction(b: Record<string, unknown>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const version = String(b.version ?? '');
    const known = [...models.values()].some((m) => m.versions.includes(version));
    if (!known) return send(res, 422, { detail: 'Invalid version or not permitted', status: 422 });
    const input = (b.input ?? {}) as Record<string, unknown>;
    if (typeof input.prompt !== 'string' || !input.prompt) {
      return send(res, 422, { detail: 'Input validation failed', status: 422, invalid_fields: [{ type: 'required', field: 'input.prompt', description: 'prompt is required' }] });
    }
    const id = jobId(random);
    const n = Math.min(4, Math.max(1, Number(input.num_outputs ?? 1)));
    const format = String(input.output_format ?? 'png');
    const seed = Number(input.seed ?? 42);
    const outputs: string[] = [];
    for (let i = 0; i < n; i++) {
      const key = `outputs/${id}/${i}.${format}`;
      files.set(key, { data: await renderImage(String(input.prompt), seed + i, format), contentType: format === 'jpg' ? 'image/jpeg' : `image/${format}` });
      outputs.push(`${origin}/files/${key}`);
    }
    const now = Date.now();
    const p: EmPrediction = { id, version, input, createdAtMs: now, doneAtMs: now + predictionMs, status: 'starting', outputs, error: null };
    predictions.set(id, p);
    const prefer = /wait=(\d+)/.exec(String(req.headers.prefer ?? ''));
    if (prefer) {
      const waitMs = Math.min(60, Number(prefer[1])) * 1000;
      const deadline = Date.now() + waitMs;
      while (Date.now() < deadline && Date.now() < p.doneAtMs) await new Promise((r) => setTimeout(r, 10));
    }
    return send(res, 201, predictionJson(p));
  }

  function serveDelivery(path: string, res: ServerResponse) {
    const weights = /^\/delivery\/([^/]+)\/trained_model\.tar$/.exec(path);
    if (weights) {
      const t = trainings.get(weights[1]!);
      if (!t || t.status !== 'succeeded') return send(res, 404, { detail: 'Not found' });
      void buildWeightsTar(t.id).then((tarBytes) => {
        res.writeHead(200, { 'content-type': 'application/x-tar', 'content-length': String(tarBytes.length) });
        res.end(tarBytes);
      });
      return;
    }
    const file = files.get(path.slice('/files/'.length));
    if (!file) return send(res, 404, { detail: 'Not found' });
    res.writeHead(200, { 'content-type': file.contentType, 'content-length': String(file.data.length) });
    res.end(file.data);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: origin,
    baseUrl: `${origin}/v1`,
    token,
    webhookSecret,
    requests,
    webhooks,
    trainingIds: () => [...trainingOrder],
    training: (id) => {
      const t = trainings.get(id);
      if (t) advance(t);
      return t;
    },
    scriptNextTraining: (s) => scripts.push(s),
    addFault: (f) => faults.push({ ...f, left: f.times ?? 1 }),
    clearFaults: () => (faults = []),
    setFailureRate: (r) => (failureRate = r),
    createModel: (owner, name) => void models.set(`${owner}/${name}`, { owner, name, visibility: 'private', versions: [] }),
    close: async () => {
      closed = true;
      clearInterval(ticker);
      for (const t of pendingTimers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A deterministic picture for a prompt and seed: a gradient whose colours come from both. */
async function renderImage(prompt: string, seed: number, format: string): Promise<Buffer> {
  const h = hex64(prompt, seed);
  const c1 = `#${h.slice(0, 6)}`;
  const c2 = `#${h.slice(6, 12)}`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${c1}"/><stop offset="1" stop-color="${c2}"/></linearGradient></defs><rect width="256" height="256" fill="url(#g)"/><circle cx="${64 + (seed % 128)}" cy="128" r="40" fill="#ffffff" fill-opacity="0.5"/></svg>`;
  const img = sharp(Buffer.from(svg));
  if (format === 'jpg') return img.jpeg({ quality: 80 }).toBuffer();
  if (format === 'webp') return img.webp({ quality: 80 }).toBuffer();
  return img.png().toBuffer();
}

/** trained_model.tar as the flux trainer writes it, with a small but well-formed safetensors file. */
async function buildWeightsTar(trainingId: string): Promise<Buffer> {
  const tensor = Buffer.alloc(64, 7);
  const header = Buffer.from(JSON.stringify({ __metadata__: { format: 'pt', training: trainingId }, 'lora_unet.weight': { dtype: 'F32', shape: [4, 4], data_offsets: [0, 64] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const safetensors = Buffer.concat([len, header, tensor]);
  const pack = tar.pack();
  pack.entry({ name: 'output/flux_train_replicate/config.yaml' }, 'job: extension\nconfig:\n  name: flux_train_replicate\n');
  pack.entry({ name: 'output/flux_train_replicate/lora.safetensors' }, safetensors);
  pack.entry({ name: 'output/flux_train_replicate/captions/image_01.txt' }, 'a photo of TOK');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
