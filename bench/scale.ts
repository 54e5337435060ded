/**
 * bench/scale: does a second worker process add tracking capacity? On PostgreSQL (pg-boss jobs,
 * LISTEN/NOTIFY events), one `theway web` process holds SSE subscribers while 1, then 2,
 * `theway worker` processes track N concurrent trainings on the Replicate emulator, polled more
 * often than one worker can keep up with. Reports trainings tracked per second (status polls
 * answered by the emulator) and SSE events delivered per second, and the 2-worker/1-worker ratios.
 *
 *   npm run bench:scale [-- --trainings 400 --seconds 20 --subscribers 5]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AccountRepository } from '../src/accounts/account-repository.ts';
import { AccountService } from '../src/accounts/account-service.ts';
import { createTestDb } from '../test/support/databases.ts';
import { ensureServices } from '../test/support/services.ts';
import { openSse } from '../test/support/sse-client.ts';
import { startReplicateEmulator } from '../test/support/replicate-emulator/index.ts';
import { cpuSecondsOf, machine, ROOT, seedTrackedTrainings, startProcess, today } from './support.ts';

const { values } = parseArgs({ options: { trainings: { type: 'string', default: '400' }, seconds: { type: 'string', default: '20' }, subscribers: { type: 'string', default: '5' } } });
const N = Number(values.trainings);
const SECONDS = Number(values.seconds);
const SUBSCRIBERS = Number(values.subscribers);
const WARMUP_SECONDS = 8;

function startWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['bin/theway.js', 'worker'], { cwd: ROOT, env: { ...process.env, ...env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-10_000);
      if (out.includes('The Way is running')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
}

async function run(workers: number) {
  const testDb = await createTestDb('postgres');
  const dataDir = mkdtempSync(join(tmpdir(), `theway-bench-scale-${workers}-`));
  // Each training lasts about 3 windows: all of them stay active while we measure.
  const emu = await startReplicateEmulator({ speed: 1000 / ((WARMUP_SECONDS + SECONDS) * 3 * 1000), bootMs: 500, logsThrottleMs: 500 });
  const procs: ChildProcess[] = [];
  try {
    const accounts = new AccountService(new AccountRepository(testDb.kysely), { sessionTtlDays: 1 });
    const user = await accounts.createUser({ email: 'bench@example.test', password: 'benchmark password', displayName: 'Bench' });
    const { secret: token } = await accounts.createApiToken(user.id, { name: 'bench' });
    emu.createModel('theway', 'loras');
    await seedTrackedTrainings(emu, testDb.kysely, user.id, N, null);

    const port = 3600 + workers;
    // One DATA_DIR for every process: on one machine the local blob directory is shared storage
    // (SHARED_DATA_DIR says so; web and worker refuse to start on local files otherwise).
    const env: Record<string, string> = {
      DATABASE_URL: testDb.location, DATA_DIR: dataDir, SHARED_DATA_DIR: 'true', PORT: String(port), LOG_LEVEL: 'warn', JOB_CONCURRENCY: '32',
      ...emu.platformEnv(), TRAINING_POLL_SECONDS: '0.5',
      API_RATE_LIMIT_PER_MIN: '1000000',
      SSE_MAX_STREAMS_PER_USER: '1000000', // --subscribers may ask for more than a real user's cap
    };
    const base = `http://127.0.0.1:${port}`;
    procs.push(await startProcess(['bin/theway.js', 'web'], env, `${base}/api/health`));
    const streams = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => openSse(`${base}/api/events`, { authorization: `Bearer ${token}` })));
    for (let i = 0; i < workers; i++) procs.push(await startWorker(env));

    const polls = () => emu.requests.filter((r) => r.route === 'getTraining' && r.status === 200).length;
    const frames = () => streams.reduce((sum, s) => sum + s.dataFrames().length, 0);
    await new Promise((r) => setTimeout(r, WARMUP_SECONDS * 1000));
    const workerPids = procs.slice(1).map((p) => p.pid!);
    const [polls0, frames0, t0] = [polls(), frames(), Date.now()];
    const cpu0 = workerPids.map(cpuSecondsOf);
    const [machine0, self0, web0] = [machineCpu(), process.cpuUsage(), cpuSecondsOf(procs[0]!.pid!)];
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const elapsed = (Date.now() - t0) / 1000;
    const cpu = workerPids.map((pid, i) => cpuSecondsOf(pid) - cpu0[i]!).reduce((a, b) => a + b, 0);
    const machine1 = machineCpu();
    const self = process.cpuUsage(self0);
    const result = {
      workers,
      trainings: N,
      trackedPerSecond: Number(((polls() - polls0) / elapsed).toFixed(1)),
      sseEventsPerSecond: Number(((frames() - frames0) / elapsed).toFixed(1)),
      workerCpuSeconds: Number(cpu.toFixed(1)),
      windowSeconds: Math.round(elapsed),
      // Where the two cores went: busy share of the whole machine, and the main consumers' CPU seconds.
      machineBusyPercent: Math.round((100 * (machine1.busy - machine0.busy)) / (machine1.total - machine0.total)),
      webCpuSeconds: Number((cpuSecondsOf(procs[0]!.pid!) - web0).toFixed(1)),
      emulatorAndClientsCpuSeconds: Number(((self.user + self.system) / 1e6).toFixed(1)),
    };
    for (const s of streams) s.close();
    return result;
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    await emu.close();
    await testDb.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Jiffies the whole machine spent busy and in total so far (Linux /proc/stat). */
function machineCpu(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3]! + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

await ensureServices();
const one = await run(1);
console.log(JSON.stringify(one));
const two = await run(2);
console.log(JSON.stringify(two));
const describe = (r: typeof one) =>
  `${r.workers} worker${r.workers > 1 ? 's' : ''}: ${r.trackedPerSecond} trainings tracked/s, ${r.sseEventsPerSecond} SSE events/s; machine ${r.machineBusyPercent}% busy (CPU s: workers ${r.workerCpuSeconds}, web ${r.webCpuSeconds}, emulator+clients ${r.emulatorAndClientsCpuSeconds})`;
console.log(`| scale | ${today()} | ${machine()} | PostgreSQL + pg-boss, ${N} concurrent trainings polled every 0.5 s, ${SUBSCRIBERS} SSE subscribers on one web process, ${SECONDS} s window — ${describe(two)} | ${describe(one)} | tracked ${(two.trackedPerSecond / one.trackedPerSecond).toFixed(2)}, SSE ${(two.sseEventsPerSecond / one.sseEventsPerSecond).toFixed(2)} | ≈ 2 where cores are free |`);
