/**
 * bench/tracking: one process tracking 1,000 concurrent trainings on the Replicate emulator,
 * first by polling only (`theway serve`, polling every 5 s), then as deployed with a public URL:
 * the start and the end by webhook, progress by the same 5-s polling. Reports CPU seconds per training-hour tracked and the lag
 * from an emulator status change to the row update (p50/p99). The emulator runs in its own process,
 * so rendering thousands of webhooks does not slow the benchmark's own sampling.
 *
 *   npm run bench:tracking [-- --trainings 1000 --seconds 40]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { openDatabase } from '../src/db/database.ts';
import { cpuSecondsOf, machine, percentile, seedTrackedTrainings, seedUser, startEmulatorProcess, startProcess, today, type EmulatorProcess } from './support.ts';

const { values } = parseArgs({ options: { trainings: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '40' } } });
const N = Number(values.trainings);
const SECONDS = Number(values.seconds);

/** Creates N trainings on the emulator and the matching rows, as if the platform had submitted them. */
async function seed(emu: EmulatorProcess, dataDir: string, webhook: string | null): Promise<{ token: string; remoteIds: string[] }> {
  const { user, token } = await seedUser(dataDir);
  const db = openDatabase({ sqliteFile: join(dataDir, 'theway.db') });
  const remoteIds = await seedTrackedTrainings(emu, db.kysely, user.id, N, webhook);
  await db.close();
  return { token, remoteIds };
}

async function run(mode: 'polling' | 'webhooks') {
  const dir = mkdtempSync(join(tmpdir(), `theway-bench-tracking-${mode}-`));
  const dataDir = join(dir, 'data');
  // Each training lasts about SECONDS × 1.5 real seconds: all of them run through the window.
  const emu = await startEmulatorProcess({ speed: 1000 / (SECONDS * 1.5 * 1000), bootMs: 2000, logsThrottleMs: 500, models: [['theway', 'loras']] });
  let proc: ChildProcess | undefined;
  try {
    const port = mode === 'polling' ? 3501 : 3502;
    const base = `http://127.0.0.1:${port}`;
    const { remoteIds } = await seed(emu, dataDir, mode === 'webhooks' ? `${base}/api/webhooks/replicate` : null);
    const env: Record<string, string> = {
      DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', JOB_CONCURRENCY: '32',
      ...emu.platformEnv,
      TRAINING_POLL_SECONDS: '5',
      ...(mode === 'webhooks' ? { PUBLIC_URL: base } : {}),
    };
    // `serve` in both modes: on SQLite the worker role is refused (it needs PostgreSQL), and an idle
    // web server adds nothing measurable to the CPU figure.
    proc = await startProcess(['bin/theway.js', 'serve'], env, `${base}/api/health`);
    const db = openDatabase({ sqliteFile: join(dataDir, 'theway.db') });
    const seen = new Map<string, { processing?: number; succeeded?: number }>();
    const cpu0 = cpuSecondsOf(proc.pid!);
    const t0 = Date.now();
    let cpuWindow = 0;
    let windowSeconds = 0;
    while (Date.now() - t0 < SECONDS * 1000 * 2.5) {
      const rows = await db.kysely.selectFrom('trainings').select(['remote_id', 'status']).execute();
      const now = Date.now();
      for (const r of rows) {
        const s = seen.get(r.remote_id!) ?? {};
        if ((r.status === 'processing' || r.status === 'succeeded') && !s.processing) s.processing = now;
        if (r.status === 'succeeded' && !s.succeeded) s.succeeded = now;
        seen.set(r.remote_id!, s);
      }
      if (!windowSeconds && now - t0 >= SECONDS * 1000) {
        cpuWindow = cpuSecondsOf(proc.pid!) - cpu0;
        windowSeconds = (now - t0) / 1000;
      }
      if (rows.every((r) => r.status === 'succeeded')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await db.close();
    const startLags: number[] = [];
    const endLags: number[] = [];
    for (const t of await emu.trainingTimes(remoteIds)) {
      const s = seen.get(t.id);
      if (s?.processing && t.processingAtMs) startLags.push(s.processing - t.processingAtMs);
      if (s?.succeeded && t.completedAtMs) endLags.push(s.succeeded - t.completedAtMs);
    }
    const lags = [...startLags, ...endLags];
    const done = [...seen.values()].filter((s) => s.succeeded).length;
    const perTrainingHour = cpuWindow / (N * windowSeconds / 3600);
    return { mode, trainings: N, runSeconds: Math.round((Date.now() - t0) / 1000), windowSeconds: Math.round(windowSeconds), cpuSeconds: Number(cpuWindow.toFixed(2)), cpuSecondsPerTrainingHour: Number(perTrainingHour.toFixed(2)), lagP50Ms: Math.round(percentile(lags, 50)), lagP99Ms: Math.round(percentile(lags, 99)), startLagP50Ms: Math.round(percentile(startLags, 50)), endLagP50Ms: Math.round(percentile(endLags, 50)), endLagP99Ms: Math.round(percentile(endLags, 99)), reachedSucceeded: done, ...(await emu.stats()), emulatorCpuSeconds: Number(cpuSecondsOf(emu.pid).toFixed(1)) };
  } finally {
    proc?.kill('SIGTERM');
    await emu.close();
    await new Promise((r) => setTimeout(r, 1000));
    rmSync(dir, { recursive: true, force: true });
  }
}

const polling = await run('polling');
console.log(JSON.stringify(polling));
const webhooks = await run('webhooks');
console.log(JSON.stringify(webhooks));
const describe = (r: typeof polling) => `${r.mode}: ${r.cpuSecondsPerTrainingHour} CPU s per training-hour, lag p50 ${r.lagP50Ms} ms / p99 ${r.lagP99Ms} ms, ${r.reachedSucceeded}/${r.trainings} finished`;
console.log(`| tracking | ${today()} | ${machine()} | ${N} concurrent trainings, one process — ${describe(polling)}; with webhooks for start and end — ${describe(webhooks)} | — (lag sampled every 100 ms; polling every 5 s in both; emulator in its own process) | webhooks/polling CPU ${(webhooks.cpuSecondsPerTrainingHour / polling.cpuSecondsPerTrainingHour).toFixed(2)} | — |`);
