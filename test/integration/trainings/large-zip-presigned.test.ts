import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATASET_URL_TTL_SECONDS, ReplicateTrainingProvider, type ReplicateTrainingProviderOptions } from '../../../src/providers/replicate/replicate-training-provider.ts';
import { isProviderError, type RemoteTraining } from '../../../src/providers/training-provider.ts';
import { LocalBlobStorage } from '../../../src/storage/local-storage.ts';
import { S3BlobStorage } from '../../../src/storage/s3-storage.ts';
import { startReplicateEmulator, type ReplicateEmulator } from '../../support/replicate-emulator/index.ts';
import { startS3Server, type S3TestServer } from '../../support/s3-server.ts';
import { until } from '../../support/until.ts';
import { clientFor, makeTrainingZip } from '../replicate/helpers.ts';

/**
 * Zips above Replicate's Files API limit go to the trainer as a presigned S3 URL. The limit is
 * lowered to a few kilobytes here instead of building a 100 MiB zip; the emulator downloads
 * input_images over HTTP as Replicate does, from a real S3-compatible server that checks signatures.
 */
describe('training zips larger than the Files API accepts', () => {
  const LIMIT = 2_000;
  let emu: ReplicateEmulator;
  let s3: S3TestServer;
  let storage: S3BlobStorage;
  let localDir: string;
  let zip: Buffer;

  beforeAll(async () => {
    [emu, s3, zip] = await Promise.all([startReplicateEmulator({ speed: 4, bootMs: 30 }), startS3Server(), makeTrainingZip(12)]);
    storage = new S3BlobStorage({ bucket: s3.bucket, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey });
    localDir = mkdtempSync(join(tmpdir(), 'theway-blobs-'));
    expect(zip.length).toBeGreaterThan(LIMIT);
  });
  afterAll(async () => {
    storage?.close();
    await Promise.all([emu?.close(), s3?.close()]);
    if (localDir) rmSync(localDir, { recursive: true, force: true });
  });

  const providerWith = (options: Partial<ReplicateTrainingProviderOptions> = {}) =>
    new ReplicateTrainingProvider(clientFor(emu).client, { destination: 'theway/loras', destinationHardware: 'gpu-l40s', maxUploadBytes: LIMIT, ...options });
  const s3Presigner = (key: string) => storage.presignedGetUrl(key, DATASET_URL_TTL_SECONDS);
  const storeZip = async (bytes: Buffer) => {
    const key = `trainings/${randomUUID()}/dataset.zip`;
    await storage.put(key, bytes, { contentType: 'application/zip' });
    return key;
  };
  const filesApiUploads = () => emu.requests.filter((r) => r.route === 'uploadFile').length;
  const train = async (provider: ReplicateTrainingProvider, inputImages: string): Promise<RemoteTraining> => {
    const version = await provider.latestTrainerVersion({ owner: 'ostris', name: 'flux-dev-lora-trainer' });
    const created = await provider.createTraining({
      trainer: { owner: 'ostris', name: 'flux-dev-lora-trainer' },
      trainerVersion: version,
      destination: await provider.ensureDestination(),
      input: { input_images: inputImages, trigger_word: 'REXDOG', steps: 100 },
    });
    return until(() => provider.getTraining(created.id), (t) => ['succeeded', 'failed', 'canceled'].includes(t.status), 'the training to end', 60_000);
  };

  it('hands Replicate a presigned URL of the stored zip instead of uploading it, and the trainer can download it', async () => {
    const provider = providerWith({ presignDataset: s3Presigner });
    const key = await storeZip(zip);
    const uploadsBefore = filesApiUploads();
    const body = await storage.get(key);
    const url = await provider.uploadDataset(body, { size: zip.length, filename: 'theway-x.zip', key });

    expect(url.startsWith(`${s3.endpoint}/${s3.bucket}/${key}?`)).toBe(true);
    expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe(String(24 * 3600));
    expect(filesApiUploads()).toBe(uploadsBefore);
    expect(body.destroyed).toBe(true); // the stream we did not need was closed, not leaked

    const done = await train(provider, url);
    expect(done.error).toBeNull();
    expect(done.status).toBe('succeeded');
    expect(done.input.input_images).toBe(url);
    expect(done.logs).toMatch(/Extracted 12 files from zip/);

    // Reconciling after a lost create answer matches on this URL, as it does for Files API URLs.
    const found = await provider.findRecentTraining((t) => t.input.input_images === url, new Date(Date.now() - 60_000));
    expect(found?.id).toBe(done.id);
  });

  it('the trainer cannot download the zip without the signature (the bucket stays private)', async () => {
    const key = await storeZip(zip);
    const presigned = new URL((await s3Presigner(key))!);
    const unsigned = `${presigned.origin}${presigned.pathname}`;
    const done = await train(providerWith(), unsigned);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/Could not download input_images/);
  });

  it('keeps the Files API for zips within its limit, even with S3 storage', async () => {
    const provider = providerWith({ presignDataset: s3Presigner, maxUploadBytes: zip.length });
    const key = await storeZip(zip);
    const uploadsBefore = filesApiUploads();
    const url = await provider.uploadDataset(await storage.get(key), { size: zip.length, filename: 'theway-small.zip', key });
    expect(url.startsWith(`${emu.baseUrl.replace(/\/v1$/, '')}/files/`)).toBe(true);
    expect(filesApiUploads()).toBe(uploadsBefore + 1);
  });

  it('fails with the clear size message, not retried, when the storage cannot presign (local directory)', async () => {
    const local = new LocalBlobStorage(localDir);
    const key = `trainings/${randomUUID()}/dataset.zip`;
    await local.put(key, zip);
    for (const provider of [providerWith(), providerWith({ presignDataset: (k) => local.presignedGetUrl(k, DATASET_URL_TTL_SECONDS) })]) {
      const body: Readable = await local.get(key);
      const error = await provider.uploadDataset(body, { size: zip.length, filename: 'theway-y.zip', key }).catch((e: unknown) => e);
      expect(isProviderError(error)).toBe(true);
      expect(error).toMatchObject({ retryable: false, outcomeUnknown: false });
      expect((error as Error).message).toMatch(/more than Replicate's file upload accepts .*use S3 storage/);
      expect(body.destroyed).toBe(true);
    }
  });
});
