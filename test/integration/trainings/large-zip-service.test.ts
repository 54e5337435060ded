import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppContext } from '../../../src/app-context.ts';
import { loadConfig } from '../../../src/config.ts';
import { buildApp } from '../../../src/http/app.ts';
import { createTestDb } from '../../support/databases.ts';
import { addDatasetImages } from '../../support/dataset-factories.ts';
import { insertModel, insertUser } from '../../support/factories.ts';
import { RELAXED_LIMITS } from '../../support/relaxed-limits.ts';
import { startReplicateEmulator, type ReplicateEmulator } from '../../support/replicate-emulator/index.ts';
import { startS3Server, type S3TestServer } from '../../support/s3-server.ts';
import { registerSecret } from '../../support/secrets-registry.ts';
import { until } from '../../support/until.ts';

/**
 * The same big-zip path as large-zip-presigned.test.ts, but through the whole platform: a user's
 * dataset is packaged by the training service, stored, and handed to Replicate by the submit job.
 * The Files API limit is lowered through the app context (a test-only option) below the size of a
 * 10-image zip, instead of building a 100 MiB one.
 */
interface TrainingView {
  status: string;
  weightsAvailable: boolean;
  failure: { kind: string; message: string } | null;
}

describe('a training whose zip is over the Files API limit, through the training service', () => {
  const LIMIT = 2_000;
  const settings = { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 };
  let emu: ReplicateEmulator;
  let s3: S3TestServer;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    [emu, s3] = await Promise.all([startReplicateEmulator({ speed: 4, bootMs: 30 }), startS3Server()]);
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await Promise.all([emu?.close(), s3?.close()]);
  });

  /** A platform (SQLite, job worker in this process) on the given storage, and one training started through the API. */
  const trainOn = async (storageEnv: Record<string, string>) => {
    const testDb = await createTestDb('sqlite');
    const dataDir = mkdtempSync(join(tmpdir(), 'theway-bigzip-'));
    const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent', API_RATE_LIMIT_PER_MIN: '100000', ...RELAXED_LIMITS, ...emu.platformEnv(), TRAINING_POLL_SECONDS: '0.05', ...storageEnv });
    config.database.sqliteFile = testDb.location;
    const ctx = await createAppContext(config, { jobs: { leaseMs: 5_000, pollIntervalMs: 50 }, reconcileGraceMs: 200, replicateMaxUploadBytes: LIMIT });
    const app = await buildApp(ctx);
    await app.ready();
    await ctx.startWorker();
    cleanups.push(async () => {
      await app.close();
      await ctx.close();
      await testDb.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const owner = await insertUser(ctx.db.kysely);
    const { secret } = await ctx.accounts.createApiToken(owner.id, { name: 'test' });
    registerSecret('API token', secret);
    const headers = { authorization: `Bearer ${secret}` };
    const model = await insertModel(ctx.db.kysely, owner.id, { name: 'Big zip' });
    await addDatasetImages(ctx, owner, model.id, 10, 4_000, 512);
    const res = await app.inject({ method: 'POST', url: `/api/models/${model.id}/trainings`, headers, payload: settings });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().training.id as string;
    const get = async () => (await app.inject({ method: 'GET', url: `/api/trainings/${id}`, headers })).json().training as TrainingView;
    const zipSize = async () => (await ctx.storage.stat(`trainings/${id}/dataset.zip`))?.size ?? 0;
    return { id, get, zipSize };
  };
  const filesApiUploads = () => emu.requests.filter((r) => r.route === 'uploadFile').length;
  const ended = (t: TrainingView) => t.status === 'failed' || t.status === 'canceled' || (t.status === 'succeeded' && t.weightsAvailable);

  it('on S3 storage: Replicate downloads the zip from a presigned URL and the training succeeds', async () => {
    const trainingsBefore = emu.trainingIds().length;
    const uploadsBefore = filesApiUploads();
    const training = await trainOn(s3.platformEnv());
    const done = await until(training.get, ended, 'the training to end', 60_000);
    expect(done.failure).toBeNull();
    expect(done).toMatchObject({ status: 'succeeded', weightsAvailable: true });
    expect(await training.zipSize()).toBeGreaterThan(LIMIT);

    // One training on Replicate, given a presigned URL of this training's zip in the bucket, not a Files API upload.
    expect(emu.trainingIds().length - trainingsBefore).toBe(1);
    expect(filesApiUploads()).toBe(uploadsBefore);
    const remote = emu.training(emu.trainingIds().at(-1)!)!;
    const url = new URL(String(remote.input.input_images));
    expect(`${url.origin}${url.pathname}`).toBe(`${s3.endpoint}/${s3.bucket}/trainings/${training.id}/dataset.zip`);
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    // The trainer got the images out of the zip it downloaded over that URL (a failed download fails the training).
    expect(remote.status).toBe('succeeded');
    expect(remote.logs).toMatch(/Extracted \d+ files from zip/);
  });

  it('on local storage: the same zip fails the training with the message to use S3, without a Replicate training', async () => {
    const trainingsBefore = emu.trainingIds().length;
    const uploadsBefore = filesApiUploads();
    const training = await trainOn({});
    const done = await until(training.get, ended, 'the training to end', 60_000);
    expect(await training.zipSize()).toBeGreaterThan(LIMIT);
    expect(done.status).toBe('failed');
    expect(done.failure?.message).toMatch(/^The training could not be sent to Replicate, so nothing was charged: .*more than Replicate's file upload accepts .*use S3 storage, which hands Replicate a presigned URL/);
    expect(emu.trainingIds().length).toBe(trainingsBefore);
    expect(filesApiUploads()).toBe(uploadsBefore);
  });
});
