import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import type { PlatformEvent } from '../../../src/events/event-bus.ts';
import { openSse, type SseFrame } from '../../support/sse-client.ts';

const event = (ownerId: string, n: number): PlatformEvent => ({ type: 'training.updated', ownerId, modelId: 'm', trainingId: `t${n}`, status: 'processing', at: new Date().toISOString() });

const trainingIds = (frames: SseFrame[]) => frames.filter((f) => f.data && f.event !== 'resync').map((f) => (JSON.parse(f.data!) as PlatformEvent).trainingId);

describe('live events (SSE)', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await startTestApp('sqlite');
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => t.close());

  it('requires auth', async () => {
    const res = await fetch(`${base}/api/events`);
    expect(res.status).toBe(401);
  });

  it('sends the security headers on the stream too (the reply is hijacked)', async () => {
    const me = await t.newUser();
    const stream = await openSse(`${base}/api/events`, { authorization: `Bearer ${me.token}` });
    stream.close();
    expect(stream.status).toBe(200);
    expect(stream.headers.get('x-content-type-options')).toBe('nosniff');
    expect(stream.headers.get('content-security-policy')).toBeTruthy();
    expect(stream.headers.get('cache-control')).toBe('no-cache, no-transform');
  });

  it("delivers the user's own events only, with ids for reconnection", async () => {
    const me = await t.newUser();
    const other = await t.newUser();
    const stream = await openSse(`${base}/api/events`, { authorization: `Bearer ${me.token}` });
    try {
      expect(stream.status).toBe(200);
      expect(stream.contentType).toMatch(/text\/event-stream/);
      t.ctx.events.publish(event(other.id, 0));
      t.ctx.events.publish(event(me.id, 1));
      t.ctx.events.publish(event(other.id, 2));
      t.ctx.events.publish(event(me.id, 3));
      const frames = await stream.waitFor((f) => trainingIds(f).length >= 2, 'two events');
      expect(trainingIds(frames)).toEqual(['t1', 't3']);
      expect(frames.filter((f) => f.data).every((f) => /^[0-9a-f]+-\d+$/.test(f.id ?? ''))).toBe(true);
    } finally {
      stream.close();
    }
  });

  it('replays what a reconnecting client missed (Last-Event-ID), or asks it to resync', async () => {
    const me = await t.newUser();
    const first = await openSse(`${base}/api/events`, { authorization: `Bearer ${me.token}` });
    t.ctx.events.publish(event(me.id, 10));
    const lastId = (await first.waitFor((f) => trainingIds(f).length === 1, 'the first event')).find((f) => f.data)!.id!;
    first.close();
    t.ctx.events.publish(event(me.id, 11));
    t.ctx.events.publish(event(me.id, 12));
    const replay = await openSse(`${base}/api/events`, { authorization: `Bearer ${me.token}`, 'last-event-id': lastId });
    try {
      const frames = await replay.waitFor((f) => trainingIds(f).length >= 2, 'the replayed events');
      expect(trainingIds(frames)).toEqual(['t11', 't12']);
      expect(frames.some((f) => f.event === 'resync')).toBe(false);
    } finally {
      replay.close();
    }
    const stale = await openSse(`${base}/api/events`, { authorization: `Bearer ${me.token}`, 'last-event-id': 'old-epoch-5' });
    try {
      await stale.waitFor((f) => f.some((frame) => frame.event === 'resync'), 'a resync');
    } finally {
      stale.close();
    }
  });

  it('asks a client whose Last-Event-ID comes from another process (or a restarted one) to resync, then replays from there', async () => {
    const me = await t.newUser();
    // A second, independent app plays the web process the client was connected to before the proxy moved it.
    const elsewhere = await startTestApp('sqlite');
    let foreignId: string;
    try {
      const baseElsewhere = await elsewhere.app.listen({ port: 0, host: '127.0.0.1' });
      const them = await elsewhere.newUser();
      const there = await openSse(`${baseElsewhere}/api/events`, { authorization: `Bearer ${them.token}` });
      elsewhere.ctx.events.publish(event(them.id, 20));
      foreignId = (await there.waitFor((f) => trainingIds(f).length === 1, 'an event elsewhere')).find((f) => f.data)!.id!;
      there.close();
    } finally {
      await elsewhere.close();
    }
    // Events this process has: a foreign sequence number must not be mistaken for one of ours.
    for (let n = 21; n < 25; n++) t.ctx.events.publish(event(me.id, n));
    const moved = await openSse(`${base}/api/events`, { authorization: `Bearer ${me.token}`, 'last-event-id': foreignId });
    let resyncId: string;
    try {
      const frames = await moved.waitFor((f) => f.some((frame) => frame.event === 'resync'), 'a resync for a foreign id');
      expect(trainingIds(frames)).toEqual([]);
      resyncId = frames.find((f) => f.event === 'resync')!.id!;
      expect(resyncId).toMatch(/^[0-9a-f]+-\d+$/);
      expect(resyncId.split('-')[0]).not.toBe(foreignId.split('-')[0]);
    } finally {
      moved.close();
    }
    // The resync's id is this process's: reconnecting with it replays normally.
    t.ctx.events.publish(event(me.id, 25));
    const again = await openSse(`${base}/api/events`, { authorization: `Bearer ${me.token}`, 'last-event-id': resyncId });
    try {
      const frames = await again.waitFor((f) => trainingIds(f).length >= 1, 'the event after the resync');
      expect(trainingIds(frames)).toEqual(['t25']);
      expect(frames.some((f) => f.event === 'resync')).toBe(false);
    } finally {
      again.close();
    }
  });

  it('treats malformed ids and ids from the future as unknown', async () => {
    const me = await t.newUser();
    const probe = await openSse(`${base}/api/events`, { authorization: `Bearer ${me.token}` });
    t.ctx.events.publish(event(me.id, 30));
    const ownId = (await probe.waitFor((f) => trainingIds(f).length === 1, 'an event')).find((f) => f.data)!.id!;
    probe.close();
    const [instance, seq] = ownId.split('-');
    for (const lastId of ['garbage', `${instance}-`, `${instance}-x`, `${instance}-${Number(seq) + 1000}`, `-${seq}`]) {
      const stream = await openSse(`${base}/api/events`, { authorization: `Bearer ${me.token}`, 'last-event-id': lastId });
      try {
        await stream.waitFor((f) => f.some((frame) => frame.event === 'resync'), `a resync for ${lastId}`);
      } finally {
        stream.close();
      }
    }
  });
});
