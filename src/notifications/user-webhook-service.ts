import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { z } from 'zod';
import type { Database, UserWebhooksTable } from '../db/schema.ts';
import type { User } from '../accounts/types.ts';
import { notFound, validation } from '../shared/errors.ts';
import { signWebhook } from '../providers/replicate/webhook-signature.ts';
import { defineJob, jobSpec, type AnyJobDefinition, type JobQueue } from '../jobs/jobs.ts';
import { inspectDestination, postOnce, RefusedDestination, systemResolve, type DestinationPolicy, type Resolve } from './webhook-destination.ts';

export const webhookUrlInput = z.object({
  url: z.url({ protocol: /^https?$/, error: 'Enter an http(s) URL, e.g. https://example.com/hooks/theway.' }).max(2000),
});

/** A reply is only read for its status; this much of its body at most (the rest is never downloaded). */
export const MAX_REPLY_BYTES = 64 * 1024;
const DELIVERY_TIMEOUT_MS = 10_000;
/** Saving looks the name up to refuse internal ones early; a slow or failing DNS does not block saving (delivery checks again). */
const SAVE_LOOKUP_TIMEOUT_MS = 3_000;

export interface UserWebhookOptions {
  /** USER_WEBHOOK_ALLOW_PRIVATE: deliver to loopback, private and link-local addresses too (receivers on the server's own network). */
  allowPrivate?: boolean;
  /** How host names are resolved (the system resolver; tests make names point elsewhere). */
  resolve?: Resolve;
}

export const notifyTrainingEndedJob = jobSpec({ name: 'notify.training-ended', payload: z.object({ trainingId: z.uuid() }) });
const notifyTestJob = jobSpec({ name: 'notify.test', payload: z.object({ userId: z.uuid(), eventId: z.string().max(80) }) });

export interface UserWebhookView {
  url: string;
  createdAt: string;
  lastDeliveryAt: string | null;
  lastDeliveryStatus: string | null;
}

const view = (r: Selectable<UserWebhooksTable>): UserWebhookView => ({ url: r.url, createdAt: r.created_at, lastDeliveryAt: r.last_delivery_at, lastDeliveryStatus: r.last_delivery_status });

/**
 * The per-user outgoing webhook: when a training ends, a signed POST (Standard Webhooks, the same
 * scheme Replicate uses) tells the user's own systems. Delivery is a durable job, retried with
 * backoff; the webhook id stays the same across retries so receivers can deduplicate.
 *
 * The URL is the user's, the request is the server's: only public internet addresses are posted
 * to (unless `allowPrivate`), checked when the URL is saved and again at every delivery, where the
 * connection goes to exactly the addresses that were checked (see webhook-destination.ts).
 */
export class UserWebhookService {
  readonly #db: Kysely<Database>;
  readonly #jobs: JobQueue;
  readonly #policy: DestinationPolicy;

  constructor(db: Kysely<Database>, jobs: JobQueue, options: UserWebhookOptions = {}) {
    this.#db = db;
    this.#jobs = jobs;
    this.#policy = { allowPrivate: options.allowPrivate ?? false, resolve: options.resolve ?? systemResolve };
  }

  async get(viewer: User): Promise<UserWebhookView | null> {
    const row = await this.#db.selectFrom('user_webhooks').selectAll().where('user_id', '=', viewer.id).executeTakeFirst();
    return row ? view(row) : null;
  }

  /** Sets (or replaces) the URL with a new signing secret, which is returned once. */
  async set(viewer: User, url: string): Promise<{ webhook: UserWebhookView; secret: string }> {
    await this.#checkOnSave(url);
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const at = new Date().toISOString();
    const row = { user_id: viewer.id, url, secret, created_at: at, last_delivery_at: null, last_delivery_status: null };
    await this.#db.insertInto('user_webhooks').values(row).onConflict((oc) => oc.column('user_id').doUpdateSet({ url, secret, created_at: at, last_delivery_at: null, last_delivery_status: null })).execute();
    return { webhook: view(row), secret };
  }

  async remove(viewer: User): Promise<void> {
    const r = await this.#db.deleteFrom('user_webhooks').where('user_id', '=', viewer.id).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw notFound('Webhook');
  }

  async sendTest(viewer: User): Promise<void> {
    if (!(await this.get(viewer))) throw notFound('Webhook');
    await this.#jobs.enqueue(notifyTestJob, { userId: viewer.id, eventId: `msg_${randomUUID()}` });
  }

  /** Called when a training reaches its end (ready, failed or canceled). */
  async trainingEnded(trainingId: string): Promise<void> {
    await this.#jobs.enqueue(notifyTrainingEndedJob, { trainingId }, { singletonKey: `notify:${trainingId}` });
  }

  jobDefinitions(): AnyJobDefinition[] {
    return [
      defineJob({
        ...notifyTrainingEndedJob,
        maxAttempts: 8,
        backoff: { initialDelayMs: 10_000, maxDelayMs: 30 * 60_000 },
        handler: async ({ trainingId }) => {
          const row = await this.#db
            .selectFrom('trainings')
            .innerJoin('models', 'models.id', 'trainings.model_id')
            .innerJoin('user_webhooks', 'user_webhooks.user_id', 'trainings.owner_id')
            .select(['trainings.id', 'trainings.status', 'trainings.model_id', 'trainings.failure_kind', 'trainings.failure_message', 'trainings.output_version', 'trainings.completed_at', 'trainings.owner_id', 'models.name', 'user_webhooks.url', 'user_webhooks.secret'])
            .where('trainings.id', '=', trainingId)
            .executeTakeFirst();
          if (!row) return; // no webhook configured (or the training is gone): nothing to tell
          await this.#deliver(row.owner_id, row.url, row.secret, `msg_training_${trainingId}`, {
            type: `training.${row.status}`,
            training: { id: row.id, modelId: row.model_id, status: row.status, failure: row.failure_kind ? { kind: row.failure_kind, message: row.failure_message } : null, outputVersion: row.output_version, completedAt: row.completed_at },
            model: { id: row.model_id, name: row.name },
          });
        },
      }),
      defineJob({
        ...notifyTestJob,
        maxAttempts: 3,
        backoff: { initialDelayMs: 5_000, maxDelayMs: 60_000 },
        handler: async ({ userId, eventId }) => {
          const row = await this.#db.selectFrom('user_webhooks').selectAll().where('user_id', '=', userId).executeTakeFirst();
          if (row) await this.#deliver(userId, row.url, row.secret, eventId, { type: 'test', message: 'Webhooks from The Way reach you.' });
        },
      }),
    ];
  }

  /** Refuses a destination that is not public now; a name that does not resolve (yet) is accepted, delivery checks again. */
  async #checkOnSave(url: string): Promise<void> {
    try {
      await inspectDestination(url, this.#policy, AbortSignal.timeout(SAVE_LOOKUP_TIMEOUT_MS));
    } catch (error) {
      if (error instanceof RefusedDestination) throw validation(error.message, [{ path: ['url'], message: error.message }]);
    }
  }

  async #deliver(userId: string, url: string, secret: string, webhookId: string, event: Record<string, unknown>): Promise<void> {
    const body = JSON.stringify({ ...event, sentAt: new Date().toISOString() });
    const headers = signWebhook({ secret, webhookId, timestampSeconds: Math.floor(Date.now() / 1000), rawBody: body });
    const signal = AbortSignal.timeout(DELIVERY_TIMEOUT_MS);
    let status: string;
    try {
      // Resolved and checked at every delivery: DNS may have changed since the URL was saved, and
      // URLs saved before this check existed were never checked.
      const addresses = await inspectDestination(url, this.#policy, signal);
      // Redirects are not followed (as Replicate does): a webhook URL must answer itself.
      status = String(await postOnce(url, { headers: { 'content-type': 'application/json', 'user-agent': 'TheWay-Webhooks', ...headers }, body, addresses, signal, maxResponseBytes: MAX_REPLY_BYTES }));
    } catch (error) {
      if (error instanceof RefusedDestination) {
        // Recorded and not retried: the refusal follows from the URL (or its DNS), not from a
        // passing fault, so retrying would only repeat the lookup against an internal name up to
        // 8 times. The job ends here; the user sees the status and fixes the URL.
        await this.#record(userId, error.status);
        return;
      }
      status = describeFailure(error, signal);
    }
    await this.#record(userId, status);
    if (!/^2\d\d$/.test(status)) throw new Error(`Webhook delivery to the user's endpoint failed (${status}); retrying later.`);
  }

  async #record(userId: string, status: string): Promise<void> {
    await this.#db.updateTable('user_webhooks').set({ last_delivery_at: new Date().toISOString(), last_delivery_status: status }).where('user_id', '=', userId).execute();
  }
}

/** A short, plain status for a delivery that got no answer. */
function describeFailure(error: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'error: timeout';
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENODATA') return 'error: host not found';
  if (code === 'ECONNREFUSED') return 'error: connection refused';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'error: connection reset';
  if (code === 'ETIMEDOUT') return 'error: timeout';
  if (typeof code === 'string' && /CERT|TLS|SSL|SIGNATURE|VERIFY/.test(code)) return 'error: TLS';
  return `error: ${typeof code === 'string' ? code : ((error as Error | undefined)?.name ?? 'unknown')}`;
}
