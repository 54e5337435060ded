import type { OutgoingHttpHeaders } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EventBus, PlatformEvent } from '../../events/event-bus.ts';
import type { Principal } from '../../accounts/types.ts';
import { AppError } from '../../shared/errors.ts';
import { requireUser } from '../auth.ts';
import { commonErrors } from '../schemas/common.ts';
import type { liveEvent } from '../schemas/events.ts';

/**
 * The stream sends each PlatformEvent as it is, and the web app reads it as `liveEvent`
 * (../schemas/events.ts). Each must fit the other, so a field renamed or added on one side only
 * fails the typecheck instead of the page.
 */
type Fits<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
type WireMatchesBus = Assert<Fits<PlatformEvent, z.output<typeof liveEvent>>>;
type WireHasBusFields = Assert<Fits<keyof PlatformEvent, keyof z.output<typeof liveEvent>>>;

const HEARTBEAT_MS = 15_000;
const REPLAY_BUFFER = 2_000;
/**
 * How often an open stream checks that the credential it was opened with (session cookie or API
 * token) still authenticates, and ends when it does not: signing out, revoking the token or its
 * expiry stops the user's events within this long. One small query per stream per interval.
 */
export const CREDENTIAL_CHECK_MS = 30_000;

export interface EventRouteOptions {
  /** Whether the credential behind a principal still authenticates (AccountService.isStillValid). */
  stillValid: (principal: Principal) => Promise<boolean>;
  /** Streams one user may have open at once in this process (SSE_MAX_STREAMS_PER_USER). */
  maxStreamsPerUser: number;
  /** CREDENTIAL_CHECK_MS unless shortened (tests). */
  credentialCheckMs?: number;
}

/**
 * Recent events with self-describing ids (`<instance>-<seq>`), so a reconnecting stream
 * (Last-Event-ID) gets what it missed. Each process (and each restart) has its own instance id:
 * behind a proxy a reconnect may land on another web process, whose sequence means nothing here.
 * When the id is from another instance, older than the buffer, or from before events were lost
 * (the bus signalled a resync), the client is told to resync (re-read its page) instead: events
 * are hints, rows are the truth.
 */
class ReplayBuffer {
  readonly #events: Array<{ seq: number; event: PlatformEvent }> = [];
  #seq = 0;
  /** Sequence number of the last resync marker: ids below it may have missed events. */
  #lastGap = 0;
  /** Hex only, so the last "-" of an id separates instance and sequence. */
  readonly instanceId = randomBytes(6).toString('hex');

  add(event: PlatformEvent): number {
    this.#seq += 1;
    this.#events.push({ seq: this.#seq, event });
    if (this.#events.length > REPLAY_BUFFER) this.#events.shift();
    return this.#seq;
  }

  /** Records that events may have been lost at this point; returns the marker's sequence number. */
  gap(): number {
    this.#seq += 1;
    this.#lastGap = this.#seq;
    return this.#seq;
  }

  get current(): number {
    return this.#seq;
  }

  id(seq: number): string {
    return `${this.instanceId}-${seq}`;
  }

  /** Events after `lastId`, or null when they cannot be known. */
  since(lastId: string): Array<{ seq: number; event: PlatformEvent }> | null {
    const dash = lastId.lastIndexOf('-');
    const instance = lastId.slice(0, dash);
    const digits = lastId.slice(dash + 1);
    const seq = Number(digits);
    if (dash < 0 || instance !== this.instanceId || !/^\d{1,15}$/.test(digits) || seq > this.#seq) return null;
    if (seq < this.#lastGap) return null;
    const oldest = this.#events[0]?.seq ?? this.#seq + 1;
    if (seq < oldest - 1) return null;
    return this.#events.filter((e) => e.seq > seq);
  }
}

type Frame = { seq: number; event: PlatformEvent } | { seq: number; resync: true };

export const eventRoutes = (events: EventBus, options: EventRouteOptions): FastifyPluginAsyncZod => async (app) => {
  const checkMs = options.credentialCheckMs ?? CREDENTIAL_CHECK_MS;
  const max = options.maxStreamsPerUser;
  /** Open streams by user id, in this process. */
  const streamsByUser = new Map<string, number>();
  const buffer = new ReplayBuffer();
  const listeners = new Set<(frame: Frame) => void>();
  // One bus subscription per process, fanned out here: publishing costs O(streams), not O(streams × buses).
  const unsubscribe = events.subscribe((event) => {
    const seq = buffer.add(event);
    for (const l of listeners) l({ seq, event });
  });
  // The bus lost events (its cross-process connection came back): every open page re-reads.
  const unsubscribeResync = events.onResync?.(() => {
    const seq = buffer.gap();
    for (const l of listeners) l({ seq, resync: true });
  });
  const open = new Set<import('node:http').ServerResponse>();
  // Streams never go idle, so the server would wait for them forever on shutdown: end them.
  app.addHook('preClose', async () => {
    unsubscribe();
    unsubscribeResync?.();
    for (const res of open) res.end();
  });

  app.get(
    '/api/events',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['events'],
        summary: 'Server-Sent Events: live training progress and model changes for the signed-in user (reconnect with Last-Event-ID)',
        response: { 200: z.unknown().describe('text/event-stream'), ...commonErrors },
      },
    },
    async (request, reply) => {
      const user = requireUser(request);
      const principal = request.principal!;
      // Each stream holds a connection and a listener: one user (or a leaked token) cannot open without end.
      if ((streamsByUser.get(user.id) ?? 0) >= max) {
        throw new AppError(
          'rate_limited',
          `You have ${max} live connections open; close some tabs or windows of The Way (or other programs reading /api/events) and try again.`,
          { limit: 'sse_streams_per_user', max },
        );
      }
      // Counted in the same tick as the check (nothing is awaited from here on), so concurrent opens cannot pass it together.
      streamsByUser.set(user.id, (streamsByUser.get(user.id) ?? 0) + 1);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        // A hijacked reply skips Fastify's onSend hooks: carry over the security headers set so far.
        ...(reply.getHeaders() as OutgoingHttpHeaders),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // Tells nginx-style proxies not to buffer the stream.
        'x-accel-buffering': 'no',
      });
      // A resync carries an id too, so the client's next Last-Event-ID points past the gap.
      const send = (frame: Frame) => {
        if ('resync' in frame) {
          res.write(`id: ${buffer.id(frame.seq)}\nevent: resync\ndata: {}\n\n`);
          return;
        }
        if (frame.event.ownerId !== user.id) return;
        res.write(`id: ${buffer.id(frame.seq)}\nevent: ${frame.event.type}\ndata: ${JSON.stringify(frame.event)}\n\n`);
      };
      res.write('retry: 3000\n\n');
      const lastId = request.headers['last-event-id'];
      if (typeof lastId === 'string' && lastId) {
        const missed = buffer.since(lastId);
        if (missed === null) send({ seq: buffer.current, resync: true });
        else for (const m of missed) send(m);
      }
      listeners.add(send);
      open.add(res);
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      let closed = false;
      let checking = false;
      const recheck = setInterval(() => {
        if (checking) return; // a slow database: one check at a time per stream
        checking = true;
        options.stillValid(principal).then(
          (valid) => {
            if (valid || closed) return;
            // Signed out, revoked or expired: the client's reconnect will get 401.
            close();
            res.end();
          },
          // Not known either way (database unreachable): the next interval checks again.
          (error: unknown) => request.log.warn({ err: error }, 'Could not re-check the credential of a live-event stream; trying again at the next interval.'),
        ).finally(() => {
          checking = false;
        });
      }, checkMs);
      // Runs once, however the stream ends (client gone, credential no longer valid, shutdown, error).
      const close = () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        clearInterval(recheck);
        listeners.delete(send);
        open.delete(res);
        const left = (streamsByUser.get(user.id) ?? 1) - 1;
        if (left > 0) streamsByUser.set(user.id, left);
        else streamsByUser.delete(user.id);
      };
      request.raw.on('close', close);
      res.on('close', close);
      res.on('error', close);
      // Gone while it was being authenticated: no close event will come any more.
      if (request.raw.socket.destroyed) close();
    },
  );
};
