import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { z } from 'zod';
import type { Database, UserWebhooksTable } from '../db/schema.ts';
import type { User } from '../accounts/types.ts';
import { notFound } from '../shared/errors.ts';
import { signWebhook } from '../providers/replicate/webhook-signature.ts';
import { defineJob, jobSpec, type AnyJobDefinition, type JobQueue } from '../jobs/jobs.ts';

export const webhookUrlInput = z.object({
  url: z.url({ protocol: /^https?$/, error: 'Enter an http(s) URL, e.g. https://example.com/hooks/theway.' }).max(2000),
});

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
 */
export class UserWebhookService {
  readonly #db: Kysely<Database>;
  readonly #jobs: JobQueue;
  readonly #fetch: typeof fetch;

  constructor(db: Kysely<Database>, jobs: JobQueue, options: { fetch?: typeof fetch } = {}) {
    this.#db = db;
    this.#jobs = jobs;
    this.#fetch = options.fetch ?? fetch;
  }

  async get(viewer: User): Promise<UserWebhookView | null> {
    const row = await this.#db.selectFrom('user_webhooks').selectAll().where('user_id', '=', viewer.id).executeTakeFirst();
    return row ? view(row) : null;
  }

  /** Sets (or replaces) the URL with a new signing secret, which is returned once. */
  async set(viewer: User, url: string): Promise<{ webhook: UserWebhookView; secret: string }> {
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

  async #deliver(userId: string, url: string, secret: string, webhookId: string, event: Record<string, unknown>): Promise<void> {
    const body = JSON.stringify({ ...event, sentAt: new Date().toISOString() });
    const headers = signWebhook({ secret, webhookId, timestampSeconds: Math.floor(Date.now() / 1000), rawBody: body });
    let status: string;
    try {
      // Redirects are not followed (as Replicate does): a webhook URL must answer itself.
      const res = await this.#fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'TheWay-Webhooks', ...headers }, body, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer().catch(() => undefined);
      status = String(res.status);
    } catch (error) {
      status = `error: ${(error as Error).name}`;
    }
    await this.#db.updateTable('user_webhooks').set({ last_delivery_at: new Date().toISOString(), last_delivery_status: status }).where('user_id', '=', userId).execute();
    if (!/^2\d\d$/.test(status)) throw new Error(`Webhook delivery to the user's endpoint failed (${status}); retrying later.`);
  }
}
