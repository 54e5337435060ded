import { until as waitUntil } from '../../support/until.ts';
import sharp from 'sharp';
import yazl from 'yazl';
import { ReplicateClient, type ReplicateClientOptions } from '../../../src/providers/replicate/client.ts';
import { isTerminalStatus, type ReplicateTraining } from '../../../src/providers/replicate/types.ts';
import type { ReplicateEmulator } from '../../support/replicate-emulator/index.ts';

/** A real training zip: `count` small JPEGs synthesized with sharp, the first `captions` with a .txt. */
export async function makeTrainingZip(count: number, captions = 0): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (let i = 0; i < count; i++) {
    const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: (i * 40) % 255, g: 120, b: 200 } } }).jpeg().toBuffer();
    zip.addBuffer(jpeg, `photos/img_${i}.jpg`);
    if (i < captions) zip.addBuffer(Buffer.from(`a photo of TOK number ${i}`), `photos/img_${i}.txt`);
  }
  zip.addBuffer(Buffer.from('junk'), '__MACOSX/._img_0.jpg');
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A client for the emulator whose sleeps are recorded and skipped. */
export function clientFor(emulator: ReplicateEmulator, options: Partial<ReplicateClientOptions> = {}) {
  const sleeps: number[] = [];
  const client = new ReplicateClient({
    token: emulator.token,
    baseUrl: emulator.baseUrl,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...options,
  });
  return { client, sleeps };
}

export const FLUX = { trainerOwner: 'ostris', trainerName: 'flux-dev-lora-trainer' } as const;
export const SDXL = { trainerOwner: 'stability-ai', trainerName: 'sdxl' } as const;

export async function pollTraining(client: ReplicateClient, id: string, onPoll?: (t: ReplicateTraining) => void): Promise<ReplicateTraining> {
  for (let i = 0; i < 2000; i++) {
    const training = await client.getTraining(id);
    onPoll?.(training);
    if (isTerminalStatus(training.status)) return training;
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
  throw new Error(`training ${id} did not finish`);
}

/** The shared polling helper, with the ten-second bound these client tests had. */
export const until = <T>(read: () => T | Promise<T>, done: (value: T) => boolean, what: string): Promise<T> => waitUntil(read, done, what, 10_000);
