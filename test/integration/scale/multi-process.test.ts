import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startReplicateEmulator, type ReplicateEmulator } from '../../support/replicate-emulator/index.ts';
import { startServer, type ServerProcess } from '../../support/server-process.ts';
import { startS3Server, type S3TestServer } from '../../support/s3-server.ts';
import { createTestDb, type TestDb } from '../../support/databases.ts';
import { signUpOverHttp, type ApiUser } from '../../support/http-client.ts';
import { openSse } from '../../support/sse-client.ts';
import { until } from '../../support/until.ts';

/**
 * Scale mode end to end: two `web` and two `worker` processes share PostgreSQL (state, pg-boss
 * jobs, LISTEN/NOTIFY events) and an S3-compatible bucket. A user uploads through web A, watches
 * through web B, and a worker is SIGKILLed in the middle of the training.
 */
describe('scale mode: 2 web + 2 worker processes on PostgreSQL and S3', () => {
  let emu: ReplicateEmulator;
  let s3: S3TestServer;
  let db: TestDb;
  let env: Record<string, string>;
  const processes: ServerProcess[] = [];
  let webA: ServerProcess;
  let webB: ServerProcess;
  let worker1: ServerProcess;
  let worker2: ServerProcess;
  let user: ApiUser;

  const start = async (command: 'web' | 'worker') => {
    const p = await startServer({ command, env, startupTimeoutMs: 60_000 });
    processes.push(p);
    return p;
  };
  const bucketKeys = async () => {
    const client = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, ContinuationToken: token }));
      for (const o of page.Contents ?? []) keys.push(o.Key!);
      token = page.NextContinuationToken;
    } while (token);
    client.destroy();
    return keys;
  };

  beforeAll(async () => {
    // ~250 training steps take about 12 s of real time: long enough to kill a worker mid-way.
    emu = await startReplicateEmulator({ speed: 0.03, bootMs: 300 });
    s3 = await startS3Server();
    db = await createTestDb('postgres');
    env = {
      DATABASE_URL: db.location,
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: s3.region,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      REPLICATE_API_TOKEN: emu.token,
      REPLICATE_BASE_URL: emu.baseUrl,
      REPLICATE_DESTINATION: 'theway/loras',
      TRAINING_POLL_SECONDS: '0.3',
      // pg-boss's shortest heartbeat window: a dead worker's running job is taken over ~10-15 s later.
      JOB_LEASE_SECONDS: '10',
      API_RATE_LIMIT_PER_MIN: '100000',
    };
    [webA, webB, worker1] = await Promise.all([start('web'), start('web'), start('worker')]);
    user = await signUpOverHttp(webA.url);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await emu?.close();
    await s3?.close();
    await db?.drop();
  });

  it('uploads on A, trains, survives a SIGKILLed worker, shows progress on B, generates, loses nothing', async () => {
    const { model } = await user.call<{ model: { id: string } }>(webA.url, 'POST', '/api/models', { name: 'Rex at scale', modelType: 'object' });
    const verdicts = await user.uploadPhotos(webA.url, model.id, 10);
    expect(verdicts.map((v) => v.status)).toEqual(Array(10).fill('added'));

    // Web B hears what the workers do, although it neither enqueued nor ran anything.
    const live = await openSse(`${webB.url}/api/events`, { authorization: `Bearer ${user.token}` });
    expect(live.status).toBe(200);
    const { training } = await user.call<{ training: { id: string } }>(webA.url, 'POST', `/api/models/${model.id}/trainings`, { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 }, 201);
    const getTraining = async () => (await user.call<{ training: { status: string; weightsAvailable: boolean; progress: { step: number | null; percent: number | null } } }>(webB.url, 'GET', `/api/trainings/${training.id}`)).training;

    await until(getTraining, (t) => t.status === 'processing' && (t.progress.step ?? 0) > 0, 'training in progress', 60_000);
    // Catch worker 1 in the middle of a job: its next status poll hangs, so the tracking job is
    // running (active in pg-boss) when the process dies, and only its lapsed heartbeat frees it.
    emu.faults.add({ route: 'getTraining', kind: 'timeout', times: 1 });
    await until(() => emu.faults.pending().length, (n) => n === 0, 'worker 1 stuck in a status poll');
    const active = await sql<{ n: string }>`select count(*) as n from pgboss.job where state = 'active' and name = 'training.track'`.execute(db.kysely);
    expect(Number(active.rows[0]!.n)).toBeGreaterThanOrEqual(1);
    worker2 = await start('worker');
    await worker1.kill();
    const stepAtKill = (await getTraining()).progress.step ?? 0;

    const done = await until(getTraining, (t) => t.status === 'succeeded' && t.weightsAvailable, 'training finished (weights copied) after the kill', 120_000);
    expect(done.progress.percent).toBe(100);
    expect(done.progress.step).toBeGreaterThan(stepAtKill);
    // Paid for once: one training created on Replicate for this dataset.
    expect(emu.trainingIds()).toHaveLength(1);
    expect(emu.requests.filter((r) => r.route === 'createTraining' && r.status === 201)).toHaveLength(1);

    const trainingEvents = () =>
      live.frames.filter((f) => f.data).map((f) => JSON.parse(f.data!) as { type: string; trainingId?: string; status?: string; progress?: { step: number | null } }).filter((e) => e.type === 'training.updated' && e.trainingId === training.id);
    await until(trainingEvents, (events) => events.some((e) => e.status === 'succeeded'), 'the success event on web B');
    const steps = trainingEvents().map((e) => e.progress?.step ?? 0);
    expect(steps.some((s) => s > 0 && s < (done.progress.step ?? 0))).toBe(true);

    const weights = await fetch(`${webA.url}/api/trainings/${training.id}/weights`, { headers: { authorization: `Bearer ${user.token}` } });
    expect(weights.status).toBe(200);
    expect((await weights.arrayBuffer()).byteLength).toBeGreaterThan(8);

    // Generate through B; the surviving worker runs it; A serves the stored image.
    const { generation } = await user.call<{ generation: { id: string } }>(webB.url, 'POST', `/api/models/${model.id}/generations`, { prompt: 'a photo of REXATSCALE on a beach', numOutputs: 1 }, 201);
    const generated = await until(
      async () => (await user.call<{ generation: { status: string; images: unknown[] } }>(webA.url, 'GET', `/api/generations/${generation.id}`)).generation,
      (g) => g.status === 'succeeded',
      'generation finished',
      60_000,
    );
    expect(generated.images).toHaveLength(1);
    const image = await fetch(`${webA.url}/api/generations/${generation.id}/images/0`, { headers: { authorization: `Bearer ${user.token}` } });
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toMatch(/^image\//);
    live.close();

    // Nothing lost: every acknowledged upload is listed and readable, and every stored file is in the bucket.
    const dataset = await user.call<{ images: Array<{ id: string }> }>(webB.url, 'GET', `/api/models/${model.id}/dataset`);
    expect(dataset.images).toHaveLength(10);
    for (const img of dataset.images) {
      const file = await fetch(`${webB.url}/api/models/${model.id}/images/${img.id}/file`, { headers: { authorization: `Bearer ${user.token}` } });
      expect(file.status).toBe(200);
      await file.arrayBuffer();
    }
    const keys = await bucketKeys();
    expect(keys.filter((k) => k.startsWith(`models/${model.id}/`)).length).toBeGreaterThanOrEqual(10);
    // No job left behind: pg-boss holds nothing unfinished for this run (the daily orphan sweep recurs by design).
    const unfinished = await sql<{ n: string }>`select count(*) as n from pgboss.job where state in ('created', 'retry', 'active') and name <> 'storage.orphan-sweep'`.execute(db.kysely);
    expect(Number(unfinished.rows[0]!.n)).toBe(0);
  }, 300_000);
});
