/**
 * bench/ingest: 20 photo-like 12 MP JPEGs uploaded through the HTTP API and fully processed
 * (decode, orientation, metadata strip, normalized copy, thumbnail, quality checks, storage),
 * against a decode-only pass over the same files (`sharp(file).raw().toBuffer()`) in the same run.
 * Reports total times, their ratio, and the server's peak memory growth.
 *
 *   npm run bench:ingest [-- --images 20 --rounds 2]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import sharp from 'sharp';
import { photoJpeg } from '../test/support/images.ts';
import { cpuSecondsOf, machine, median, memoryOf, seedUser, startProcess, today } from './support.ts';

const { values } = parseArgs({ options: { images: { type: 'string', default: '20' }, rounds: { type: 'string', default: '2' }, concurrency: { type: 'string', default: '3' } } });
const IMAGES = Number(values.images);
const ROUNDS = Number(values.rounds);
/** The web app uploads three files at a time; the decode-only floor runs with the same concurrency. */
const CONCURRENCY = Number(values.concurrency);

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

const dir = mkdtempSync(join(tmpdir(), 'theway-bench-ingest-'));
let server: ChildProcess | undefined;
try {
  const files: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const file = join(dir, `photo-${String(i + 1).padStart(2, '0')}.jpg`);
    writeFileSync(file, await photoJpeg({ width: 4000, height: 3000, seed: 500 + i, quality: 92 }));
    files.push(file);
  }
  const totalBytes = files.reduce((n, f) => n + readFileSync(f).length, 0);
  const dataDir = join(dir, 'data');
  const { token } = await seedUser(dataDir);
  const port = 3481;
  const base = `http://127.0.0.1:${port}`;
  server = await startProcess(['bin/theway.js', 'serve'], { DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', API_RATE_LIMIT_PER_MIN: '1000000' }, `${base}/api/health`, process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=/tmp/cpuprof3'] : []);
  const auth = { authorization: `Bearer ${token}` };

  /** CPU seconds of this process (the uploading client, or the decode-only pass) and of the server. */
  const cpu = () => ({ own: (process.cpuUsage().user + process.cpuUsage().system) / 1e6, server: cpuSecondsOf(server!.pid!) });
  const decodeCpu: number[] = [];
  const ingestCpu: Array<{ client: number; server: number }> = [];
  const decodeOnly = async () => {
    const c = cpu();
    const t = performance.now();
    await inParallel(files, CONCURRENCY, (f) => sharp(f).raw().toBuffer());
    const ms = performance.now() - t;
    decodeCpu.push(cpu().own - c.own);
    return ms;
  };
  const uploadAll = async (round: number) => {
    const model = await (await fetch(`${base}/api/models`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: `Ingest ${round}`, modelType: 'person' }) })).json() as { model: { id: string } };
    const c = cpu();
    const t = performance.now();
    await inParallel(files, CONCURRENCY, async (f) => {
      const form = new FormData();
      form.append('file', new Blob([readFileSync(f)], { type: 'image/jpeg' }), f.split('/').pop());
      const res = await fetch(`${base}/api/models/${model.model.id}/images`, { method: 'POST', headers: auth, body: form });
      const body = await res.json() as { results?: Array<{ status: string }> };
      if (res.status !== 200 || body.results?.[0]?.status !== 'added') throw new Error(`upload failed: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
    });
    const ms = performance.now() - t;
    const d = cpu();
    ingestCpu.push({ client: d.own - c.own, server: d.server - c.server });
    return ms;
  };

  await decodeOnly(); // warm the page cache and libvips
  const before = memoryOf(server.pid!);
  const ingest: number[] = [];
  const decode: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    decode.push(await decodeOnly());
    ingest.push(await uploadAll(round));
  }
  const after = memoryOf(server.pid!);
  const ingestMs = median(ingest);
  const decodeMs = median(decode);
  const result = {
    date: today(),
    machine: machine(),
    images: IMAGES,
    concurrency: CONCURRENCY,
    megapixels: 12,
    totalMB: Math.round(totalBytes / 2 ** 20),
    ingestMs: Math.round(ingestMs),
    decodeOnlyMs: Math.round(decodeMs),
    ratio: Number((ingestMs / decodeMs).toFixed(2)),
    serverRssBeforeMB: Math.round(before.rss / 2 ** 20),
    serverPeakGrowthMB: Math.round((after.peak - before.rss) / 2 ** 20),
    /** CPU per image, median over rounds: where the work goes (the machine has 2 cores, shared with anything else running). */
    cpuMsPerImage: {
      decodeOnly: Math.round((median(decodeCpu.slice(1)) * 1000) / IMAGES),
      server: Math.round((median(ingestCpu.map((c) => c.server)) * 1000) / IMAGES),
      uploadingClient: Math.round((median(ingestCpu.map((c) => c.client)) * 1000) / IMAGES),
    },
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`| ingest | ${result.date} | ${result.machine} | ${IMAGES} × 12 MP JPEG (${result.totalMB} MB) uploaded and processed over HTTP, ${CONCURRENCY} at a time: ${(ingestMs / 1000).toFixed(2)} s; server peak memory growth ${result.serverPeakGrowthMB} MB | decode-only pass (sharp raw, ${CONCURRENCY} at a time): ${(decodeMs / 1000).toFixed(2)} s | ${result.ratio} | ≤ 2, < 500 MB |`);
} finally {
  server?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  rmSync(dir, { recursive: true, force: true });
}
