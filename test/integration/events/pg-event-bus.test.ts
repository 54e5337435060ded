import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../support/databases.ts';
import { until } from '../../support/until.ts';
import { insertUser } from '../../support/factories.ts';
import { PgEventBus, MAX_NOTIFY_BYTES, MAX_QUEUED_EVENTS, type EventBusLogger } from '../../../src/events/pg-event-bus.ts';
import type { PlatformEvent } from '../../../src/events/event-bus.ts';
import { loadConfig } from '../../../src/config.ts';
import { createAppContext, type AppContext } from '../../../src/app-context.ts';
import { buildApp } from '../../../src/http/app.ts';
import { openSse, type SseFrame } from '../../support/sse-client.ts';

const event = (ownerId: string, n: number, extra: Partial<PlatformEvent> = {}): PlatformEvent => ({
  type: 'training.updated',
  ownerId,
  modelId: 'm',
  trainingId: `t${n}`,
  status: 'processing',
  at: new Date().toISOString(),
  ...extra,
});

/** Collects what a bus delivers and what it logs (to check that nothing secret or noisy leaks). */
function record(bus: PgEventBus) {
  const seen: PlatformEvent[] = [];
  let resyncs = 0;
  bus.subscribe((e) => seen.push(e));
  bus.onResync(() => { resyncs += 1; });
  return { seen, ids: () => seen.map((e) => e.trainingId), resyncs: () => resyncs };
}

function memoryLogger() {
  const lines: Array<{ level: string; obj: object; msg: string }> = [];
  const logger: EventBusLogger = {
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
  return { logger, lines };
}

describe('PgEventBus (LISTEN/NOTIFY across processes)', () => {
  let db: TestDb;
  let admin: pg.Client;
  const buses: PgEventBus[] = [];
  let channelN = 0;

  /** A started bus on its own connections, like one process; each test gets its own channel. */
  async function bus(options: { logger?: EventBusLogger; start?: boolean; channel?: string } = {}): Promise<PgEventBus> {
    const b = new PgEventBus({
      connectionString: db.location,
      channel: options.channel ?? `theway_test_${channelN}`,
      reconnect: { initialMs: 50, maxMs: 500 },
      ...(options.logger ? { logger: options.logger } : {}),
    });
    buses.push(b);
    if (options.start ?? true) await b.start();
    return b;
  }

  async function listenPid(b: PgEventBus): Promise<number | null> {
    const r = await admin.query<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', [`theway-events-${b.instanceId}`]);
    return r.rows[0]?.pid ?? null;
  }

  beforeAll(async () => {
    db = await createTestDb('postgres');
    admin = new pg.Client({ connectionString: db.location });
    await admin.connect();
  });
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
    channelN += 1;
  });
  afterAll(async () => {
    await admin.end();
    await db.drop();
  });

  it("two processes see each other's events exactly once, and their own exactly once", async () => {
    const a = await bus();
    const b = await bus();
    const seenA = record(a);
    const seenB = record(b);
    a.publish(event('u1', 1));
    await until(() => seenB.ids(), (ids) => ids.includes('t1'), 'B hearing A');
    // Notifications arrive in commit order: once A hears B's later event, A's own echo of t1 has come and gone.
    b.publish(event('u1', 2));
    await until(() => seenA.ids(), (ids) => ids.includes('t2'), 'A hearing B');
    a.publish(event('u1', 3));
    await until(() => seenB.ids(), (ids) => ids.includes('t3'), 'B hearing A again');
    b.publish(event('u1', 4));
    await until(() => seenA.ids(), (ids) => ids.includes('t4'), 'A hearing B again');
    expect(seenA.ids()).toEqual(['t1', 't2', 't3', 't4']);
    expect(seenB.ids()).toEqual(['t1', 't2', 't3', 't4']);
    expect(seenA.seen[1]).toEqual(event('u1', 2, { at: seenA.seen[1]!.at }));
    expect(seenA.resyncs() + seenB.resyncs()).toBe(0);
  });

  it("delivers every owner's events to every process (filtering by owner is the SSE route's job)", async () => {
    const a = await bus();
    const b = await bus();
    const seenB = record(b);
    a.publish(event('alice', 1));
    a.publish(event('bob', 2));
    await until(() => seenB.seen, (s) => s.length === 2, 'both events');
    expect(seenB.seen.map((e) => [e.ownerId, e.trainingId])).toEqual([['alice', 't1'], ['bob', 't2']]);
  });

  it("keeps one process's events in publish order for the others", async () => {
    const a = await bus();
    const b = await bus();
    const seenB = record(b);
    for (let n = 0; n < 2000; n++) a.publish(event('u', n, { progress: { stage: 'training', percent: n / 20, step: n, totalSteps: 2000, trainerEtaSeconds: 2000 - n, loss: 0.1 } }));
    await until(() => seenB.seen.length, (n) => n === 2000, 'all 2000 events');
    expect(seenB.seen.map((e) => e.progress?.step)).toEqual(Array.from({ length: 2000 }, (_, n) => n));
    expect(seenB.resyncs()).toBe(0);
  });

  it('reconnects a killed LISTEN connection and tells subscribers to resync', async () => {
    const { logger, lines } = memoryLogger();
    const a = await bus({ logger });
    const b = await bus();
    const seenA = record(a);
    const pid = await listenPid(a);
    expect(pid).not.toBeNull();
    await admin.query('select pg_terminate_backend($1)', [pid]);
    await until(() => seenA.resyncs(), (n) => n === 1, 'the resync signal');
    expect(a.listening).toBe(true);
    const newPid = await listenPid(a);
    expect(newPid).not.toBeNull();
    expect(newPid).not.toBe(pid);
    b.publish(event('u', 1));
    await until(() => seenA.ids(), (ids) => ids.includes('t1'), 'an event after reconnecting');
    expect(lines.some((l) => l.level === 'warn' && /LISTEN connection lost/.test(l.msg))).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(db.location);
    // And again: the backoff was reset, the second loss is handled like the first.
    await admin.query('select pg_terminate_backend($1)', [newPid]);
    await until(() => seenA.resyncs(), (n) => n === 2, 'the second resync signal');
    b.publish(event('u', 2));
    await until(() => seenA.ids(), (ids) => ids.includes('t2'), 'an event after the second reconnect');
    expect(seenA.ids()).toEqual(['t1', 't2']);
  });

  it('keeps publishing after its NOTIFY connection is killed', async () => {
    const a = await bus();
    const b = await bus();
    const seenB = record(b);
    a.publish(event('u', 1));
    await until(() => seenB.ids(), (ids) => ids.includes('t1'), 'the first event');
    const r = await admin.query<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', [`theway-events-${a.instanceId}-notify`]);
    expect(r.rows.length).toBeGreaterThan(0);
    for (const row of r.rows) await admin.query('select pg_terminate_backend($1)', [row.pid]);
    // The pool notices the dead connection (idle error or a failed query) and opens a new one.
    await until(async () => {
      a.publish(event('u', 2));
      return seenB.ids();
    }, (ids) => ids.includes('t2'), 'an event through a new NOTIFY connection');
  });

  it('drops the progress snapshot of an oversized event, not the event', async () => {
    const { logger, lines } = memoryLogger();
    const a = await bus({ logger });
    const b = await bus();
    const seenA = record(a);
    const seenB = record(b);
    const huge = { stage: 'x'.repeat(MAX_NOTIFY_BYTES), percent: 50, step: 1, totalSteps: 2, trainerEtaSeconds: 10, loss: 0.2 };
    a.publish(event('u', 1, { progress: huge }));
    await until(() => seenB.ids(), (ids) => ids.includes('t1'), 'the oversized event');
    expect(seenB.seen[0]!.progress).toBeUndefined();
    expect(seenB.seen[0]!.status).toBe('processing');
    // Its own process still has the snapshot: nothing was serialized for it.
    expect(seenA.seen[0]!.progress).toEqual(huge);

    // An event too large even without its snapshot stays in its process; the next one still goes out.
    a.publish(event('u', 2, { status: 'y'.repeat(MAX_NOTIFY_BYTES) }));
    a.publish(event('u', 3));
    await until(() => seenB.ids(), (ids) => ids.includes('t3'), 'the event after the unsendable one');
    expect(seenB.ids()).toEqual(['t1', 't3']);
    expect(seenA.ids()).toEqual(['t1', 't2', 't3']);
    expect(lines.some((l) => l.level === 'warn' && /too large/.test(l.msg))).toBe(true);
    // B missed t2, and knows it: the sender's sequence skipped.
    expect(seenB.resyncs()).toBe(1);
    expect(seenA.resyncs()).toBe(0);
  });

  it('drops what overflows the send queue, and the other processes resync', async () => {
    const { logger, lines } = memoryLogger();
    const a = await bus({ logger });
    const b = await bus();
    const seenB = record(b);
    const total = MAX_QUEUED_EVENTS + 500;
    for (let n = 0; n < total; n++) a.publish(event('u', n));
    expect(lines.some((l) => /not keeping up/.test(l.msg))).toBe(true);
    await until(() => lines, (l) => l.some((line) => /caught up after dropping/.test(line.msg)), 'the queue to drain');
    // Sent after everything queued: once B has it, B has all it will ever get.
    a.publish(event('u', total));
    await until(() => seenB.ids(), (ids) => ids.includes(`t${total}`), 'the event after the overflow');
    const received = seenB.ids().slice(0, -1);
    // Everything queued arrived, in order; the overflow never did.
    expect(received.length).toBeGreaterThanOrEqual(MAX_QUEUED_EVENTS);
    expect(received.length).toBeLessThan(total);
    expect(received).toEqual(Array.from({ length: received.length }, (_, n) => `t${n}`));
    expect(seenB.resyncs()).toBe(1);
  });

  it('never throws from publish: before start, after close, with the database unreachable, or with a failing listener', async () => {
    const a = await bus();
    const seenA = record(a);
    const early = await bus({ start: false });
    const seenEarly = record(early);
    expect(() => early.publish(event('u', 1))).not.toThrow();
    // Before start it still delivers locally, and its NOTIFY reaches started processes.
    expect(seenEarly.ids()).toEqual(['t1']);
    await until(() => seenA.ids(), (ids) => ids.includes('t1'), 'an event published before start');

    const failing = await bus();
    failing.subscribe(() => { throw new Error('listener bug'); });
    const seenFailing = record(failing);
    expect(() => failing.publish(event('u', 2))).not.toThrow();
    expect(seenFailing.ids()).toEqual(['t2']);

    await early.close();
    expect(() => early.publish(event('u', 3))).not.toThrow();
    await early.close();

    const { logger, lines } = memoryLogger();
    // Port 1 on loopback: nothing listens there.
    const nowhere = new PgEventBus({ connectionString: 'postgres://theway:s3cret-password@127.0.0.1:1/none', channel: 'theway_test_nowhere', logger });
    buses.push(nowhere);
    await expect(nowhere.start()).rejects.toThrow();
    expect(nowhere.listening).toBe(false);
    expect(() => nowhere.publish(event('u', 4))).not.toThrow();
    await until(() => lines, (l) => l.some((line) => /publish failed/.test(line.msg)), 'the failed publish to be logged');
    expect(JSON.stringify(lines)).not.toContain('s3cret-password');
  });

  it('ignores notifications it cannot read and keeps listening', async () => {
    const a = await bus();
    const b = await bus();
    const seenA = record(a);
    await admin.query('select pg_notify($1, $2)', [a.channel, 'not json']);
    await admin.query('select pg_notify($1, $2)', [a.channel, JSON.stringify({ from: 'x', seq: 1, event: { type: 'training.updated' } })]);
    await admin.query('select pg_notify($1, $2)', [a.channel, JSON.stringify({ from: 'x', event: event('u', 0) })]);
    b.publish(event('u', 1));
    await until(() => seenA.ids(), (ids) => ids.includes('t1'), 'the valid event');
    expect(seenA.seen).toHaveLength(1);
  });

  it('keeps channels apart: a deployment only hears its own channel', async () => {
    const a = await bus({ channel: `theway_test_${channelN}_a` });
    const b = await bus({ channel: `theway_test_${channelN}_b` });
    const a2 = await bus({ channel: `theway_test_${channelN}_a` });
    const seenB = record(b);
    const seenA2 = record(a2);
    a.publish(event('u', 1));
    b.publish(event('u', 2));
    a.publish(event('u', 3));
    await until(() => seenA2.ids(), (ids) => ids.includes('t3'), 'the same-channel events');
    expect(seenA2.ids()).toEqual(['t1', 't3']);
    expect(seenB.ids()).toEqual(['t2']);
    expect(() => new PgEventBus({ connectionString: db.location, channel: 'bad"; drop table x; --' })).toThrow(/channel/);
  });
});

describe('SSE across web processes (PgEventBus)', () => {
  let db: TestDb;
  let admin: pg.Client;
  const processes: Array<{ ctx: AppContext; app: FastifyInstance; bus: PgEventBus; base: string; dataDir: string }> = [];

  /** One web process: its own app context, HTTP server and bus, on the shared database. */
  async function webProcess() {
    const dataDir = mkdtempSync(join(tmpdir(), 'theway-web-'));
    const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', DATABASE_URL: db.location, API_RATE_LIMIT_PER_MIN: '100000' });
    const ctx = await createAppContext(config, { migrate: false });
    const bus = new PgEventBus({ connectionString: db.location, channel: 'theway_sse_test', reconnect: { initialMs: 50, maxMs: 500 } });
    await bus.start();
    // The lead wires PgEventBus in app-context; here the test swaps it in before the routes subscribe.
    ctx.events = bus;
    const app = await buildApp(ctx);
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const p = { ctx, app, bus, base, dataDir };
    processes.push(p);
    return p;
  }

  beforeAll(async () => {
    db = await createTestDb('postgres');
    admin = new pg.Client({ connectionString: db.location });
    await admin.connect();
  });
  afterAll(async () => {
    for (const p of processes) {
      await p.app.close();
      await p.bus.close();
      await p.ctx.close();
      rmSync(p.dataDir, { recursive: true, force: true });
    }
    await admin.end();
    await db.drop();
  });

  const ids = (frames: SseFrame[]) => frames.filter((f) => f.data && f.event !== 'resync').map((f) => (JSON.parse(f.data!) as PlatformEvent).trainingId);

  it("streams events published by another process, only the user's own, and resyncs open streams after a lost connection", async () => {
    const web1 = await webProcess();
    const web2 = await webProcess();
    const me = await insertUser(web1.ctx.db.kysely);
    const other = await insertUser(web1.ctx.db.kysely);
    const { secret } = await web1.ctx.accounts.createApiToken(me.id, { name: 'sse' });

    const stream = await openSse(`${web1.base}/api/events`, { authorization: `Bearer ${secret}` });
    try {
      // web2 stands for "a worker next to another web process".
      web2.bus.publish(event(other.id, 1));
      web2.bus.publish(event(me.id, 2));
      await stream.waitFor((f) => ids(f).includes('t2'), "the other process's event");
      expect(ids(stream.frames)).toEqual(['t2']);

      const pid = (await admin.query<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', [`theway-events-${web1.bus.instanceId}`])).rows[0]?.pid;
      expect(pid).toBeDefined();
      await admin.query('select pg_terminate_backend($1)', [pid]);
      const frames = await stream.waitFor((f) => f.some((frame) => frame.event === 'resync'), 'a live resync');
      const resync = frames.find((f) => f.event === 'resync')!;
      expect(resync.id).toMatch(/^[0-9a-f]+-\d+$/);

      // The stream keeps working after the reconnect.
      web2.bus.publish(event(me.id, 3));
      await stream.waitFor((f) => ids(f).includes('t3'), 'an event after the reconnect');
    } finally {
      stream.close();
    }

    // A client reconnecting through the proxy to web2 with web1's id is told to resync.
    const lastId = stream.frames.filter((f) => f.id).at(-1)!.id!;
    const moved = await openSse(`${web2.base}/api/events`, { authorization: `Bearer ${secret}`, 'last-event-id': lastId });
    try {
      await moved.waitFor((f) => f.some((frame) => frame.event === 'resync'), 'a resync on the other process');
      expect(ids(moved.frames)).toEqual([]);
    } finally {
      moved.close();
    }

    // One from before the lost connection gets a resync even on its own process: events may be missing.
    const beforeGap = stream.frames.find((f) => f.data && f.event !== 'resync')!.id!;
    const stale = await openSse(`${web1.base}/api/events`, { authorization: `Bearer ${secret}`, 'last-event-id': beforeGap });
    try {
      await stale.waitFor((f) => f.some((frame) => frame.event === 'resync'), 'a resync for an id from before the gap');
      expect(ids(stale.frames)).toEqual([]);
    } finally {
      stale.close();
    }
  });
});
