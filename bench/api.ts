/**
 * bench/api: GET /api/models for a user with 200 models (64 connections, autocannon in this
 * process) against a bare Fastify route returning the same bytes, each server in its own child
 * process. Rounds alternate between the two so machine noise hits both alike; the ratio is
 * what we compare across machines.
 *
 *   npm run bench:api [-- --seconds 10 --rounds 3]
 */
import autocannon from 'autocannon';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../src/db/database.ts';
import { machine, seedUser, startProcess as startChild, today } from './support.ts';
import { ModelRepository } from '../src/models/model-repository.ts';
import { ModelService } from '../src/models/model-service.ts';
import { MODEL_TYPES } from '../src/models/schemas.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '64' } } });
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);

async function seed(dataDir: string): Promise<string> {
  const { user, token } = await seedUser(dataDir);
  const db = openDatabase({ sqliteFile: join(dataDir, 'theway.db') });
  const models = new ModelService(new ModelRepository(db.kysely));
  for (let i = 0; i < 200; i++) {
    await models.create(user, {
      name: `Model ${String(i).padStart(3, '0')}`,
      description: `Benchmark model number ${i}, trained on fifteen photos of a subject in varied light.`,
      visibility: i % 3 === 0 ? 'public' : 'private',
      modelType: MODEL_TYPES[i % 3]!,
    });
  }
  await db.close();
  return token;
}

const startProcess = (args: string[], env: Record<string, string>, readyUrl: string) =>
  startChild(args, env, readyUrl, process.env.BENCH_PROFILE && args[0] === 'bin/theway.js' ? ['--cpu-prof', '--cpu-prof-dir=/tmp/cpuprof2'] : []);

async function load(url: string, headers: Record<string, string>) {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: SECONDS, headers });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.average, p99: r.latency.p99, bytes: r.throughput.average };
}

const dataDir = mkdtempSync(join(tmpdir(), 'theway-bench-api-'));
const children: ChildProcess[] = [];
try {
  const token = await seed(dataDir);
  const appPort = 3471;
  const barePort = 3472;
  children.push(await startProcess(['bin/theway.js', 'serve'], { DATA_DIR: dataDir, PORT: String(appPort), LOG_LEVEL: 'warn', API_RATE_LIMIT_PER_MIN: '100000000' }, `http://127.0.0.1:${appPort}/api/health`));
  const appUrl = `http://127.0.0.1:${appPort}/api/models?limit=200`;
  const headers = { authorization: `Bearer ${token}` };
  const sample = await fetch(appUrl, { headers });
  const body = await sample.text();
  const parsed = JSON.parse(body) as { models: unknown[] };
  if (parsed.models.length !== 200) throw new Error(`expected 200 models, got ${parsed.models.length}`);
  const bodyFile = join(dataDir, 'body.json');
  writeFileSync(bodyFile, body);
  children.push(await startProcess(['bench/bare-server.ts', bodyFile, String(barePort)], {}, `http://127.0.0.1:${barePort}/health`));
  const bareUrl = `http://127.0.0.1:${barePort}/api/models`;

  await load(appUrl, headers); // warm-up: JIT and SQLite page cache
  await load(bareUrl, headers);
  const app: Array<{ rps: number; p99: number }> = [];
  const bare: Array<{ rps: number; p99: number }> = [];
  for (let round = 0; round < ROUNDS; round++) {
    app.push(await load(appUrl, headers));
    bare.push(await load(bareUrl, headers));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const appRps = median(app.map((r) => r.rps));
  const bareRps = median(bare.map((r) => r.rps));
  const result = {
    date: today(),
    machine: machine(),
    bodyBytes: Buffer.byteLength(body),
    connections: CONNECTIONS,
    seconds: SECONDS,
    rounds: ROUNDS,
    app: { rps: Math.round(appRps), p99Ms: median(app.map((r) => r.p99)) },
    bare: { rps: Math.round(bareRps), p99Ms: median(bare.map((r) => r.p99)) },
    ratio: Number((appRps / bareRps).toFixed(2)),
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`| api | ${result.date} | ${result.machine} | GET /api/models (200 models, ${CONNECTIONS} conns): ${result.app.rps} req/s, p99 ${result.app.p99Ms} ms | bare Fastify, same ${result.bodyBytes} bytes: ${result.bare.rps} req/s, p99 ${result.bare.p99Ms} ms | ${result.ratio} | ≥ 0.5 |`);
} finally {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1000));
  rmSync(dataDir, { recursive: true, force: true });
}
