import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { EventBus, PlatformEvent } from './event-bus.ts';

/**
 * Live events shared by every process of a scaled deployment through PostgreSQL LISTEN/NOTIFY:
 * a worker publishes, every web process hears it and feeds its SSE streams.
 *
 * - Listeners in the publishing process are called at once, in `publish`; the NOTIFY echo that
 *   comes back carries this bus's instance id and is skipped, so each listener sees an event once.
 * - NOTIFYs leave in publish order over one pooled connection, batched when they queue up, so
 *   other processes see a training's progress in the order it was made. LISTEN has its own
 *   dedicated connection.
 * - NOTIFY stores nothing, so events can be lost: sent while a LISTEN connection was down, or
 *   never sent (the database failed the NOTIFY, the queue overflowed, the event was too large).
 *   Every loss turns into a resync signal (`onResync`): after a reconnect, and when a sender's
 *   sequence number skips. SSE streams then send `event: resync` and pages re-read their rows,
 *   which are the truth.
 */

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; keep a margin. */
export const MAX_NOTIFY_BYTES = 7_900;

/** Events waiting for the NOTIFY connection beyond this are dropped (the database is stuck). */
export const MAX_QUEUED_EVENTS = 10_000;

/** NOTIFYs sent in one statement when events queue up (one round trip instead of one each). */
const NOTIFY_BATCH = 200;

/** How long `close()` waits for queued NOTIFYs, so a stopping worker's last events still go out. */
const CLOSE_FLUSH_MS = 3_000;

/** Senders whose sequence this process remembers (a restarted process is a new sender). */
const MAX_TRACKED_SENDERS = 1_000;

const CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

// One statement, many notifications, in array order (PostgreSQL delivers a transaction's
// notifications in the order they were sent).
const NOTIFY_SQL = 'select pg_notify($1, payload) from unnest($2::text[]) with ordinality as t(payload, n) order by n';

/** pino's Logger fits; only what the bus needs. */
export interface EventBusLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface PgEventBusOptions {
  connectionString: string;
  /** The NOTIFY channel; every process of one deployment must use the same. Default `theway_events`. */
  channel?: string;
  logger?: EventBusLogger;
  /** Backoff between attempts to re-open a lost LISTEN connection (with jitter). */
  reconnect?: { initialMs?: number; maxMs?: number };
}

interface Envelope {
  /** The publishing bus, so a process skips its own echo. */
  from: string;
  /** Per sender, +1 per published event: a skip tells receivers they missed one. */
  seq: number;
  event: PlatformEvent;
}

type State = 'new' | 'starting' | 'listening' | 'reconnecting' | 'closed';

const silentLogger: EventBusLogger = { info() {}, warn() {}, error() {} };

export class PgEventBus implements EventBus {
  /** Unique per bus (per process); also in its connections' application_name (`theway-events-<id>`, `…-notify`). */
  readonly instanceId = randomBytes(8).toString('hex');
  readonly channel: string;
  readonly #connectionString: string;
  readonly #logger: EventBusLogger;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #listeners = new Set<(event: PlatformEvent) => void>();
  readonly #resyncListeners = new Set<() => void>();
  /** One connection: NOTIFYs leave in publish order. Connects lazily and replaces a broken connection. */
  readonly #notifier: pg.Pool;
  readonly #queue: string[] = [];
  #sending: Promise<void> | null = null;
  #seq = 0;
  #dropped = 0;
  readonly #lastSeqBySender = new Map<string, number>();
  #listener: pg.Client | null = null;
  #state: State = 'new';
  #reconnectTimer: NodeJS.Timeout | null = null;
  #attempt = 0;

  constructor(options: PgEventBusOptions) {
    const channel = options.channel ?? 'theway_events';
    if (!CHANNEL_PATTERN.test(channel)) throw new Error(`PgEventBus channel must match ${CHANNEL_PATTERN} (got "${channel}")`);
    this.channel = channel;
    this.#connectionString = options.connectionString;
    this.#logger = options.logger ?? silentLogger;
    this.#initialBackoffMs = options.reconnect?.initialMs ?? 250;
    this.#maxBackoffMs = options.reconnect?.maxMs ?? 10_000;
    this.#notifier = new pg.Pool({ connectionString: this.#connectionString, max: 1, idleTimeoutMillis: 30_000, application_name: `theway-events-${this.instanceId}-notify` });
    // A pooled connection that dies while idle emits here; without a listener it would crash the process.
    this.#notifier.on('error', (err) => this.#logger.warn({ err: describe(err) }, 'live events: publishing connection lost'));
  }

  /** True while the LISTEN connection is up. */
  get listening(): boolean {
    return this.#state === 'listening';
  }

  /** Opens the LISTEN connection. Rejects when the first attempt fails (at boot, say so); later losses reconnect on their own. */
  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'starting';
    try {
      await this.#listen();
    } catch (error) {
      if (this.#state === 'starting') this.#state = 'new';
      throw error;
    }
  }

  publish(event: PlatformEvent): void {
    this.#deliver(event);
    if (this.#state === 'closed') return;
    // Numbered before anything can drop it, so a drop shows up as a skip at the receivers.
    this.#seq += 1;
    const payload = this.#encode(event, this.#seq);
    if (payload === null) return;
    if (this.#queue.length >= MAX_QUEUED_EVENTS) {
      if (this.#dropped === 0) this.#logger.warn({ queued: this.#queue.length }, 'live events: database not keeping up, dropping events for other processes');
      this.#dropped += 1;
      return;
    }
    this.#queue.push(payload);
    this.#sending ??= this.#drain();
  }

  subscribe(listener: (event: PlatformEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onResync(listener: () => void): () => void {
    this.#resyncListeners.add(listener);
    return () => this.#resyncListeners.delete(listener);
  }

  /** Stops listening, sends what is queued (briefly), closes both connections. Idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    const listener = this.#listener;
    this.#listener = null;
    await listener?.end().catch(() => undefined);
    if (this.#sending) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.#sending, new Promise((r) => { timer = setTimeout(r, CLOSE_FLUSH_MS); })]);
      clearTimeout(timer);
    }
    await this.#notifier.end().catch(() => undefined);
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, NOTIFY_BATCH);
        try {
          await this.#notifier.query(NOTIFY_SQL, [this.channel, batch]);
        } catch (err) {
          this.#logger.warn({ err: describe(err), events: batch.length }, 'live events: publish failed, events dropped for other processes');
        }
      }
      if (this.#dropped > 0) this.#logger.warn({ dropped: this.#dropped }, 'live events: caught up after dropping events');
      this.#dropped = 0;
    } finally {
      this.#sending = null;
    }
  }

  async #listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#connectionString,
      application_name: `theway-events-${this.instanceId}`,
      // Notices a silently dropped connection (no traffic flows on an idle LISTEN connection).
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    // Registered before connecting: errors of a connection that never became current are ignored
    // (the failed connect is handled by its caller), later ones mean it was lost.
    client.on('error', (err) => this.#lost(client, err));
    client.on('end', () => this.#lost(client, null));
    // A lost connection is ended before its replacement opens, so only the current one delivers.
    client.on('notification', (message) => {
      if (message.channel === this.channel && this.#state !== 'closed') this.#receive(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#state === 'closed') {
      await client.end().catch(() => undefined);
      return;
    }
    this.#listener = client;
    this.#state = 'listening';
  }

  #lost(client: pg.Client, err: unknown): void {
    if (client !== this.#listener) return;
    this.#listener = null;
    client.end().catch(() => undefined);
    if (this.#state === 'closed') return;
    this.#state = 'reconnecting';
    this.#logger.warn({ err: err ? describe(err) : 'connection ended' }, 'live events: LISTEN connection lost, reconnecting');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#state === 'closed') return;
    const ceiling = Math.min(this.#maxBackoffMs, this.#initialBackoffMs * 2 ** this.#attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.#attempt += 1;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      this.#listen().then(
        () => {
          if (this.#state !== 'listening') return;
          this.#logger.info({ attempts: this.#attempt }, 'live events: LISTEN connection restored');
          this.#attempt = 0;
          // Sequences seen before the gap say nothing about what came during it.
          this.#lastSeqBySender.clear();
          this.#signalResync();
        },
        (err: unknown) => {
          this.#logger.warn({ err: describe(err), attempt: this.#attempt }, 'live events: reconnect failed');
          this.#scheduleReconnect();
        },
      );
    }, delay);
    // The process's own work keeps it alive; a pending reconnect must not hold it open.
    this.#reconnectTimer.unref();
  }

  #encode(event: PlatformEvent, seq: number): string | null {
    const full = JSON.stringify({ from: this.instanceId, seq, event } satisfies Envelope);
    if (Buffer.byteLength(full, 'utf8') < MAX_NOTIFY_BYTES) return full;
    // The snapshot is a convenience; without it pages re-read the training row.
    const { progress: _dropped, ...lean } = event;
    const smaller = JSON.stringify({ from: this.instanceId, seq, event: lean } satisfies Envelope);
    if (Buffer.byteLength(smaller, 'utf8') < MAX_NOTIFY_BYTES) return smaller;
    this.#logger.warn({ type: event.type, bytes: Buffer.byteLength(smaller, 'utf8') }, 'live events: event too large for NOTIFY, not sent to other processes');
    return null;
  }

  #receive(payload: string | undefined): void {
    let envelope: Partial<Envelope>;
    try {
      envelope = JSON.parse(payload ?? '') as Partial<Envelope>;
    } catch {
      this.#logger.warn({ bytes: payload?.length ?? 0 }, 'live events: unreadable notification ignored');
      return;
    }
    if (envelope.from === this.instanceId) return;
    const { from, seq, event } = envelope;
    if (typeof from !== 'string' || !Number.isSafeInteger(seq) || !event || typeof event.type !== 'string' || typeof event.ownerId !== 'string') {
      this.#logger.warn({}, 'live events: notification of an unknown shape ignored');
      return;
    }
    const last = this.#lastSeqBySender.get(from);
    // Re-inserted so the map keeps the most recently heard senders.
    this.#lastSeqBySender.delete(from);
    this.#lastSeqBySender.set(from, seq!);
    if (this.#lastSeqBySender.size > MAX_TRACKED_SENDERS) this.#lastSeqBySender.delete(this.#lastSeqBySender.keys().next().value!);
    if (last !== undefined && seq! > last + 1) {
      this.#logger.info({ missed: seq! - last - 1 }, 'live events: missed events from another process, resyncing');
      this.#signalResync();
    }
    this.#deliver(event);
  }

  #deliver(event: PlatformEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.#logger.error({ err: describe(err), type: event.type }, 'live events: a listener failed');
      }
    }
  }

  #signalResync(): void {
    for (const listener of [...this.#resyncListeners]) {
      try {
        listener();
      } catch (err) {
        this.#logger.error({ err: describe(err) }, 'live events: a resync listener failed');
      }
    }
  }
}

/** Message and code only: a driver error can quote connection details. */
function describe(err: unknown): { message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? { message: err.message, code } : { message: err.message };
  }
  return { message: String(err) };
}
