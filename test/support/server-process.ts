import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RELAXED_LIMITS } from './relaxed-limits.ts';
import { LOG_DIR_ENV, registerSecret } from './secrets-registry.ts';

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

/**
 * Starts the real server (`bin/theway.js serve`) on the pinned Node with a fresh data directory
 * and waits until /api/health answers.
 */
export async function startServer(options: StartServerOptions = {}): Promise<ServerProcess> {
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
  const cleanup = () => {
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
  };

  const stop = async (graceMs = 10_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited(child);
      clearTimeout(timer);
    }
    cleanup();
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
    cleanup();
  };

  const deadline = Date.now() + (options.startupTimeoutMs ?? 30_000);
  const ready = async () => {
    if (options.command === 'worker') return output.includes('The Way is running');
    try {
      return (await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(1000) })).ok;
    } catch {
      return false; // not listening yet
    }
  };
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      cleanup();
      throw new Error(`The server exited during startup (code ${child.exitCode}, signal ${child.signalCode}):\n${output}`);
    }
    if (await ready()) break;
    if (Date.now() > deadline) {
      await kill();
      throw new Error(`The server did not answer ${url}/api/health in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return { url, pid: child.pid!, dataDir, output: () => output, stop, kill };
}
