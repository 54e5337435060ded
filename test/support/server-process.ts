import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RELAXED_LIMITS } from './relaxed-limits.ts';
import { readStoredJobs } from './jobs.ts';
import { ANSWERS_DIR_ENV, LOG_DIR_ENV, recordAnswer, registerSecret } from './secrets-registry.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const NODE_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'node');

export interface ServerProcess {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  /** The child's process id (for /proc readings: CPU time, memory). */
  pid: number;
  /** Its DATA_DIR: a fresh one removed by stop() and kill(), unless the caller passed its own. */
  dataDir: string;
  /** Everything the process wrote to stdout/stderr so far (for failure messages). */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once (a crash, as far as the server can tell). */
  kill(): Promise<void>;
}

export interface StartServerOptions {
  /** Extra environment variables (e.g. DATABASE_URL); they win over the defaults. */
  env?: Record<string, string>;
  /** `worker` has no HTTP port: it counts as started when it logs that it is running. */
  command?: 'serve' | 'web' | 'worker';
  startupTimeoutMs?: number;
  /**
   * Reuse this data directory (a restart after a crash): it is neither created nor removed here;
   * the caller owns it. Default: a fresh temporary directory removed by stop() and kill().
   */
  dataDir?: string;
}

/** A free TCP port on loopback, found by letting the OS pick one and releasing it again. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('Could not determine a free port.'));
      });
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** Jobs already recorded by this test process (a database shared by several processes is read at each stop). */
const recordedJobs = new Set<string>();

/**
 * The jobs a server process left in its database (payloads, last errors) join the end-of-run
 * secret scan, as a test app's do when it closes. Read once the process has exited, before its data
 * directory is removed; a database that cannot be read is reported, not silently skipped.
 */
async function recordServerJobs(env: NodeJS.ProcessEnv, dataDir: string, pid: number | undefined): Promise<void> {
  if (!process.env[ANSWERS_DIR_ENV]) return;
  const source = env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : { sqliteFile: join(dataDir, 'theway.db') };
  let jobs;
  try {
    jobs = await readStoredJobs(source);
  } catch (error) {
    console.warn(`secret scan: could not read the jobs of server process ${pid} (${(error as Error).message}); they are not scanned`);
    return;
  }
  for (const job of jobs) {
    const text = JSON.stringify({ payload: job.payload, lastError: job.lastError });
    const key = `${job.id}\u0000${text}`;
    if (recordedJobs.has(key)) continue;
    recordedJobs.add(key);
    recordAnswer(`job ${job.name} ${job.id} (server process ${pid})`, text);
  }
}

interface Launched {
  child: ChildProcess;
  url: string;
  dataDir: string;
  output(): string;
  /** Answers /api/health (a worker: has logged that it runs). */
  ready(): Promise<boolean>;
  stop(graceMs?: number): Promise<void>;
  kill(): Promise<void>;
}

/** Spawns `bin/theway.js <command>` on the pinned Node; does not wait for it. */
async function launch(options: StartServerOptions): Promise<Launched> {
  const port = await freePort();
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'theway-e2e-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    // A worker announces readiness at info level; the others stay quiet unless something is wrong.
    LOG_LEVEL: options.command === 'worker' ? 'info' : 'warn',
    ...RELAXED_LIMITS,
    // During a run every process logs at info to the run's log directory, which is scanned for secrets at the end.
    ...(process.env[LOG_DIR_ENV] && options.command !== 'worker' ? { LOG_LEVEL: 'info' } : {}),
    ...options.env,
  };
  for (const name of ['REPLICATE_API_TOKEN', 'S3_SECRET_ACCESS_KEY']) registerSecret(name, env[name]);
  const child = spawn(NODE_BIN, [join(REPO_ROOT, 'bin', 'theway.js'), options.command ?? 'serve'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const logDir = process.env[LOG_DIR_ENV];
  if (logDir) {
    const file = createWriteStream(join(logDir, `server-${options.command ?? 'serve'}-${child.pid}.log`));
    child.stdout?.pipe(file, { end: false });
    child.stderr?.pipe(file, { end: false });
    child.once('close', () => file.end());
  }

  const url = `http://127.0.0.1:${port}`;
  /** Once it has exited: its jobs to the secret scan, then its data directory away (if ours). */
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      await recordServerJobs(env, dataDir, child.pid);
      if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    })());

  const stop = async (graceMs = 10_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited(child);
      clearTimeout(timer);
    }
    await cleanup();
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await cleanup();
  };
  const ready = async () => {
    if (options.command === 'worker') return output.includes('The Way is running');
    try {
      return (await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(1000) })).ok;
    } catch {
      return false; // not listening yet
    }
  };
  return { child, url, dataDir, output: () => output, ready, stop, kill };
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/**
 * Starts the real server (`bin/theway.js serve`) on the pinned Node with a fresh data directory
 * and waits until /api/health answers.
 */
export async function startServer(options: StartServerOptions = {}): Promise<ServerProcess> {
  const p = await launch(options);
  const deadline = Date.now() + (options.startupTimeoutMs ?? 30_000);
  for (;;) {
    if (hasExited(p.child)) {
      await p.kill(); // already gone: records its jobs and removes its data directory
      throw new Error(`The server exited during startup (code ${p.child.exitCode}, signal ${p.child.signalCode}):\n${p.output()}`);
    }
    if (await p.ready()) break;
    if (Date.now() > deadline) {
      await p.kill();
      throw new Error(`The server did not answer ${p.url}/api/health in time:\n${p.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: p.url, pid: p.child.pid!, dataDir: p.dataDir, output: p.output, stop: p.stop, kill: p.kill };
}

/** When a crash during startup strikes: this long after the spawn, or this long after it first answered. */
export type BootCrash = { afterSpawnMs: number } | { afterReadyMs: number };

/**
 * Starts the server like startServer, but SIGKILLs it while it boots and resumes unfinished work
 * (a crash during recovery): `afterSpawnMs` after the spawn, ready or not, or `afterReadyMs` after
 * /api/health first answered. Resolves once it is dead: whether it had answered before the kill,
 * and its output. Give it the data directory to keep (`dataDir`), to start it again afterwards.
 */
export async function startAndCrashDuringBoot(options: StartServerOptions, when: BootCrash): Promise<{ readyBeforeKill: boolean; output: string }> {
  const p = await launch(options);
  const deadline = Date.now() + (options.startupTimeoutMs ?? 30_000);
  let readyBeforeKill = false;
  let killed = false;
  const killNow = () => {
    killed = true;
    p.child.kill('SIGKILL');
  };
  // After the spawn: a timer, so that a slow health check cannot delay the kill.
  let timer = 'afterSpawnMs' in when ? setTimeout(killNow, when.afterSpawnMs) : undefined;
  try {
    while (!hasExited(p.child)) {
      if (!readyBeforeKill && !killed && (await p.ready()) && !killed) {
        readyBeforeKill = true;
        if ('afterReadyMs' in when) timer = setTimeout(killNow, when.afterReadyMs);
      }
      if (!readyBeforeKill && !killed && Date.now() > deadline) {
        killNow();
        await p.kill();
        throw new Error(`The server did not answer ${p.url}/api/health in time:\n${p.output()}`);
      }
      await new Promise((r) => setTimeout(r, readyBeforeKill ? 10 : 50));
    }
  } finally {
    clearTimeout(timer);
  }
  await p.kill();
  if (!killed) throw new Error(`The server exited during startup (code ${p.child.exitCode}, signal ${p.child.signalCode}):\n${p.output()}`);
  return { readyBeforeKill, output: p.output() };
}
