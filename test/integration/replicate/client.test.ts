import { inspect } from 'node:util';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ReplicateClient } from '../../../src/providers/replicate/client.ts';
import { ReplicateApiError, ReplicateNetworkError, ReplicateTimeoutError, isReplicateApiError } from '../../../src/providers/replicate/errors.ts';
import { parseTrainingLog, type TrainingLogState } from '../../../src/providers/replicate/training-log-parser.ts';
import { startReplicateEmulator, readTar, type ReplicateEmulator } from '../../support/replicate-emulator/index.ts';
import { FLUX, SDXL, clientFor, makeTrainingZip, pollTraining } from './helpers.ts';

describe('Replicate client against the emulator', () => {
  let emu: ReplicateEmulator;
  let zipUrl: string;
  let fluxVersion: string;

  beforeAll(async () => {
    emu = await startReplicateEmulator({ speed: 2, bootMs: 20, pageSize: 3 });
    emu.createModel('theway', 'loras');
    const { client } = clientFor(emu);
    zipUrl = (await client.uploadFile(await makeTrainingZip(12, 2), { filename: 'dataset.zip', contentType: 'application/zip' })).urls.get;
    fluxVersion = (await client.getModel('ostris', 'flux-dev-lora-trainer')).latest_version!.id;
  });
  afterAll(() => emu.close());
  afterEach(() => emu.clearFaults());

  const createRequests = () => emu.requests.filter((r) => r.route === 'createTraining');
  const training = (client: ReplicateClient, input: Record<string, unknown> = {}) =>
    client.createTraining({ ...FLUX, trainerVersion: fluxVersion, destination: 'theway/loras', input: { input_images: zipUrl, steps: 200, ...input } });

  it('answers 401 for a wrong token, and no error ever shows the token', async () => {
    const secretToken = 'r8_supersecret_value_123';
    const client = new ReplicateClient({ token: secretToken, baseUrl: emu.baseUrl });
    const error = await client.getModel('ostris', 'flux-dev-lora-trainer').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplicateApiError);
    expect(error).toMatchObject({ status: 401, title: 'Unauthenticated', retryable: false });
    for (const text of [String(error), (error as Error).message, inspect(error, { depth: 5 }), JSON.stringify(error), inspect(client), JSON.stringify(client)]) {
      expect(text).not.toContain(secretToken);
    }
  });

  it('uploads a Buffer, a stream and a Blob as multipart files that can be downloaded back', async () => {
    const { client } = clientFor(emu);
    const bytes = Buffer.from('hello replicate '.repeat(1000));
    const fromBuffer = await client.uploadFile(bytes, { filename: 'a.txt', contentType: 'text/plain', metadata: { purpose: 'test' } });
    expect(fromBuffer).toMatchObject({ content_type: 'text/plain', size: bytes.length, metadata: { purpose: 'test' }, checksums: { sha256: createHash('sha256').update(bytes).digest('hex') } });
    expect(fromBuffer.urls.get).not.toMatch(/\.txt$/);
    const fromStream = await client.uploadFile(Readable.from([bytes.subarray(0, 5000), bytes.subarray(5000)]), { filename: 'b.bin' });
    const fromBlob = await client.uploadFile(new Blob([bytes], { type: 'text/plain' }), { filename: 'c.txt', contentType: 'text/plain' });
    for (const file of [fromBuffer, fromStream, fromBlob]) {
      expect(Buffer.from(await (await fetch(file.urls.get)).arrayBuffer()).equals(bytes)).toBe(true);
    }
    const request = emu.requests.filter((r) => r.route === 'uploadFile').at(-1)!;
    expect(request.body).toMatchObject({ multipart: true });
  });

  it('reads trainers with their input schema, creates a model once and answers 409 after (also for deleted names)', async () => {
    const { client } = clientFor(emu);
    const sdxl = await client.getModel('stability-ai', 'sdxl');
    const schema = sdxl.latest_version!.openapi_schema!.components!.schemas!.Input!;
    expect(Object.keys(schema.properties!)).toEqual(expect.arrayContaining(['input_images', 'input_images_filetype', 'token_string', 'caption_prefix', 'max_train_steps', 'use_face_detection_instead']));
    const version = await client.getVersion('ostris', 'flux-dev-lora-trainer', fluxVersion);
    expect(version.openapi_schema!.components!.schemas!.Input!.properties!.steps).toMatchObject({ default: 1000, minimum: 3, maximum: 6000 });

    const created = await client.createModel({ owner: 'theway', name: 'loras-2', visibility: 'private', hardware: 'gpu-t4', description: 'test' });
    expect(created).toMatchObject({ owner: 'theway', name: 'loras-2', visibility: 'private', latest_version: null });
    const again = await client.createModel({ owner: 'theway', name: 'loras-2', visibility: 'private', hardware: 'gpu-t4' }).catch((e: unknown) => e);
    expect(isReplicateApiError(again, 409)).toBe(true);
    expect(await client.getModel('nobody', 'nothing').catch((e: unknown) => (e as ReplicateApiError).status)).toBe(404);

    const withDeleted = await startReplicateEmulator({ deletedModelNames: ['theway/old'] });
    const other = clientFor(withDeleted).client;
    expect(await other.getModel('theway', 'old').catch((e: unknown) => (e as ReplicateApiError).status)).toBe(404);
    expect(await other.createModel({ owner: 'theway', name: 'old', visibility: 'private', hardware: 'cpu' }).catch((e: unknown) => (e as ReplicateApiError).status)).toBe(409);
    await withDeleted.close();
  });

  it('runs a flux training to success while the log parser follows it, and the weights are a real tar', async () => {
    const { client } = clientFor(emu);
    const before = createRequests().length;
    const created = await training(client, { trigger_word: 'REXDOG', autocaption: true });
    expect(created.status).toBe('starting');
    expect(created.version).toBe(fluxVersion);
    let state: TrainingLogState | null = null;
    const statuses = new Set<string>();
    const done = await pollTraining(client, created.id, (t) => {
      statuses.add(t.status);
      state = parseTrainingLog(t.logs, state, { final: t.status === 'succeeded' }).state;
    });
    expect(createRequests().length - before).toBe(1);
    expect(done.status).toBe('succeeded');
    expect([...statuses]).toContain('processing');
    expect(done.output!.version).toMatch(/^theway\/loras:[0-9a-f]{64}$/);
    expect(done.started_at).not.toBeNull();
    expect(done.completed_at).not.toBeNull();
    const final = state as unknown as TrainingLogState;
    expect(final.stage).toBe('uploading');
    expect(final.progress).toMatchObject({ step: 199, total: 200 });
    expect(final.counts).toMatchObject({ foundImages: 12, alreadyCaptionedImages: 2, captionedImages: 10 });

    const tar = readTar(Buffer.from(await (await fetch(done.output!.weights)).arrayBuffer()));
    const lora = tar.find((e) => e.path === 'output/flux_train_replicate/lora.safetensors')!;
    const headerLength = Number(lora.content.readBigUInt64LE(0));
    const header = JSON.parse(lora.content.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { data_offsets?: [number, number] }>;
    const end = Math.max(...Object.values(header).map((t) => t.data_offsets?.[1] ?? 0));
    expect(lora.content.length).toBe(8 + headerLength + end);
    expect(tar.map((e) => e.path)).toContain('output/flux_train_replicate/config.yaml');

    const versionId = done.output!.version.split(':')[1]!;
    const trained = await client.getVersion('theway', 'loras', versionId);
    expect(trained.openapi_schema!.components!.schemas!.Input!.properties).toHaveProperty('lora_scale');
    expect(trained.openapi_schema!.components!.schemas!.Input!.properties).not.toHaveProperty('negative_prompt');
    expect((await client.getModel('theway', 'loras')).latest_version!.id).toBe(versionId);
  });

  it('runs an SDXL training whose version takes a negative prompt', async () => {
    const { client } = clientFor(emu);
    const sdxlVersion = (await client.getModel('stability-ai', 'sdxl')).latest_version!.id;
    const created = await client.createTraining({ ...SDXL, trainerVersion: sdxlVersion, destination: 'theway/loras', input: { input_images: zipUrl, input_images_filetype: 'zip', max_train_steps: 100 } });
    const done = await pollTraining(client, created.id);
    expect(done.status).toBe('succeeded');
    expect(done.logs).toMatch(/# PTI :step: 99, epoch: \d+:  99%\|█+ *\| 99\/100 \[/);
    const version = await client.getVersion('theway', 'loras', done.output!.version.split(':')[1]!);
    expect(version.openapi_schema!.components!.schemas!.Input!.properties).toHaveProperty('negative_prompt');
  });

  it('refuses a missing destination (404) and invalid input (422 with the invalid fields)', async () => {
    const { client } = clientFor(emu);
    const missing = await client.createTraining({ ...FLUX, trainerVersion: fluxVersion, destination: 'theway/nope', input: { input_images: zipUrl } }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, detail: 'The specified training destination does not exist', outcomeUnknown: false });
    const invalid = (await training(client, { steps: 10_000, lora_rank: 'big', optimizer: 'sgd' }).catch((e: unknown) => e)) as ReplicateApiError;
    expect(invalid.status).toBe(422);
    expect(invalid.invalidFields.map((f) => f.field).sort()).toEqual(['input.lora_rank', 'input.optimizer', 'input.steps']);
    const wrongVersion = await client.createTraining({ ...FLUX, trainerVersion: 'f'.repeat(64), destination: 'theway/loras', input: { input_images: zipUrl } }).catch((e: unknown) => e);
    expect(wrongVersion).toMatchObject({ status: 422 });
  });

  it('fails a training whose zip is not a zip, and scripted failures carry the trainer error', async () => {
    const { client } = clientFor(emu);
    const notZip = await client.uploadFile(Buffer.from('not a zip'), { filename: 'x.zip', contentType: 'application/zip' });
    const bad = await pollTraining(client, (await training(client, { input_images: notZip.urls.get })).id);
    expect(bad).toMatchObject({ status: 'failed', error: expect.stringMatching(/BadZipFile/) });

    emu.scriptNextTraining({ outcome: 'fail', error: 'Failed to create trained image after successful training run.' });
    const failed = await pollTraining(client, (await training(client)).id);
    expect(failed).toMatchObject({ status: 'failed', error: 'Failed to create trained image after successful training run.', output: null });
    expect(failed.logs).toMatch(/199\/200/);

    emu.scriptNextTraining({ outcome: 'fail', error: 'Prediction input failed validation: steps must be an integer' });
    const invalid = await pollTraining(client, (await training(client)).id);
    expect(invalid).toMatchObject({ status: 'failed', logs: '' });

    emu.scriptNextTraining({ outcome: 'abort' });
    const aborted = await pollTraining(client, (await training(client)).id);
    expect(aborted).toMatchObject({ status: 'aborted', started_at: null });
  });

  it('cancels a running training; canceling again changes nothing', async () => {
    const { client } = clientFor(emu);
    emu.scriptNextTraining({ outcome: 'hang', atStep: 50 });
    const created = await training(client);
    const running = await pollUntilStep(client, created.id, 50);
    expect(running.status).toBe('processing');
    const canceled = await client.cancelTraining(created.id);
    expect(canceled.status).toBe('canceled');
    expect((await client.cancelTraining(created.id)).completed_at).toBe(canceled.completed_at);
    expect((await client.getTraining(created.id)).status).toBe('canceled');
  });

  it('lists trainings newest first across cursor pages', async () => {
    const { client } = clientFor(emu);
    for (let i = 0; i < 4; i++) {
      emu.scriptNextTraining({ outcome: 'stall' });
      await training(client);
    }
    const listRequestsBefore = emu.requests.filter((r) => r.route === 'listTrainings').length;
    const listed: string[] = [];
    for await (const t of client.listTrainings()) listed.push(t.id);
    expect(listed).toEqual([...emu.trainingIds()].reverse());
    expect(emu.requests.filter((r) => r.route === 'listTrainings').length - listRequestsBefore).toBe(Math.ceil(listed.length / 3));
    // Stopping early fetches no further page.
    const before = emu.requests.filter((r) => r.route === 'listTrainings').length;
    for await (const t of client.listTrainings()) if (t) break;
    expect(emu.requests.filter((r) => r.route === 'listTrainings').length - before).toBe(1);
  });

  it('waits out 429s as long as Replicate asks (header or detail), with jitter, for reads and creates', async () => {
    const { client, sleeps } = clientFor(emu);
    emu.addFault({ route: 'getModel', kind: '429', retryAfter: 7, times: 2, retryAfterIn: 'header' });
    await client.getModel('ostris', 'flux-dev-lora-trainer');
    emu.addFault({ route: 'getModel', kind: '429', retryAfter: 30, retryAfterIn: 'detail' });
    await client.getModel('ostris', 'flux-dev-lora-trainer');
    expect(sleeps).toHaveLength(3);
    for (const [delay, asked] of [[sleeps[0]!, 7000], [sleeps[1]!, 7000], [sleeps[2]!, 30_000]] as const) {
      expect(delay).toBeGreaterThanOrEqual(asked);
      expect(delay).toBeLessThanOrEqual(asked * 1.25);
    }
    // A throttled create was rejected before anything happened: retrying it is safe.
    const before = emu.trainingIds().length;
    const requestsBefore = createRequests().length;
    emu.addFault({ route: 'createTraining', kind: '429', retryAfter: 1 });
    emu.scriptNextTraining({ outcome: 'stall' });
    await training(client);
    expect(emu.trainingIds().length - before).toBe(1);
    expect(createRequests().length - requestsBefore).toBe(2);
  });

  it('gives up on a 429 that asks for too long, or after the attempt budget, saying how long to wait', async () => {
    const { client } = clientFor(emu, { maxRateLimitWaitMs: 60_000 });
    emu.addFault({ route: 'getModel', kind: '429', retryAfter: 300 });
    const tooLong = (await client.getModel('ostris', 'flux-dev-lora-trainer').catch((e: unknown) => e)) as ReplicateApiError;
    expect(tooLong).toMatchObject({ status: 429, retryable: true, retryAfterMs: 300_000 });
    const { client: impatient, sleeps } = clientFor(emu, { maxAttempts: 3 });
    emu.addFault({ route: 'getModel', kind: '429', retryAfter: 1, times: 5 });
    await expect(impatient.getModel('ostris', 'flux-dev-lora-trainer')).rejects.toMatchObject({ status: 429 });
    expect(sleeps).toHaveLength(2);
  });

  it('retries 5xx and dropped connections for reads and cancels, never for creates', async () => {
    const { client, sleeps } = clientFor(emu);
    emu.addFault({ route: 'getModel', kind: '500', times: 2 });
    emu.addFault({ route: 'getModel', kind: 'reset' });
    await client.getModel('ostris', 'flux-dev-lora-trainer');
    expect(sleeps).toHaveLength(3);

    emu.scriptNextTraining({ outcome: 'stall' });
    const stalled = await training(client);
    emu.addFault({ route: 'cancelTraining', kind: '503' });
    expect((await client.cancelTraining(stalled.id)).status).toBe('canceled');

    const before = emu.trainingIds().length;
    const requestsBefore = createRequests().length;
    emu.addFault({ route: 'createTraining', kind: '500', afterHandling: true });
    const lost = await training(client).catch((e: unknown) => e);
    expect(lost).toMatchObject({ status: 500, retryable: true, outcomeUnknown: true });
    expect(createRequests().length - requestsBefore).toBe(1);
    expect(emu.trainingIds().length - before).toBe(1); // it did happen: reconcile, do not re-post

    emu.addFault({ route: 'createTraining', kind: 'reset' });
    const reset = await training(client).catch((e: unknown) => e);
    expect(reset).toBeInstanceOf(ReplicateNetworkError);
    expect(reset).toMatchObject({ outcomeUnknown: true });
    expect(createRequests().length - requestsBefore).toBe(2);

    const { client: short } = clientFor(emu, { maxAttempts: 2 });
    emu.addFault({ route: 'getTraining', kind: '502', times: 2 });
    await expect(short.getTraining(stalled.id)).rejects.toMatchObject({ status: 502, retryable: true, outcomeUnknown: false });
  });

  it('times out a hanging request: a read is retried, a create is reported as unknown', async () => {
    const { client, sleeps } = clientFor(emu, { timeoutMs: 150 });
    emu.addFault({ route: 'getModel', kind: 'timeout' });
    await client.getModel('ostris', 'flux-dev-lora-trainer');
    expect(sleeps).toHaveLength(1);
    const requestsBefore = createRequests().length;
    emu.addFault({ route: 'createTraining', kind: 'timeout' });
    const error = await training(client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReplicateTimeoutError);
    expect(error).toMatchObject({ retryable: true, outcomeUnknown: true, timeoutMs: 150 });
    expect(createRequests().length - requestsBefore).toBe(1);
  });

  it('stops at once when the caller aborts', async () => {
    const { client, sleeps } = clientFor(emu, { timeoutMs: 5000 });
    emu.addFault({ route: 'getModel', kind: 'timeout' });
    const controller = new AbortController();
    const pending = client.getModel('ostris', 'flux-dev-lora-trainer', { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(new Error('shutting down')), 50);
    expect(await pending).toMatchObject({ message: 'shutting down' });
    expect(sleeps).toHaveLength(0);
  });

  it('logs retries without the token, and never follows a list cursor to another origin', async () => {
    const logged: unknown[] = [];
    const { client } = clientFor(emu, { logger: { warn: (details, message) => logged.push({ details, message }) } });
    emu.addFault({ route: 'getModel', kind: '500' });
    await client.getModel('ostris', 'flux-dev-lora-trainer');
    expect(logged).toHaveLength(1);
    expect(JSON.stringify(logged)).toContain('/v1/models/ostris/flux-dev-lora-trainer');
    expect(JSON.stringify(logged)).not.toContain(emu.token);

    // A page whose cursor points elsewhere would hand our token to that host.
    const seen: string[] = [];
    const foreign = new ReplicateClient({
      token: emu.token,
      baseUrl: emu.baseUrl,
      fetch: async (input, init) => {
        seen.push(String(input));
        const page = await fetch(input, init);
        const body = (await page.json()) as { next: string | null };
        return Response.json({ ...body, next: 'https://evil.example/v1/trainings?cursor=x' });
      },
    });
    const listing = (async () => {
      for await (const t of foreign.listTrainings()) void t;
    })();
    await expect(listing).rejects.toThrow(/another origin/);
    expect(seen.every((u) => u.startsWith(emu.baseUrl))).toBe(true);
  });

  it('survives a seeded random failure rate on reads', async () => {
    const noisy = await startReplicateEmulator({ failureRate: 0.3, seed: 5 });
    const { client } = clientFor(noisy, { maxAttempts: 8 });
    for (let i = 0; i < 20; i++) await client.getModel('ostris', 'flux-dev-lora-trainer');
    const statuses = noisy.requests.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(20);
    expect(statuses.some((s) => s === 429 || s === 500)).toBe(true);
    await noisy.close();
  });
});

async function pollUntilStep(client: ReplicateClient, id: string, step: number) {
  let state: TrainingLogState | null = null;
  for (let i = 0; i < 2000; i++) {
    const t = await client.getTraining(id);
    state = parseTrainingLog(t.logs, state).state;
    if ((state.progress?.step ?? -1) >= step) return t;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('never reached the step');
}
