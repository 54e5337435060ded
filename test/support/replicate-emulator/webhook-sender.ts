import { signWebhook } from '../../../src/providers/replicate/webhook-signature.ts';
import type { FaultBook } from './faults.ts';

/**
 * Sends webhooks like Replicate: signed (Standard Webhooks), in order per job, redirects not
 * followed, and only the `completed` event retried on failure (with compressed backoff).
 */

export interface WebhookDelivery {
  kind: 'training' | 'prediction';
  jobId: string;
  /** Same as jobId for trainings, null for predictions (kept for older tests). */
  trainingId: string | null;
  event: string;
  /** The job's status in the payload. */
  status: string;
  webhookId: string;
  url: string;
  attempt: number;
  /** HTTP status of the receiver; 0 when the connection failed; null while in flight or dropped. */
  responseStatus: number | null;
  dropped: boolean;
}

/** What an attempt needs; the body (the job with its whole log) is not kept in the delivery log, which long runs would fill. */
type Outgoing = Omit<WebhookDelivery, 'attempt' | 'responseStatus' | 'dropped' | 'trainingId'> & { body: string };

export interface WebhookSenderOptions {
  secret: string;
  faults: FaultBook;
  retryDelaysMs: readonly number[];
  timeoutMs: number;
  nextId: () => string;
  isClosed: () => boolean;
  schedule: (ms: number, fn: () => void) => void;
}

export class WebhookSender {
  readonly deliveries: WebhookDelivery[] = [];
  readonly #options: WebhookSenderOptions;
  readonly #chains = new Map<string, Promise<void>>();

  constructor(options: WebhookSenderOptions) {
    this.#options = options;
  }

  /** Queues one event for a job; `payload` is the job object at this moment. */
  send(kind: 'training' | 'prediction', jobId: string, url: string, event: string, payload: { status: string }): void {
    const body = JSON.stringify(payload);
    const webhookId = this.#options.nextId();
    const chain = (this.#chains.get(jobId) ?? Promise.resolve()).then(() =>
      this.#attempt({ kind, jobId, url, event, status: payload.status, webhookId, body }, 1),
    );
    this.#chains.set(jobId, chain.catch(() => undefined));
  }

  /** Resolves when every queued delivery has had its first attempt. */
  async settled(): Promise<void> {
    await Promise.all(this.#chains.values());
  }

  async #attempt(base: Outgoing, attempt: number): Promise<void> {
    if (this.#options.isClosed()) return;
    const { body: _body, ...described } = base;
    const record: WebhookDelivery = { ...described, trainingId: base.kind === 'training' ? base.jobId : null, attempt, responseStatus: null, dropped: false };
    this.deliveries.push(record);
    if (this.#options.faults.takeWebhookDrop(base.event)) {
      record.dropped = true;
      return;
    }
    const headers = signWebhook({
      secret: this.#options.secret,
      webhookId: base.webhookId, // stable across retries so receivers can dedupe
      timestampSeconds: Math.floor(Date.now() / 1000),
      rawBody: base.body,
    });
    let ok = false;
    try {
      const response = await fetch(base.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'Replicate-Webhooks/emulator', ...headers },
        body: base.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#options.timeoutMs),
      });
      record.responseStatus = response.status;
      await response.arrayBuffer().catch(() => undefined);
      ok = response.status >= 200 && response.status < 300;
    } catch {
      record.responseStatus = 0;
    }
    const delay = this.#options.retryDelaysMs[attempt - 1];
    if (!ok && base.event === 'completed' && delay !== undefined) {
      this.#options.schedule(delay, () => void this.#attempt(base, attempt + 1));
    }
  }
}
