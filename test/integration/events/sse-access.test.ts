import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import type { PlatformEvent } from '../../../src/events/event-bus.ts';
import { openSse, type SseStream } from '../../support/sse-client.ts';
import { until } from '../../support/until.ts';

/**
 * Who may keep a live-events stream open: the credential that opened it is checked again every
 * interval (shortened here), so revoking the API token, signing out or the credential expiring ends
 * the stream; and one user has a bounded number of streams open at once (per web process).
 */

const CHECK_MS = 200;
/** Generous for a busy machine; without the re-check the stream would never end. */
const END_WITHIN_MS = 10 * CHECK_MS;
const MAX_STREAMS = 3;

const event = (ownerId: string, n: number): PlatformEvent => ({ type: 'training.updated', ownerId, modelId: 'm', trainingId: `t${n}`, status: 'processing', at: new Date().toISOString() });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(DIALECTS)('live events: credential re-check and stream cap (%s)', (dialect) => {
  let t: TestApp;
  let base: string;
  const streams: SseStream[] = [];
  const open = async (headers: Record<string, string>) => {
    const stream = await openSse(`${base}/api/events`, headers);
    streams.push(stream);
    return stream;
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const tokenId = async (userId: string) => (await t.ctx.accounts.listApiTokens(userId))[0]!.id;

  beforeAll(async () => {
    t = await startTestApp(dialect, { SSE_MAX_STREAMS_PER_USER: String(MAX_STREAMS) }, { app: { liveEventsCredentialCheckMs: CHECK_MS } });
    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await t.close();
  });

  it('keeps a stream whose credential is still valid open across checks', async () => {
    const me = await t.newUser();
    const stream = await open(bearer(me.token));
    await sleep(4 * CHECK_MS);
    expect(stream.ended).toBe(false);
    t.ctx.events.publish(event(me.id, 1));
    await stream.waitFor((f) => f.some((frame) => frame.data?.includes('"t1"')), 'an event after several checks');
    stream.close();
  });

  it('ends the stream of a revoked API token within the check interval; the same user\'s other token keeps its stream', async () => {
    const me = await t.newUser();
    const { secret: otherToken } = await t.ctx.accounts.createApiToken(me.id, { name: 'other' });
    const revoked = await open(bearer(me.token));
    const kept = await open(bearer(otherToken));
    const id = (await t.ctx.accounts.listApiTokens(me.id)).find((tk) => tk.name === 'test')!.id;
    const res = await t.request({ method: 'DELETE', url: `/api/tokens/${id}`, as: { token: otherToken } });
    expect(res.statusCode, res.body).toBe(204);
    const took = await revoked.waitForEnd('the revoked token\'s stream to end', END_WITHIN_MS);
    expect(took).toBeLessThan(END_WITHIN_MS);
    expect(kept.ended).toBe(false);
    // Nothing more reaches the ended stream; the other one still gets the user's events.
    t.ctx.events.publish(event(me.id, 2));
    await kept.waitFor((f) => f.some((frame) => frame.data?.includes('"t2"')), 'the event on the kept stream');
    expect(revoked.frames.some((frame) => frame.data?.includes('"t2"'))).toBe(false);
    // Reconnecting with the revoked token is refused.
    expect((await fetch(`${base}/api/events`, { headers: bearer(me.token) })).status).toBe(401);
    kept.close();
  });

  it('ends the stream of an API token that expired while it was open', async () => {
    const me = await t.newUser();
    const stream = await open(bearer(me.token));
    await t.ctx.db.kysely.updateTable('api_tokens').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('id', '=', await tokenId(me.id)).execute();
    await stream.waitForEnd('the expired token\'s stream to end', END_WITHIN_MS);
  });

  it('ends the stream of a browser session that signed out; another session of the same user keeps its stream', async () => {
    const me = await t.newUser();
    const laptop = await t.browserHeaders(me);
    const phone = await t.browserHeaders(me);
    const signedOut = await open({ cookie: laptop.cookie! });
    const kept = await open({ cookie: phone.cookie! });
    const res = await t.request({ method: 'POST', url: '/api/auth/signout', headers: laptop });
    expect(res.statusCode, res.body).toBe(204);
    await signedOut.waitForEnd('the signed-out session\'s stream to end', END_WITHIN_MS);
    await sleep(2 * CHECK_MS);
    expect(kept.ended).toBe(false);
    expect((await fetch(`${base}/api/events`, { headers: { cookie: laptop.cookie! } })).status).toBe(401);
    kept.close();
  });

  it(`refuses a user's stream past ${MAX_STREAMS} with 429 and a clear message; closing one lets a new one in`, async () => {
    const me = await t.newUser();
    const mine = [];
    for (let i = 0; i < MAX_STREAMS; i++) mine.push(await open(bearer(me.token)));
    expect(mine.map((s) => s.status)).toEqual(Array(MAX_STREAMS).fill(200));

    const refused = await fetch(`${base}/api/events`, { headers: bearer(me.token) });
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('rate_limited');
    expect(body.error.message).toMatch(new RegExp(`^You have ${MAX_STREAMS} live connections open; close some tabs`));

    // Another user is not affected.
    const other = await t.newUser();
    expect((await open(bearer(other.token))).status).toBe(200);

    // A closed stream frees its place (as soon as the server sees the connection go).
    mine[0]!.close();
    const again = await until(() => open(bearer(me.token)), (s) => s.status === 200, 'a stream after closing one', 5_000);
    expect(again.status).toBe(200);
  });

  it('frees the places of streams the server ended (revoked credential)', async () => {
    const me = await t.newUser();
    const { secret: second } = await t.ctx.accounts.createApiToken(me.id, { name: 'second' });
    const first = [];
    for (let i = 0; i < MAX_STREAMS; i++) first.push(await open(bearer(me.token)));
    expect((await fetch(`${base}/api/events`, { headers: bearer(second) })).status).toBe(429);
    await t.ctx.accounts.revokeApiToken(me.id, (await t.ctx.accounts.listApiTokens(me.id)).find((tk) => tk.name === 'test')!.id);
    for (const s of first) await s.waitForEnd('a revoked stream to end', END_WITHIN_MS);
    const after = [];
    for (let i = 0; i < MAX_STREAMS; i++) after.push(await open(bearer(second)));
    expect(after.map((s) => s.status)).toEqual(Array(MAX_STREAMS).fill(200));
  });
});
