import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplicateClient } from '../../../src/providers/replicate/client.ts';
import type { ReplicateApiError } from '../../../src/providers/replicate/errors.ts';
import { parseTrainingLog } from '../../../src/providers/replicate/training-log-parser.ts';
import type { ReplicatePrediction, ReplicateTraining } from '../../../src/providers/replicate/types.ts';
import { verifyWebhook } from '../../../src/providers/replicate/webhook-signature.ts';
import { startReplicateEmulator, type ReplicateEmulator } from '../../support/replicate-emulator/index.ts';
import { FLUX, SDXL, clientFor, makeTrainingZip, pollTraining, until } from './helpers.ts';

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
}

/** A webhook receiver on loopback; `answer` decides the status per request. */
async function startReceiver(answer: (r: Received, index: number) => number = () => 204) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { path: req.url ?? '', headers: req.headers, raw: Buffer.concat(chunks).toString('utf8') };
      received.push(r);
      const status = answer(r, received.length - 1);
      res.writeHead(status, status >= 300 && status < 400 ? { location: '/elsewhere' } : {});
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('webhooks and predictions on the emulator', () => {
  let emu: ReplicateEmulator;
  let client: ReplicateClient;
  let secret: string;
  let zipUrl: string;
  let fluxVersion: string;
  let trainedFlux: string;
  let trainedSdxl: string;

  beforeAll(async () => {
    emu = await startReplicateEmulator({ speed: 3, bootMs: 20, logsThrottleMs: 20, predictionMs: 60, webhookRetryDelaysMs: [10, 20, 40] });
    emu.createModel('theway', 'loras');
    client = clientFor(emu).client;
    secret = await client.getWebhookSecret();
    zipUrl = (await client.uploadFile(await makeTrainingZip(6), { filename: 'data.zip', contentType: 'application/zip' })).urls.get;
    fluxVersion = (await client.getModel(FLUX.trainerOwner, FLUX.trainerName)).latest_version!.id;
    const flux = await pollTraining(client, (await client.createTraining({ ...FLUX, trainerVersion: fluxVersion, destination: 'theway/loras', input: { input_images: zipUrl, steps: 100 } })).id);
    trainedFlux = flux.output!.version.split(':')[1]!;
    const sdxlVersion = (await client.getModel(SDXL.trainerOwner, SDXL.trainerName)).latest_version!.id;
    const sdxl = await pollTraining(client, (await client.createTraining({ ...SDXL, trainerVersion: sdxlVersion, destination: 'theway/loras', input: { input_images: zipUrl, max_train_steps: 50 } })).id);
    trainedSdxl = sdxl.output!.version.split(':')[1]!;
  });
  afterAll(() => emu.close());

  const createTraining = (webhook: string, filter?: Array<'start' | 'output' | 'logs' | 'completed'>, steps = 300) =>
    client.createTraining({ ...FLUX, trainerVersion: fluxVersion, destination: 'theway/loras', input: { input_images: zipUrl, steps }, webhook, ...(filter && { webhookEventsFilter: filter }) });

  it('sends signed webhooks for the filtered events, verifiable with the account secret', async () => {
    expect(secret).toMatch(/^whsec_/);
    const receiver = await startReceiver();
    // Long enough (~0.6 s real) that several logs webhooks go out even on a busy machine.
    const training = await createTraining(`${receiver.url}/hooks/replicate`, ['start', 'logs', 'completed'], 2000);
    await until(() => emu.webhooks.filter((w) => w.jobId === training.id && w.event === 'completed' && w.responseStatus !== null), (l) => l.length > 0, 'completed webhook');
    await receiver.close();

    const bodies = receiver.received.map((r) => {
      expect(r.path).toBe('/hooks/replicate');
      expect(r.headers['content-type']).toBe('application/json');
      const verdict = verifyWebhook({ secret, headers: r.headers, rawBody: r.raw });
      expect(verdict.ok).toBe(true);
      return JSON.parse(r.raw) as ReplicateTraining;
    });
    const events = emu.webhooks.filter((w) => w.jobId === training.id).map((w) => w.event);
    expect(events[0]).toBe('start');
    expect(events.at(-1)).toBe('completed');
    expect(events).toContain('logs');
    expect(events).not.toContain('output');
    expect(bodies.at(-1)).toMatchObject({ id: training.id, status: 'succeeded' });
    const ids = receiver.received.map((r) => r.headers['webhook-id']);
    expect(new Set(ids).size).toBe(ids.length);
    // Logs only grow from one webhook to the next, so the incremental parser can follow them.
    let state = null;
    for (const body of bodies) {
      const parsed = parseTrainingLog(body.logs, state, { final: body.status === 'succeeded' });
      expect(parsed.reset).toBe(false);
      state = parsed.state;
    }
    expect(state!.progress).toMatchObject({ step: 1999, total: 2000 });
    // A body changed in transit no longer verifies.
    const last = receiver.received.at(-1)!;
    expect(verifyWebhook({ secret, headers: last.headers, rawBody: last.raw.replace('succeeded', 'failed') }).ok).toBe(false);
  });

  it('retries only the completed webhook, with the same webhook-id, until it is accepted', async () => {
    const receiver = await startReceiver((r) => {
      const body = JSON.parse(r.raw) as ReplicateTraining;
      const completedSoFar = receiver.received.filter((x) => (JSON.parse(x.raw) as ReplicateTraining).status === 'succeeded').length;
      if (body.status === 'succeeded') return completedSoFar < 3 ? 500 : 200;
      return 503; // logs and start fail: never retried
    });
    const training = await createTraining(receiver.url, ['start', 'logs', 'completed']);
    await until(() => emu.webhooks.filter((w) => w.jobId === training.id && w.event === 'completed' && w.responseStatus === 200), (l) => l.length > 0, 'accepted completed webhook');
    await receiver.close();
    const completed = emu.webhooks.filter((w) => w.jobId === training.id && w.event === 'completed');
    expect(completed.map((w) => [w.attempt, w.responseStatus])).toEqual([[1, 500], [2, 500], [3, 200]]);
    expect(new Set(completed.map((w) => w.webhookId)).size).toBe(1);
    expect(emu.webhooks.filter((w) => w.jobId === training.id && w.event !== 'completed').every((w) => w.attempt === 1 && w.responseStatus === 503)).toBe(true);
  });

  it('does not follow redirects, and can drop a webhook on request', async () => {
    const receiver = await startReceiver((r) => (r.path === '/elsewhere' ? 200 : 307));
    emu.addFault({ route: 'webhook', kind: 'drop-webhook', event: 'start' });
    const training = await createTraining(`${receiver.url}/hook`, ['start', 'completed']);
    await until(() => emu.webhooks.filter((w) => w.jobId === training.id && w.event === 'completed' && w.responseStatus !== null), (l) => l.length > 0, 'completed webhook');
    await emu.webhooksSettled();
    await receiver.close();
    const attempts = emu.webhooks.filter((w) => w.jobId === training.id);
    expect(attempts.find((w) => w.event === 'start')).toMatchObject({ dropped: true, responseStatus: null });
    expect(attempts.find((w) => w.event === 'completed')).toMatchObject({ responseStatus: 307 });
    expect(receiver.received.some((r) => r.path === '/elsewhere')).toBe(false);
  });

  it('generates real, deterministic images from a trained flux version', async () => {
    const input = { prompt: 'a photo of TOK on a beach', seed: 1234, num_outputs: 2, output_format: 'png', aspect_ratio: '16:9' };
    const prediction = await client.createPrediction({ version: trainedFlux, input, waitSeconds: 5 });
    expect(prediction.status).toBe('succeeded');
    const urls = prediction.output as string[];
    expect(urls).toHaveLength(2);
    const images = await Promise.all(urls.map(async (u) => Buffer.from(await (await fetch(u)).arrayBuffer())));
    const meta = await sharp(images[0]!).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 336, height: 192 }); // 1344×768 at the emulator's 0.25 scale
    expect(images[0]!.equals(images[1]!)).toBe(false);
    const again = await client.createPrediction({ version: trainedFlux, input, waitSeconds: 5 });
    expect(Buffer.from(await (await fetch((again.output as string[])[0]!)).arrayBuffer()).equals(images[0]!)).toBe(true);
    const otherSeed = await client.createPrediction({ version: trainedFlux, input: { ...input, seed: 99, num_outputs: 1 }, waitSeconds: 5 });
    expect(Buffer.from(await (await fetch((otherSeed.output as string[])[0]!)).arrayBuffer()).equals(images[0]!)).toBe(false);
    expect(emu.requests.filter((r) => r.route === 'createPrediction').length).toBe(3);

    const webp = await client.createPrediction({ version: trainedFlux, input: { prompt: 'TOK', seed: 1 }, waitSeconds: 5 });
    expect((await sharp(Buffer.from(await (await fetch((webp.output as string[])[0]!)).arrayBuffer())).metadata()).format).toBe('webp');
  });

  it('polls a prediction created without waiting, and SDXL versions answer PNGs', async () => {
    const created = await client.createPrediction({ version: trainedSdxl, input: { prompt: 'a photo of TOK', negative_prompt: 'blurry', width: 512, height: 768, seed: 3 } });
    expect(['starting', 'processing']).toContain(created.status);
    const done = await until(() => client.getPrediction(created.id), (p: ReplicatePrediction) => p.status === 'succeeded', 'prediction');
    expect(done.logs).toMatch(/Using seed: 3/);
    const image = Buffer.from(await (await fetch((done.output as string[])[0]!)).arrayBuffer());
    expect(await sharp(image).metadata()).toMatchObject({ format: 'png', width: 128, height: 192 });
  });

  it('returns early from Prefer: wait, cancels, and reports failures and invalid input', async () => {
    emu.scriptNextPrediction({ outcome: 'stall' });
    const slow = await client.createPrediction({ version: trainedFlux, input: { prompt: 'TOK' }, waitSeconds: 1 });
    expect(['starting', 'processing']).toContain(slow.status);
    expect((await client.cancelPrediction(slow.id)).status).toBe('canceled');

    emu.scriptNextPrediction({ outcome: 'fail' });
    const nsfw = await client.createPrediction({ version: trainedFlux, input: { prompt: 'TOK' }, waitSeconds: 5 });
    expect(nsfw).toMatchObject({ status: 'failed', output: null, error: expect.stringMatching(/NSFW/) });

    const invalid = (await client.createPrediction({ version: trainedFlux, input: { prompt: 'TOK', num_outputs: 9, guidance_scale: 'high' } }).catch((e: unknown) => e)) as ReplicateApiError;
    expect(invalid.status).toBe(422);
    expect(invalid.invalidFields.map((f) => f.field).sort()).toEqual(['input.guidance_scale', 'input.num_outputs']);
    const unknown = await client.createPrediction({ version: 'a'.repeat(64), input: { prompt: 'x' } }).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ status: 422 });
  });

  it('sends output and completed webhooks for a prediction', async () => {
    const receiver = await startReceiver();
    const created = await client.createPrediction({ version: trainedFlux, input: { prompt: 'TOK', seed: 5 }, webhook: receiver.url, webhookEventsFilter: ['output', 'completed'] });
    await until(() => emu.webhooks.filter((w) => w.jobId === created.id && w.event === 'completed' && w.responseStatus !== null), (l) => l.length > 0, 'prediction webhook');
    await receiver.close();
    expect(emu.webhooks.filter((w) => w.jobId === created.id).map((w) => [w.kind, w.event])).toEqual([['prediction', 'output'], ['prediction', 'completed']]);
    for (const r of receiver.received) expect(verifyWebhook({ secret, headers: r.headers, rawBody: r.raw }).ok).toBe(true);
    expect((JSON.parse(receiver.received.at(-1)!.raw) as ReplicatePrediction).output).toHaveLength(1);
  });

  it('expires delivery URLs on request', async () => {
    const done = await client.createPrediction({ version: trainedFlux, input: { prompt: 'TOK', seed: 8 }, waitSeconds: 5 });
    const url = (done.output as string[])[0]!;
    expect((await fetch(url)).status).toBe(200);
    const other = await startReplicateEmulator();
    other.expireDeliveries();
    expect((await fetch(`${other.url}/delivery/anything/trained_model.tar`)).status).toBe(404);
    await other.close();
  });
});
