/**
 * bench/sse: one server process holding N concurrent SSE subscribers (1,000 and 5,000) while a
 * training updates through signed Replicate webhooks. Measures event delivery latency (webhook
 * sent → event received by each subscriber, p50/p99) and server memory per subscriber.
 *
 *   npm run bench:sse [-- --subscribers 1000,5000 --events 20]
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { openDatabase } from '../src/db/database.ts';
import { signWebhook } from '../src/providers/replicate/webhook-signature.ts';
import { startReplicateEmulator } from '../test/support/replicate-emulator/index.ts';
import { insertModel, insertTraining } from '../test/support/factories.ts';
import { machine, memoryOf, percentile, seedUser, startProcess, today } from './support.ts';

const { values } = parseArgs({ options: { subscribers: { type: 'string', default: '1000,5000' }, events: { type: 'string', default: '20' } } });
const COUNTS = values.subscribers.split(',').map(Number);
const EVENTS = Number(values.events);

interface Subscriber { req: http.ClientRequest; received: Map<number, number> }

function subscribe(port: number, token: string, onReady: () => void): Subscriber {
  const received = new Map<number, number>();
  const agent = new http.Agent({ keepAlive: false });
  const req = http.get({ host: '127.0.0.1', port, path: '/api/events', agent, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
    onReady();
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let i;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const data = frame.split('\n').find((l) => l.startsWith('data: '));
        if (!data) continue;
        const step = (JSON.parse(data.slice(6)) as { progress?: { step?: number } }).progress?.step;
        if (typeof step === 'number' && !received.has(step)) received.set(step, performance.timeOrigin + performance.now());
      }
    });
  });
  req.on('error', () => undefined);
  return { req, received };
}

const dir = mkdtempSync(join(tmpdir(), 'theway-bench-sse-'));
const emu = await startReplicateEmulator();
const rows: string[] = [];
let server: ChildProcess | undefined;
try {
  const dataDir = join(dir, 'data');
  const { user, token } = await seedUser(dataDir);
  const db = openDatabase({ sqliteFile: join(dataDir, 'theway.db') });
  const model = await insertModel(db.kysely, user.id, { name: 'SSE bench' });
  const training = await insertTraining(db.kysely, user.id, model.id, { status: 'processing', remote_id: 'ssebenchremote', weights_key: null, log_state: null, progress_step: null });
  await db.close();
  const port = 3491;
  const base = `http://127.0.0.1:${port}`;
  server = await startProcess(['bin/theway.js', 'serve'], {
    DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', API_RATE_LIMIT_PER_MIN: '100000000',
    // Thousands of streams of one user: the per-user cap protects real deployments, not this measurement.
    SSE_MAX_STREAMS_PER_USER: '1000000',
    ...emu.platformEnv(),
    PUBLIC_URL: base, TRAINING_POLL_SECONDS: '3600',
  }, `${base}/api/health`);
  void training;

  let step = 0;
  // One training's log, growing across the rounds as a real one does (a shorter log would be an older snapshot).
  let logs = '';
  for (const n of COUNTS) {
    const idle = memoryOf(server.pid!).rss;
    let ready = 0;
    const subs: Subscriber[] = [];
    await new Promise<void>((resolve) => {
      for (let i = 0; i < n; i++) subs.push(subscribe(port, token, () => ++ready === n && resolve()));
    });
    await new Promise((r) => setTimeout(r, 1000));
    const connected = memoryOf(server.pid!).rss;
    const sent = new Map<number, number>();
    for (let e = 0; e < EVENTS; e++) {
      step += 1;
      logs += `flux_train_replicate:  ${Math.floor(step / 10)}%|█         | ${step}/1000 [00:10<12:34,  1.19it/s, lr: 4.0e-04 loss: 3.652e-01]\n`;
      const body = JSON.stringify({ id: 'ssebenchremote', status: 'processing', input: {}, logs, created_at: new Date().toISOString() });
      const headers = signWebhook({ secret: emu.webhookSecret, webhookId: `msg_bench_${step}`, timestampSeconds: Math.floor(Date.now() / 1000), rawBody: body });
      sent.set(step, performance.timeOrigin + performance.now());
      const res = await fetch(`${base}/api/webhooks/replicate`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
      await new Promise((r) => setTimeout(r, 150));
    }
    await new Promise((r) => setTimeout(r, 2000));
    const latencies: number[] = [];
    let missing = 0;
    for (const s of subs) {
      for (const [k, t0] of sent) {
        const t1 = s.received.get(k);
        if (t1 === undefined) missing += 1;
        else latencies.push(t1 - t0);
      }
    }
    for (const s of subs) s.req.destroy();
    const perSubKB = ((connected - idle) / n / 1024).toFixed(1);
    const p50 = percentile(latencies, 50).toFixed(1);
    const p99 = percentile(latencies, 99).toFixed(1);
    const line = `${n} subscribers: p50 ${p50} ms, p99 ${p99} ms, ${perSubKB} KB/subscriber, ${missing} of ${n * EVENTS} events missed`;
    rows.push(line);
    console.log(JSON.stringify({ subscribers: n, events: EVENTS, p50Ms: Number(p50), p99Ms: Number(p99), memoryPerSubscriberKB: Number(perSubKB), missed: missing }));
    await new Promise((r) => setTimeout(r, 1500));
  }
  console.log(`| sse | ${today()} | ${machine()} | ${rows.join('; ')} | — (latency includes verifying and applying each webhook) | — | p99 well under 1 s |`);
} finally {
  server?.kill('SIGTERM');
  await emu.close();
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
}
