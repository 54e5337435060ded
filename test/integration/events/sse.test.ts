import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import type { PlatformEvent } from '../../../src/events/event-bus.ts';

/** Reads SSE frames from a real HTTP stream until `count` data events arrived (or the timeout). */
async function readEvents(url: string, headers: Record<string, string>, count: number, during: () => void | Promise<void>) {
  const controller = new AbortController();
  const res = await fetch(url, { headers, signal: controller.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const reader = res.body!.getReader();
  const frames: Array<{ id?: string; event?: string; data?: string }> = [];
  let buffer = '';
  const decoder = new TextDecoder();
  const done = (async () => {
    while (frames.filter((f) => f.data !== undefined).length < count) {
      const { value, done: end } = await reader.read();
      if (end) break;
      buffer += decoder.decode(value, { stream: true });
      let i;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const frame: { id?: string; event?: string; data?: string } = {};
        for (const line of block.split('\n')) {
          const [k, ...v] = line.split(': ');
          if (k === 'id' || k === 'event' || k === 'data') frame[k] = v.join(': ');
        }
        if (frame.data !== undefined || frame.event) frames.push(frame);
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 50));
  await during();
  await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
  controller.abort();
  return frames;
}

const event = (ownerId: string, n: number): PlatformEvent => ({ type: 'training.updated', ownerId, modelId: 'm', trainingId: `t${n}`, status: 'processing', at: new Date().toISOString() });

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

  it("delivers the user's own events only, with ids for reconnection", async () => {
    const me = await t.newUser();
    const other = await t.newUser();
    const frames = await readEvents(`${base}/api/events`, { authorization: `Bearer ${me.token}` }, 2, () => {
      t.ctx.events.publish(event(other.id, 0));
      t.ctx.events.publish(event(me.id, 1));
      t.ctx.events.publish(event(other.id, 2));
      t.ctx.events.publish(event(me.id, 3));
    });
    const data = frames.filter((f) => f.data).map((f) => JSON.parse(f.data!) as PlatformEvent);
    expect(data.map((d) => d.trainingId)).toEqual(['t1', 't3']);
    expect(frames.every((f) => !f.data || f.id)).toBe(true);
  });

  it('replays what a reconnecting client missed (Last-Event-ID), or asks it to resync', async () => {
    const me = await t.newUser();
    const first = await readEvents(`${base}/api/events`, { authorization: `Bearer ${me.token}` }, 1, () => t.ctx.events.publish(event(me.id, 10)));
    const lastId = first.find((f) => f.data)!.id!;
    t.ctx.events.publish(event(me.id, 11));
    t.ctx.events.publish(event(me.id, 12));
    const replay = await readEvents(`${base}/api/events`, { authorization: `Bearer ${me.token}`, 'last-event-id': lastId }, 2, () => {});
    expect(replay.filter((f) => f.data).map((f) => JSON.parse(f.data!).trainingId)).toEqual(['t11', 't12']);
    const stale = await readEvents(`${base}/api/events`, { authorization: `Bearer ${me.token}`, 'last-event-id': 'old-epoch-5' }, 1, () => {});
    expect(stale.some((f) => f.event === 'resync')).toBe(true);
  });
});
