import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { AccountRepository } from '../src/accounts/account-repository.ts';
import { AccountService } from '../src/accounts/account-service.ts';
import type { User } from '../src/accounts/types.ts';
import type { Kysely } from 'kysely';
import yazl from 'yazl';
import type { Database } from '../src/db/schema.ts';
import type { EmulatorOptions } from '../test/support/replicate-emulator/index.ts';
import { insertModel, insertTraining } from '../test/support/factories.ts';

export const ROOT = join(import.meta.dirname, '..');

export const machine = () => `${cpus().length}× ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
export const today = () => new Date().toISOString().slice(0, 10);

/** A migrated SQLite data dir with one user and an API token, before the server starts. */
export async function seedUser(dataDir: string): Promise<{ user: User; token: string }> {
  const db = openDatabase({ sqliteFile: join(dataDir, 'theway.db') });
  await migrateToLatest(db);
  const accounts = new AccountService(new AccountRepository(db.kysely), { sessionTtlDays: 1 });
  const user = await accounts.createUser({ email: 'bench@example.test', password: 'benchmark password', displayName: 'Bench' });
  const { secret } = await accounts.createApiToken(user.id, { name: 'bench' });
  await db.close();
  return { user, token: secret };
}

/** The emulator running in its own process (bench/emulator-process.ts). */
export interface EmulatorProcess {
  baseUrl: string;
  token: string;
  platformEnv: Record<string, string>;
  pid: number;
  trainingTimes(ids: string[]): Promise<Array<{ id: string; processingAtMs: number | null; completedAtMs: number | null }>>;
  /** Webhooks sent and training status polls received so far. */
  stats(): Promise<{ webhooks: number; polls: number }>;
  close(): Promise<void>;
}

export async function startEmulatorProcess(options: EmulatorOptions & { models?: Array<[string, string]> }): Promise<EmulatorProcess> {
  const child = fork(join(ROOT, 'bench', 'emulator-process.ts'), [], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const next = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: { type: string }) => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message as T);
      };
      const onExit = (code: number | null) => reject(new Error(`the emulator process exited with ${code}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = next<{ baseUrl: string; token: string; platformEnv: Record<string, string> }>('ready');
  child.send(options);
  const { baseUrl, token, platformEnv } = await ready;
  return {
    baseUrl,
    token,
    platformEnv,
    pid: child.pid!,
    async trainingTimes(ids) {
      const answer = next<{ times: Awaited<ReturnType<EmulatorProcess['trainingTimes']>> }>('trainingTimes');
      child.send({ type: 'trainingTimes', ids });
      return (await answer).times;
    },
    async stats() {
      const answer = next<{ webhooks: number; polls: number }>('stats');
      child.send({ type: 'stats' });
      const { webhooks, polls } = await answer;
      return { webhooks, polls };
    },
    async close() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'close' });
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      child.kill('SIGKILL');
    },
  };
}

/** Starts `theway <role>` (or any script) as a child process and waits until `readyUrl` answers. */
export function startProcess(args: string[], env: Record<string, string>, readyUrl: string, nodeArgs: string[] = []): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeArgs, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 60_000;
    const poll = async () => {
      try {
        if ((await fetch(readyUrl)).ok) return resolve(child);
      } catch { /* not up yet */ }
      if (Date.now() > deadline) return reject(new Error(`${args.join(' ')} did not start`));
      setTimeout(poll, 200);
    };
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
    void poll();
  });
}

/** Resident and peak resident memory of a process, in bytes (Linux /proc). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** CPU seconds (user + system) a process has used so far (Linux /proc). */
export function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

export const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
export const median = (xs: number[]) => percentile(xs, 50);

async function tinyZip(): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from([0xff, 0xd8, 0xff, 0xd9]), '0001.jpg');
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Creates `n` trainings on the emulator and the matching `starting` rows for `userId`, as if the
 * platform had submitted them; a worker that starts afterwards resumes tracking them all.
 */
/** Creates N trainings on the emulator (which must hold the model theway/loras) and the matching rows, as if the platform had submitted them. */
export async function seedTrackedTrainings(emu: { baseUrl: string; token: string }, db: Kysely<Database>, userId: string, n: number, webhook: string | null): Promise<string[]> {
  const auth = { authorization: `Bearer ${emu.token}` };
  const form = new FormData();
  form.set('content', new Blob([new Uint8Array(await tinyZip())]), 'd.zip');
  const file = (await (await fetch(`${emu.baseUrl}/files`, { method: 'POST', headers: auth, body: form })).json()) as { urls: { get: string } };
  const version = ((await (await fetch(`${emu.baseUrl}/models/ostris/flux-dev-lora-trainer`, { headers: auth })).json()) as { latest_version: { id: string } }).latest_version.id;
  const remoteIds: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = (await (await fetch(`${emu.baseUrl}/models/ostris/flux-dev-lora-trainer/versions/${version}/trainings`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' },
      // As the platform submits them: with its webhook URL when it has a public one.
      body: JSON.stringify({ destination: 'theway/loras', input: { input_images: file.urls.get, steps: 1000 }, ...(webhook && { webhook, webhook_events_filter: ['start', 'completed'] }) }),
    })).json()) as { id: string };
    const model = await insertModel(db, userId, { name: `Tracked ${i}` });
    await insertTraining(db, userId, model.id, { status: 'starting', remote_id: t.id, remote_status: 'starting', weights_key: null, output_version: null, log_state: null, progress_step: null, stage: 'booting', completed_at: null });
    remoteIds.push(t.id);
  }
  return remoteIds;
}
