import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { DIALECTS } from '../../support/databases.ts';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { FACTORY_PASSWORD, insertModel, insertTraining, insertUser } from '../../support/factories.ts';
import { addDatasetImages, multipartBody } from '../../support/dataset-factories.ts';
import { photoJpeg } from '../../support/images.ts';
import { startReplicateEmulator } from '../../support/replicate-emulator/index.ts';
import { insertReadyModel, trainOnEmulator } from '../../support/generation-factories.ts';

/**
 * Abuse limits (issue #8): each one answers 429 (or 413 for sizes) with a message naming the
 * limit and, for rates, when to retry (Retry-After); per-user limits leave other users alone;
 * per-IP limits count every user behind the address. Every limit is set through the environment.
 */

const expectRateLimited = (res: LightMyRequestResponse, message: RegExp) => {
  expect(res.statusCode, res.body).toBe(429);
  expect(res.json().error.code).toBe('rate_limited');
  expect(res.json().error.message).toMatch(message);
  expect(res.json().error.message).toMatch(/Try again in \d+ (second|minute|hour)s?\./);
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter) && retryAfter > 0, `Retry-After: ${res.headers['retry-after']}`).toBe(true);
};

/** Sends `count` requests in turn and returns their statuses. */
const statuses = async (count: number, send: (i: number) => Promise<LightMyRequestResponse>) => {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await send(i)).statusCode);
  return out;
};

describe('rate limits per user and per address', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite', {
      TRUST_PROXY: 'true',
      LOGIN_RATE_LIMIT_PER_15_MIN: '3',
      LOGIN_IP_RATE_LIMIT_PER_15_MIN: '5',
      LOGIN_ACCOUNT_RATE_LIMIT_PER_15_MIN: '6',
      SIGNUP_RATE_LIMIT_PER_HOUR: '2',
      UPLOAD_RATE_LIMIT_PER_MIN: '2',
      UPLOAD_IP_RATE_LIMIT_PER_MIN: '3',
      GENERATION_RATE_LIMIT_PER_MIN: '2',
      GENERATION_IP_RATE_LIMIT_PER_MIN: '3',
      TRAINING_RATE_LIMIT_PER_HOUR: '2',
      TRAINING_IP_RATE_LIMIT_PER_HOUR: '3',
    });
  });
  afterAll(() => t.close());

  /** Requests from a given client address, as the proxy in front of the platform reports it. */
  const from = (ip: string) => ({ 'x-forwarded-for': ip });

  it('sign-in: per address and email, then per address across emails', async () => {
    const user = await insertUser(t.ctx.db.kysely);
    const signIn = (email: string, ip: string, password = 'wrong password!') => t.request({ method: 'POST', url: '/api/auth/signin', headers: from(ip), payload: { email, password } });
    expect(await statuses(3, () => signIn(user.email, '198.51.100.1'))).toEqual([401, 401, 401]);
    // The fourth guess for this account from this address is refused, even with the right password.
    expectRateLimited(await signIn(user.email, '198.51.100.1', FACTORY_PASSWORD), /^Too many sign-in attempts for this account: the limit is 3 per 15 minutes\./);
    // The same account from another address still signs in.
    expect((await signIn(user.email, '198.51.100.2', FACTORY_PASSWORD)).statusCode).toBe(200);
    // Spraying other accounts from the first address: its overall budget (5) runs out.
    expect(await statuses(2, (i) => signIn(`nobody-${i}@example.test`, '198.51.100.1'))).toEqual([401, 401]);
    expectRateLimited(await signIn('someone-else@example.test', '198.51.100.1'), /^Too many sign-in attempts from your network: the limit is 5 per 15 minutes\./);
  });

  it('sign-in: per account across addresses', async () => {
    const user = await insertUser(t.ctx.db.kysely);
    const signIn = (ip: string, password = 'wrong password!') => t.request({ method: 'POST', url: '/api/auth/signin', headers: from(ip), payload: { email: user.email, password } });
    // One guess from each of six addresses: no per-address limit is met…
    expect(await statuses(6, (i) => signIn(`198.51.100.${50 + i}`))).toEqual([401, 401, 401, 401, 401, 401]);
    // …but the account's own budget is spent, from a fresh address too, whatever the password.
    expectRateLimited(await signIn('198.51.100.99', FACTORY_PASSWORD), /^Too many sign-in attempts for this account from several networks: the limit is 6 per 15 minutes\./);
    // Other accounts are not affected.
    const other = await insertUser(t.ctx.db.kysely);
    expect((await t.request({ method: 'POST', url: '/api/auth/signin', headers: from('198.51.100.99'), payload: { email: other.email, password: FACTORY_PASSWORD } })).statusCode).toBe(200);
  });

  it('sign-up: per address', async () => {
    const signUp = (n: number, ip: string) => t.request({ method: 'POST', url: '/api/auth/signup', headers: from(ip), payload: { email: `signup-${n}-${Date.now()}@example.test`, password: 'long enough pw', displayName: 'S' } });
    expect(await statuses(2, (i) => signUp(i, '203.0.113.7'))).toEqual([201, 201]);
    expectRateLimited(await signUp(3, '203.0.113.7'), /^Too many accounts were created from your network: the limit is 2 per hour\./);
    expect((await signUp(4, '203.0.113.8')).statusCode).toBe(201);
  });

  it('uploads: per user, and per address across users', async () => {
    const [a, b, c] = [await t.newUser(), await t.newUser(), await t.newUser()];
    const photo = await photoJpeg({ width: 512, height: 512, seed: 7 });
    const upload = async (user: { id: string; token: string }, ip: string) => {
      const model = await insertModel(t.ctx.db.kysely, user.id);
      const body = multipartBody([{ name: 'p.jpg', data: photo, type: 'image/jpeg' }]);
      return t.request({ method: 'POST', url: `/api/models/${model.id}/images`, as: user, headers: { ...body.headers, ...from(ip) }, payload: body.payload });
    };
    expect(await statuses(2, () => upload(a, '192.0.2.10'))).toEqual([200, 200]);
    expectRateLimited(await upload(a, '192.0.2.11'), /^You are uploading too quickly: the limit is 2 per minute\./);
    // Another user is not held back by a's limit…
    expect((await upload(b, '192.0.2.10')).statusCode).toBe(200);
    // …but the address has now sent 3 uploads, its limit, for everyone behind it.
    expectRateLimited(await upload(c, '192.0.2.10'), /^Too many uploads are coming from your network: the limit is 3 per minute\./);
    expect((await upload(c, '192.0.2.12')).statusCode).toBe(200);
  });

  it('generation and comparison creation: per user, and per address across users', async () => {
    const [a, b, c] = [await t.newUser(), await t.newUser(), await t.newUser()];
    // Untrained models refuse (409) after the limit counted the request: the limit guards the route, whatever the outcome.
    const generate = async (user: { id: string; token: string }, ip: string, kind: 'generations' | 'comparisons' = 'generations') => {
      const model = await insertModel(t.ctx.db.kysely, user.id);
      const payload = kind === 'generations' ? { prompt: 'a photo' } : { prompt: 'a photo', loraScales: [0.5, 1] };
      return t.request({ method: 'POST', url: `/api/models/${model.id}/${kind}`, as: user, headers: from(ip), payload });
    };
    expect([(await generate(a, '192.0.2.20')).statusCode, (await generate(a, '192.0.2.20', 'comparisons')).statusCode]).toEqual([409, 409]);
    expectRateLimited(await generate(a, '192.0.2.21'), /^You are starting generations too quickly: the limit is 2 per minute\./);
    expect((await generate(b, '192.0.2.20')).statusCode).toBe(409);
    expectRateLimited(await generate(c, '192.0.2.20', 'comparisons'), /^Too many generations are being started from your network: the limit is 3 per minute\./);
    expect((await generate(c, '192.0.2.22')).statusCode).toBe(409);
  });

  it('training creation: per user, and per address across users', async () => {
    const [a, b, c] = [await t.newUser(), await t.newUser(), await t.newUser()];
    const start = async (user: { id: string; token: string }, ip: string) => {
      const model = await insertModel(t.ctx.db.kysely, user.id);
      return t.request({ method: 'POST', url: `/api/models/${model.id}/trainings`, as: user, headers: from(ip), payload: { baseModel: 'flux-dev', preset: 'standard', resolution: 1024 } });
    };
    expect(await statuses(2, () => start(a, '192.0.2.30'))).toEqual([409, 409]);
    expectRateLimited(await start(a, '192.0.2.31'), /^You are starting trainings too quickly: the limit is 2 per hour\./);
    expect((await start(b, '192.0.2.30')).statusCode).toBe(409);
    expectRateLimited(await start(c, '192.0.2.30'), /^Too many trainings are being started from your network: the limit is 3 per hour\./);
  });

  it('TRUST_PROXY=true believes one proxy: addresses the client wrote before it do not buy a fresh budget', async () => {
    const signUp = (n: number, forwardedFor: string) =>
      t.request({ method: 'POST', url: '/api/auth/signup', headers: { 'x-forwarded-for': forwardedFor }, payload: { email: `spoof-${n}-${Date.now()}@example.test`, password: 'long enough pw', displayName: 'S' } });
    // The proxy appended 203.0.113.60 (the address it saw) to whatever the client sent.
    expect(await statuses(2, (i) => signUp(i, `192.0.2.${100 + i}, 203.0.113.60`))).toEqual([201, 201]);
    expectRateLimited(await signUp(3, '192.0.2.200, 203.0.113.60'), /^Too many accounts were created from your network/);
  });

  it('without TRUST_PROXY, X-Forwarded-For is ignored: the connection address counts', async () => {
    const direct = await startTestApp('sqlite', { SIGNUP_RATE_LIMIT_PER_HOUR: '1' });
    try {
      const signUp = (n: number, headers: Record<string, string>, remoteAddress: string) =>
        direct.request({ method: 'POST', url: '/api/auth/signup', headers, remoteAddress, payload: { email: `direct-${n}@example.test`, password: 'long enough pw', displayName: 'D' } });
      expect((await signUp(1, from('203.0.113.1'), '10.0.0.1')).statusCode).toBe(201);
      // A forged header does not buy a fresh budget…
      expectRateLimited(await signUp(2, from('203.0.113.2'), '10.0.0.1'), /limit is 1 per hour/);
      // …another connection address does.
      expect((await signUp(3, {}, '10.0.0.2')).statusCode).toBe(201);
    } finally {
      await direct.close();
    }
  });
});

describe('the global API limit', () => {
  it('counts per user, answers 429 with Retry-After, and leaves other users alone', async () => {
    const t = await startTestApp('sqlite', { API_RATE_LIMIT_PER_MIN: '3' });
    try {
      const [a, b] = [await t.newUser(), await t.newUser()];
      expect(await statuses(3, () => t.request({ method: 'GET', url: '/api/models', as: a }))).toEqual([200, 200, 200]);
      const limited = await t.request({ method: 'GET', url: '/api/models', as: a });
      expect(limited.statusCode).toBe(429);
      expect(limited.json().error.message).toMatch(/^Too many requests: the limit is 3 API requests per minute\. Wait \d+ (second|minute)s? and try again\.$/);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect((await t.request({ method: 'GET', url: '/api/models', as: b })).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('the hourly generation quota', () => {
  it('says when to come back, in the message and in Retry-After', { timeout: 90_000 }, async () => {
    const emu = await startReplicateEmulator({ speed: 4, bootMs: 30, predictionMs: 60 });
    const t = await startTestApp('sqlite', { ...emu.platformEnv(), TRAINING_POLL_SECONDS: '0.03', GENERATION_MAX_PER_HOUR: '1' }, { worker: true });
    try {
      const owner = await t.newUser();
      const { modelId } = await trainOnEmulator(t, owner, { name: 'Quota dog', baseModel: 'flux-dev', firstSeed: 6100 });
      const generate = () => t.request({ method: 'POST', url: `/api/models/${modelId}/generations`, as: owner, payload: { prompt: 'a photo' } });
      expect((await generate()).statusCode).toBe(201);
      const limited = await generate();
      expect(limited.statusCode).toBe(429);
      expect(limited.json().error.message).toMatch(/^You reached the limit of 1 generations per hour .* in (60|59) minutes\.$/);
      const retryAfter = Number(limited.headers['retry-after']);
      // The hour's first generation ages out in just under an hour.
      expect(retryAfter).toBeGreaterThan(3000);
      expect(retryAfter).toBeLessThanOrEqual(3600);
    } finally {
      await t.close();
      await emu.close();
    }
  });
});

describe('request body limits', () => {
  it('JSON routes take JSON_BODY_LIMIT_KB (64 KiB by default) and say so with 413', async () => {
    for (const [env, limitKib] of [[{}, 64], [{ JSON_BODY_LIMIT_KB: '4' }, 4]] as const) {
      const t = await startTestApp('sqlite', env);
      try {
        const user = await t.newUser();
        const fits = await t.request({ method: 'POST', url: '/api/models', as: user, payload: { name: 'Small', modelType: 'style', description: 'x'.repeat(100) } });
        expect(fits.statusCode, fits.body).toBe(201);
        const body = JSON.stringify({ name: 'Big', modelType: 'style', description: 'x'.repeat(limitKib * 1024) });
        const big = await t.request({ method: 'POST', url: '/api/models', as: user, headers: { 'content-type': 'application/json' }, payload: body });
        expect(big.statusCode).toBe(413);
        expect(big.json().error).toMatchObject({ code: 'payload_too_large', message: `The request body is too large for this endpoint: it accepts at most ${limitKib} KiB.` });
      } finally {
        await t.close();
      }
    }
  });

  it('the Replicate webhook keeps its own 8 MiB limit', async () => {
    // Webhooks on (with them off the route answers 404 before reading any body: test/reliability/webhook-flood.test.ts).
    const emu = await startReplicateEmulator();
    const t = await startTestApp('sqlite', { ...emu.platformEnv(), PUBLIC_URL: 'http://127.0.0.1:9' });
    try {
      const res = await t.request({ method: 'POST', url: '/api/webhooks/replicate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ pad: 'x'.repeat(200 * 1024) }) });
      // Larger than the JSON limit, yet read and judged on its signature (missing here), not refused for size.
      expect(res.statusCode, res.body).toBe(401);
      const huge = await t.request({ method: 'POST', url: '/api/webhooks/replicate', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ pad: 'x'.repeat(8 * 1024 * 1024) }) });
      expect(huge.statusCode).toBe(413);
      expect(huge.json().error.message).toMatch(/at most 8 MiB/);
    } finally {
      await t.close();
      await emu.close();
    }
  });
});

describe.each(DIALECTS)('per-user caps (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(dialect, {
      TRAINING_MAX_CONCURRENT: '2',
      USER_STORAGE_LIMIT_MB: '1',
      // Training is "configured" so starts pass; no worker runs, so started trainings stay queued and nothing calls this address.
      REPLICATE_API_TOKEN: 'r8_abuse_limits_unused_token',
      REPLICATE_BASE_URL: 'http://127.0.0.1:9',
      REPLICATE_DESTINATION: 'theway/loras',
    });
  });
  afterAll(() => t.close());

  it('concurrent trainings: the cap names itself and the running models; finishing one frees a place; other users are unaffected', async () => {
    const owner = await t.newUser();
    const running = [];
    for (const name of ['Rex', 'Watercolor']) {
      const model = await insertModel(t.ctx.db.kysely, owner.id, { name, status: 'training' });
      running.push(await insertTraining(t.ctx.db.kysely, owner.id, model.id, { status: name === 'Rex' ? 'processing' : 'queued', weights_key: null }));
    }
    const ready = await insertModel(t.ctx.db.kysely, owner.id, { name: 'Third' });
    await addDatasetImages(t.ctx, owner, ready.id, 10, 4000, 512); // small: the 1 MB storage cap below holds them
    const settings = { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 };
    const refused = await t.request({ method: 'POST', url: `/api/models/${ready.id}/trainings`, as: owner, payload: settings });
    expect(refused.statusCode, refused.body).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'conflict', details: { limit: 'concurrent_trainings', max: 2, active: 2 } });
    expect(refused.json().error.message).toBe('You can have 2 trainings in progress at once, and "Rex" and "Watercolor" are still training. Wait for one to finish, or cancel it, then start this one.');
    expect(await t.ctx.db.kysely.selectFrom('trainings').select('id').where('model_id', '=', ready.id).execute()).toEqual([]);

    // Another user's trainings do not count against this one.
    const other = await t.newUser();
    const theirs = await insertModel(t.ctx.db.kysely, other.id, { name: 'Theirs' });
    await addDatasetImages(t.ctx, other, theirs.id, 10, 5000, 512);
    expect((await t.request({ method: 'POST', url: `/api/models/${theirs.id}/trainings`, as: other, payload: settings })).statusCode).toBe(201);

    await t.ctx.db.kysely.updateTable('trainings').set({ status: 'succeeded' }).where('id', '=', running[0]!.id).execute();
    const started = await t.request({ method: 'POST', url: `/api/models/${ready.id}/trainings`, as: owner, payload: settings });
    expect(started.statusCode, started.body).toBe(201);
    expect(started.json().training.status).toBe('queued');
  });

  it('storage: an upload that does not fit, or any upload at the cap, is refused with 413 and what to delete', async () => {
    const owner = await t.newUser();
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const upload = async (user: { token: string }, modelId: string, data: Buffer) => {
      const body = multipartBody([{ name: 'p.jpg', data, type: 'image/jpeg' }]);
      return t.request({ method: 'POST', url: `/api/models/${modelId}/images`, as: user, headers: body.headers, payload: body.payload });
    };
    // Larger than the whole 1 MB allowance: refused before any byte is stored.
    const tooBig = await upload(owner, model.id, Buffer.concat([await photoJpeg({ width: 256, height: 256, seed: 1 }), Buffer.alloc(1_100_000)]));
    expect(tooBig.statusCode).toBe(413);
    expect(tooBig.json().error.code).toBe('payload_too_large');
    expect(tooBig.json().error.message).toMatch(/^This upload \(1(\.\d)? MB\) does not fit: you are using 0 bytes of your 1 MB storage\. Delete training images, generations or models you no longer need to free space\./);

    const fits = await upload(owner, model.id, await photoJpeg({ width: 512, height: 512, seed: 2 }));
    expect(fits.statusCode, fits.body).toBe(200);
    // Trained weights count too: with them the user is over the cap, and every further upload is refused.
    const trained = await insertModel(t.ctx.db.kysely, owner.id);
    await insertTraining(t.ctx.db.kysely, owner.id, trained.id, { weights_key: 'trainings/x/lora.safetensors', weights_bytes: 1024 * 1024 });
    const atCap = await upload(owner, model.id, await photoJpeg({ width: 64, height: 64, seed: 3 }));
    expect(atCap.statusCode).toBe(413);
    expect(atCap.json().error.message).toMatch(/^You are using 1(\.\d)? MB of your 1 MB storage\. Delete training images, generations or models you no longer need to free space\.$/);
    expect(atCap.json().error.details).toMatchObject({ limit: 'storage_per_user', limitBytes: 1024 * 1024 });
    expect((await t.ctx.storageQuota.usage(owner.id)).usedBytes).toBeGreaterThan(1024 * 1024);
    // Generated images are stored too: at the cap, a new generation is refused before anything is paid.
    const { model: usable } = await insertReadyModel(t.ctx.db.kysely, owner.id);
    const generation = await t.request({ method: 'POST', url: `/api/models/${usable.id}/generations`, as: owner, payload: { prompt: 'a dog on the moon' } });
    expect(generation.statusCode, generation.body).toBe(413);
    expect(generation.json().error.message).toMatch(/^You are using .* of your 1 MB storage\. Delete /);
    expect(await t.ctx.db.kysely.selectFrom('generations').select('id').where('owner_id', '=', owner.id).execute()).toEqual([]);

    // Someone else's usage is their own.
    const other = await t.newUser();
    const theirs = await insertModel(t.ctx.db.kysely, other.id);
    expect((await upload(other, theirs.id, await photoJpeg({ width: 64, height: 64, seed: 4 }))).statusCode).toBe(200);
  });

  it('storage: uploads sent at the same time cannot pass the cap together', async () => {
    const owner = await t.newUser();
    const model = await insertModel(t.ctx.db.kysely, owner.id);
    const photos = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => photoJpeg({ width: 1200, height: 1200, seed: 70 + i })));
    // Each fits on its own (so each passes the early check on its declared size); together they do not.
    for (const photo of photos) expect(photo.length).toBeLessThan(512 * 1024);
    expect(photos.reduce((n, p) => n + p.length, 0)).toBeGreaterThan(1024 * 1024);
    const answers = await Promise.all(
      photos.map((data, i) => {
        const body = multipartBody([{ name: `same-time-${i}.jpg`, data, type: 'image/jpeg' }]);
        return t.request({ method: 'POST', url: `/api/models/${model.id}/images`, as: owner, headers: body.headers, payload: body.payload });
      }),
    );
    const verdicts = answers.map((res) => (res.statusCode === 200 ? res.json().results[0] : res.statusCode === 422 ? res.json().error.details[0] : { status: res.statusCode }));
    const added = verdicts.filter((v) => v.status === 'added');
    const refused = verdicts.filter((v) => v.status === 'rejected');
    expect(added.length).toBeGreaterThanOrEqual(1);
    expect(added.length + refused.length).toBe(photos.length);
    for (const r of refused) {
      expect(r.error.code).toBe('storage_full');
      expect(r.error.message).toMatch(/^"same-time-\d\.jpg" \(.*\) does not fit: you are using .* of your 1 MB storage\. Delete /);
    }
    expect((await t.ctx.storageQuota.usage(owner.id)).usedBytes).toBeLessThanOrEqual(1024 * 1024);
    // What was refused left nothing behind.
    const rows = await t.ctx.db.kysely.selectFrom('dataset_images').select('image_key').where('model_id', '=', model.id).execute();
    expect(rows).toHaveLength(added.length);
    const keys: string[] = [];
    for await (const key of t.ctx.storage.list(`models/${model.id}/images/`)) keys.push(key);
    expect(keys.sort()).toEqual(rows.map((r) => r.image_key).sort());
  });
});
