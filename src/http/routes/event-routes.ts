import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EventBus, PlatformEvent } from '../../events/event-bus.ts';
import { requireUser } from '../auth.ts';
import { commonErrors } from '../response-schemas.ts';

const HEARTBEAT_MS = 15_000;
const REPLAY_BUFFER = 2_000;

/**
 * Recent events with sequence numbers, so a reconnecting stream (Last-Event-ID) gets what it missed.
 * When the id is older than the buffer, or from another process, the client is told to resync
 * (re-read its page) instead: events are hints, rows are the truth.
 */
class ReplayBuffer {
  readonly #events: Array<{ seq: number; event: PlatformEvent }> = [];
  #seq = 0;
  readonly epoch = Date.now().toString(36);

  add(event: PlatformEvent): number {
    this.#seq += 1;
    this.#events.push({ seq: this.#seq, event });
    if (this.#events.length > REPLAY_BUFFER) this.#events.shift();
    return this.#seq;
  }

  /** Events after `lastId`, or null when they cannot be known. */
  since(lastId: string): Array<{ seq: number; event: PlatformEvent }> | null {
    const [epoch, n] = lastId.split('-');
    const seq = Number(n);
    if (epoch !== this.epoch || !Number.isInteger(seq)) return null;
    const oldest = this.#events[0]?.seq ?? this.#seq + 1;
    if (seq < oldest - 1) return null;
    return this.#events.filter((e) => e.seq > seq);
  }
}

export const eventRoutes = (events: EventBus): FastifyPluginAsyncZod => async (app) => {
  const buffer = new ReplayBuffer();
  const listeners = new Set<(seq: number, event: PlatformEvent) => void>();
  // One bus subscription per process, fanned out here: publishing costs O(streams), not O(streams × buses).
  const unsubscribe = events.subscribe((event) => {
    const seq = buffer.add(event);
    for (const l of listeners) l(seq, event);
  });
  const open = new Set<import('node:http').ServerResponse>();
  // Streams never go idle, so the server would wait for them forever on shutdown: end them.
  app.addHook('preClose', async () => {
    unsubscribe();
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
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // Tells nginx-style proxies not to buffer the stream.
        'x-accel-buffering': 'no',
      });
      const send = (seq: number, event: PlatformEvent) => {
        if (event.ownerId !== user.id) return;
        res.write(`id: ${buffer.epoch}-${seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      };
      res.write('retry: 3000\n\n');
      const lastId = request.headers['last-event-id'];
      if (typeof lastId === 'string' && lastId) {
        const missed = buffer.since(lastId);
        if (missed === null) res.write(`event: resync\ndata: {}\n\n`);
        else for (const m of missed) send(m.seq, m.event);
      }
      listeners.add(send);
      open.add(res);
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      const close = () => {
        clearInterval(heartbeat);
        listeners.delete(send);
        open.delete(res);
      };
      request.raw.on('close', close);
      res.on('error', close);
    },
  );
};
