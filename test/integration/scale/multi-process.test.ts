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

/** A line a process logged (pino JSON); claims are logged at debug by the pg-boss queue. */
interface LogLine {
  time: number;
  msg: string;
  job?: string;
  jobId?: string;
  attempt?: number;
  startedOn?: string;
  previousError?: string | null;
}

const logLines = (p: ServerProcess): LogLine[] =>
  p
    .output()
    .split('\n')
    .flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return []; // a line cut at the start of the kept output
      }
    });
const claimsOf = (p: ServerProcess, jobId: string) => logLines(p).filter((l) => l.msg === 'job claimed' && l.jobId === jobId);

/**
 * Scale mode end to end: two `web` and two `worker` processes share PostgreSQL (state, pg-boss
 * jobs, LISTEN/NOTIFY events) and an S3-compatible bucket. Both workers run from the start and
 * compete for jobs. A user uploads through web A and watches through web B; the worker that holds
 * the training's tracking job is SIGKILLed in the middle of a status poll, and the other one takes
 * the job over once its heartbeat lapses.
 */
describe('scale mode: 2 web + 2 worker processes on PostgreSQL and S3', () => {
  let emu: ReplicateEmulator;
  let s3: S3TestServer;
  let db: TestDb;
  let env: Record<string, string>;
  const processes: ServerProcess[] = [];
  let webA: ServerProcess;
  let webB: ServerProcess;
  let workers: ServerProcess[];
  let user: ApiUser;

  const start = async (command: 'web' | 'worker') => {
    // Workers log each job claim (debug): which process ran which attempt of a job, and why the previous one ended.
    const p = await startServer({ command, env: command === 'worker' ? { ...env, LOG_LEVEL: 'debug' } : env, startupTimeoutMs: 60_000 });
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
    return keys.sort();
  };
  const jobRows = async (name: string, trainingId: string) =>
    (
      await sql<{ id: string; state: string; retry_count: number; started_ms: number | null; error: string | null }>`
        select id, state::text as state, retry_count, extract(epoch from started_on) * 1000 as started_ms,
               coalesce(output->>'message', output->'value'->>'message') as error
          from pgboss.job where name = ${name} and data->>'trainingId' = ${trainingId} order by created_on`.execute(db.kysely)
    ).rows.map((r) => ({ ...r, started_ms: r.started_ms === null ? null : Number(r.started_ms) }));

  beforeAll(async () => {
    // ~250 training steps take about 12 s of real time: long enough to kill a worker mid-way.
    emu = await startReplicateEmulator({ speed: 0.03, bootMs: 300 });
    s3 = await startS3Server();
    db = await createTestDb('postgres');
    env = {
      DATABASE_URL: db.location,
      ...s3.platformEnv(),
      REPLICATE_API_TOKEN: emu.token,
      REPLICATE_BASE_URL: emu.baseUrl,
      REPLICATE_DESTINATION: 'theway/loras',
      // The poll held open below must outlast the kill by far, also on a slow machine.
      REPLICATE_TIMEOUT_SECONDS: '120',
      TRAINING_POLL_SECONDS: '0.3',
      // pg-boss's shortest heartbeat window: a dead worker's running job is taken over ~10-15 s later.
      JOB_LEASE_SECONDS: '10',
      API_RATE_LIMIT_PER_MIN: '100000',
    };
    let worker1: ServerProcess;
    let worker2: ServerProcess;
    [webA, webB, worker1, worker2] = await Promise.all([start('web'), start('web'), start('worker'), start('worker')]);
    workers = [worker1, worker2];
    user = await signUpOverHttp(webA.url);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await emu?.close();
    await s3?.close();
    await db?.drop();
  });

  it('uploads on A, trains, survives the SIGKILL of the worker tracking it, shows progress on B, generates, loses nothing', async () => {
    const { model } = await user.call<{ model: { id: string } }>(webA.url, 'POST', '/api/models', { name: 'Rex at scale', modelType: 'object' });
    const verdicts = await user.uploadPhotos(webA.url, model.id, 10);
    expect(verdicts.map((v) => v.status)).toEqual(Array(10).fill('added'));

    // Web B hears what the workers do, although it neither enqueued nor ran anything.
    const live = await openSse(`${webB.url}/api/events`, { authorization: `Bearer ${user.token}` });
    expect(live.status).toBe(200);
    const { training } = await user.call<{ training: { id: string } }>(webA.url, 'POST', `/api/models/${model.id}/trainings`, { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 }, 201);
    const getTraining = async () => (await user.call<{ training: { status: string; weightsAvailable: boolean; progress: { step: number | null; percent: number | null } } }>(webB.url, 'GET', `/api/trainings/${training.id}`)).training;

    await until(getTraining, (t) => t.status === 'processing' && (t.progress.step ?? 0) > 0, 'training in progress', 60_000);
    const [track] = await jobRows('training.track', training.id);
    expect(track).toBeDefined();

    // Catch the tracking job in the middle of a run: its next status poll hangs, so the job is
    // active in pg-boss, held by whichever worker claimed it, when that process dies.
    emu.faults.add({ route: 'getTraining', kind: 'timeout', times: 1 });
    await until(() => emu.faults.pending().length, (n) => n === 0, 'a worker stuck in a status poll');
    const [held] = await jobRows('training.track', training.id);
    expect(held).toMatchObject({ id: track!.id, state: 'active' });
    // The holder is the worker that logged this very claim (a rerun keeps the job id; started_on is each claim's own).
    const holders = await until(
      () => workers.filter((w) => claimsOf(w, track!.id).some((c) => Math.abs(Date.parse(c.startedOn!) - held!.started_ms!) < 1)),
      (found) => found.length === 1,
      'the worker holding the tracking job',
    );
    const holder = holders[0]!;
    const survivor = workers.find((w) => w !== holder)!;
    const survivorClaimsBefore = claimsOf(survivor, track!.id).length;
    const killedAt = Date.now();
    await holder.kill();
    const stepAtKill = (await getTraining()).progress.step ?? 0;

    // Only pg-boss's supervisor can free a job whose worker died: it fails it for the lapsed heartbeat
    // (a retry, counted), and the survivor claims that retry.
    const takeover = await until(
      () => claimsOf(survivor, track!.id).slice(survivorClaimsBefore).find((c) => c.attempt! > 1),
      (c) => c !== undefined,
      'the surviving worker taking the tracking job over',
      90_000,
    );
    expect(takeover).toMatchObject({ attempt: 2, previousError: 'job heartbeat timeout' });
    // Reported, not asserted (timing on a busy machine): the heartbeat window plus up to one supervisor pass.
    console.log(`scale: the tracking job was taken over ${((takeover!.time - killedAt) / 1000).toFixed(1)} s after the SIGKILL of its worker`);

    const done = await until(getTraining, (t) => t.status === 'succeeded' && t.weightsAvailable, 'training finished (weights copied) after the kill', 120_000);
    expect(done.progress.percent).toBe(100);
    expect(done.progress.step).toBeGreaterThan(stepAtKill);
    // The tracking job ended once, on the survivor, and still says why it changed hands. (A job is
    // recorded as done just after its handler returns, so the row may lag the training by a moment.)
    const [tracked] = await until(() => jobRows('training.track', training.id), (rows) => rows[0]?.state === 'completed', 'the tracking job recorded as done');
    expect(tracked).toMatchObject({ id: track!.id, state: 'completed', error: 'job heartbeat timeout' });

    // Paid for once: one training created on Replicate for this dataset.
    expect(emu.trainingIds()).toHaveLength(1);
    expect(emu.requests.filter((r) => r.route === 'createTraining' && r.status === 201)).toHaveLength(1);
    // Copied once: one finalize job, run once (one claim in all workers' logs), and one download of the weights.
    const finalize = await until(() => jobRows('training.finalize', training.id), (rows) => rows.length === 1 && rows[0]!.state === 'completed', 'the weights copy job recorded as done');
    expect(finalize[0]).toMatchObject({ state: 'completed', retry_count: 0 });
    expect(workers.flatMap((w) => claimsOf(w, finalize[0]!.id))).toHaveLength(1);
    const remoteId = emu.trainingIds()[0]!;
    expect(emu.downloads.filter((d) => d.path === `/delivery/${remoteId}/trained_model.tar`).map((d) => d.status)).toEqual([200]);

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
    // Exactly the files this run stored: each upload's image and thumbnail, the training's zip (with
    // its manifest) and weights, the generated image; nothing missing, nothing stray.
    const keys = await bucketKeys();
    const hashes = keys.flatMap((k) => /^models\/[^/]+\/images\/([0-9a-f]{64})\.jpg$/.exec(k)?.[1] ?? []);
    expect(hashes).toHaveLength(10);
    expect(keys.filter((k) => k.startsWith(`generations/${model.id}/${generation.id}/`))).toHaveLength(1);
    expect(keys.filter((k) => !k.startsWith('generations/'))).toEqual([
      ...hashes.map((h) => `models/${model.id}/images/${h}.jpg`),
      ...hashes.map((h) => `models/${model.id}/thumbs/${h}.webp`),
      `trainings/${training.id}/dataset.zip`,
      `trainings/${training.id}/dataset.zip.manifest.json`,
      `trainings/${training.id}/lora.safetensors`,
    ]);
    expect(keys).toHaveLength(10 + 10 + 3 + 1);
    // No job left behind: pg-boss holds nothing unfinished for this run (the daily orphan sweep recurs by design).
    const unfinished = async () => Number((await sql<{ n: string }>`select count(*) as n from pgboss.job where state in ('created', 'retry', 'active') and name <> 'storage.orphan-sweep'`.execute(db.kysely)).rows[0]!.n);
    expect(await until(unfinished, (n) => n === 0, 'every job of this run recorded as ended')).toBe(0);
  }, 300_000);
});
