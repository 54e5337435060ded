import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import sharp from 'sharp';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { createTestDb, DIALECTS, type TestDb } from '../support/databases.ts';
import { signUpOverHttp, type ApiUser } from '../support/http-client.ts';
import { multipartBody } from '../support/dataset-factories.ts';
import { hostileCorpus, rawZip, sha256, type HostileInput } from '../support/hostile-inputs.ts';
import { photoJpeg } from '../support/images.ts';

/**
 * Upload fuzz: over a thousand hostile files, generated from one seed, sent through the real
 * upload endpoint of the real server process. Replay a failure with HOSTILE_SEED=<seed>.
 *
 * Invariants (see hostile-inputs.ts for what `reject` and `either` mean):
 * - every request is answered with 200 (some files added) or a 4xx, never a 5xx, never a hang;
 * - every file gets at least one verdict naming it (a plain file exactly one), and every refusal
 *   carries a code and a message a person can read (no stack, no server path);
 * - a `reject` input is never added, and its content is never stored;
 * - every stored row was answered "added" to some `either` input, its stored image decodes
 *   cleanly, its name is clean; storage holds exactly the rows' blobs; the spool is empty;
 * - the server's peak resident memory stays within MEMORY_BOUND_MB of where it started. That is a
 *   resource-safety bound, not a timing one: a single decode costs up to ~120 MB (a progressive
 *   JPEG just under the 40-megapixel limit needs its whole coefficient buffer), and libvips threads
 *   keep their malloc arenas; measured growth is 210–290 MB and does not grow with the input count
 *   (4,029 inputs with HOSTILE_ROUNDS=8 peaked the same).
 * Both dialects: the server process runs on its SQLite file or on a throw-away PostgreSQL database.
 */

const SEED = Number(process.env.HOSTILE_SEED ?? 20_261_125);
/** HOSTILE_ROUNDS=<n> repeats the per-image mutation rounds for a longer fuzzing session (default 2). */
const ROUNDS = Number(process.env.HOSTILE_ROUNDS ?? 2);
/** HOSTILE_CATEGORIES=<regex> narrows a replay to some categories (e.g. "^zip-bomb"). */
const ONLY = process.env.HOSTILE_CATEGORIES ? new RegExp(process.env.HOSTILE_CATEGORIES) : null;
const MB = 2 ** 20;
const LIMITS = { MAX_IMAGE_MB: '2', MAX_ZIP_MB: '6', MAX_UPLOAD_FILES: '40', MAX_DATASET_IMAGES: '100', MAX_IMAGE_MEGAPIXELS: '40' };
/** The server derives these from the limits above (src/app-context.ts). */
const MAX_ZIP_ENTRIES = 100 * 4 + 50;
const MAX_ZIP_INFLATED = 100 * 2 * MB;
const MEMORY_BOUND_MB = 400;
const REQUEST_TIMEOUT_MS = 120_000;

type Verdict =
  | { filename: string; status: 'added' | 'duplicate'; image: { id: string; filename: string } }
  | { filename: string; status: 'rejected'; error: { code: string; message: string } }
  | { filename: string; status: 'skipped'; reason: string };

const isArchive = (data: Buffer) => data.length >= 4 && data[0] === 0x50 && data[1] === 0x4b && ((data[2] === 3 && data[3] === 4) || (data[2] === 5 && data[3] === 6));

function readKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]);
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

type ImageRow = { id: string; model_id: string; sha256: string; original_name: string; image_key: string; thumb_key: string; width: number; height: number };

describe.each(DIALECTS)('hostile uploads through the real upload endpoint (%s, server process)', (dialect) => {
  let server: ServerProcess;
  let pg: TestDb | undefined;
  let user: ApiUser;
  let corpus: HostileInput[];

  beforeAll(async () => {
    if (dialect === 'postgres') pg = await createTestDb('postgres');
    server = await startServer({ env: { ...LIMITS, ...(pg ? { DATABASE_URL: pg.location } : {}) } });
    user = await signUpOverHttp(server.url);
    corpus = await hostileCorpus({ seed: SEED, maxImageBytes: 2 * MB, maxUploadBytes: 6 * MB, maxZipEntries: MAX_ZIP_ENTRIES, maxZipInflatedBytes: MAX_ZIP_INFLATED, rounds: ROUNDS });
    if (ONLY) corpus = corpus.filter((i) => ONLY.test(i.category));
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await pg?.drop();
  });

  /** The server's rows, read behind its back: the SQLite file in its data directory, or its PostgreSQL database. */
  const imageRows = async (modelIds: string[]): Promise<ImageRow[]> => {
    const columns = ['id', 'model_id', 'sha256', 'original_name', 'image_key', 'thumb_key', 'width', 'height'] as const;
    if (pg) return (await pg.kysely.selectFrom('dataset_images').select(columns).where('model_id', 'in', modelIds).execute()).map((r) => ({ ...r, width: Number(r.width), height: Number(r.height) }));
    const db = new DatabaseSync(join(server.dataDir, 'theway.db'), { readOnly: true });
    try {
      return db.prepare(`select ${columns.join(', ')} from dataset_images where model_id in (${modelIds.map(() => '?').join(',')})`).all(...modelIds) as ImageRow[];
    } finally {
      db.close();
    }
  };

  it(`answers every hostile file with a readable refusal, stores nothing of them, and stays within memory (seed ${SEED})`, async () => {
    const violations: string[] = [];
    const fail = (input: HostileInput | undefined, what: string) => violations.push(`${input ? `${input.tag} [${input.category}] ${JSON.stringify(input.name).slice(0, 80)}` : 'request'}: ${what}`);
    const byTag = new Map(corpus.map((i) => [i.tag, i]));

    // Warm up (sharp, caches, connections) with one good upload, then take the baseline.
    const warm = await user.call<{ model: { id: string } }>(server.url, 'POST', '/api/models', { name: 'Warm-up', modelType: 'object' });
    await user.uploadPhotos(server.url, warm.model.id, 2, 1);
    // VmHWM is the lifetime peak: reset it (Linux ≥ 4.0) so it covers the fuzz only. If the
    // kernel refuses, the 100 ms samples still bound the peak from below.
    let hwmReset = true;
    try {
      writeFileSync(`/proc/${server.pid}/clear_refs`, '5');
    } catch {
      hwmReset = false;
    }
    const baselineKb = readKb(server.pid, 'VmRSS');
    let peakRssKb = baselineKb;
    const sampler = setInterval(() => {
      try {
        peakRssKb = Math.max(peakRssKb, readKb(server.pid, 'VmRSS'));
      } catch {
        // the process is gone: the health check below reports it
      }
    }, 100);

    // Batches of up to 40 files (the per-request limit), each into a fresh model, so per-model
    // dedup and the image cap never mix inputs from different batches. Files that may break the
    // multipart parsing itself go alone.
    const batches: HostileInput[][] = [];
    let current: HostileInput[] = [];
    for (const input of corpus) {
      if (input.alone) {
        batches.push([input]);
        continue;
      }
      current.push(input);
      if (current.length === 40) {
        batches.push(current);
        current = [];
      }
    }
    if (current.length) batches.push(current);

    const verdictsOf = new Map<string, Verdict[]>();
    const acceptedImage = new Map<string, HostileInput>(); // image id → input
    const modelIds: string[] = [];
    const reasonCounts = new Map<string, number>();
    const statusCounts = new Map<number, number>();
    const refusedWhole = new Set<string>();
    const started = Date.now();

    const send = async (batch: HostileInput[]) => {
      const { model } = await user.call<{ model: { id: string } }>(server.url, 'POST', '/api/models', { name: `Hostile ${batch[0]!.tag}`, modelType: 'object' });
      modelIds.push(model.id);
      const { payload, headers } = multipartBody(batch.map((i) => ({ name: i.name, data: i.data, type: i.contentType })));
      let res: Response;
      let text: string;
      try {
        res = await fetch(`${server.url}/api/models/${model.id}/images`, { method: 'POST', headers: { authorization: `Bearer ${user.token}`, ...headers }, body: payload, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        text = await res.text();
      } catch (error) {
        for (const input of batch) fail(input, `no answer within ${REQUEST_TIMEOUT_MS / 1000} s (${String(error)})`);
        return;
      }
      statusCounts.set(res.status, (statusCounts.get(res.status) ?? 0) + 1);
      if (res.status >= 500) {
        for (const input of batch) fail(input, `HTTP ${res.status}: ${text.slice(0, 300)}`);
        return;
      }
      const body = JSON.parse(text) as { results?: Verdict[]; error?: { code: string; message: string; details?: unknown } };
      let verdicts: Verdict[];
      if (res.status === 200) verdicts = body.results ?? [];
      else if (res.status === 422 && Array.isArray(body.error?.details)) verdicts = body.error.details as Verdict[];
      else if (res.status >= 400 && res.status < 500 && batch.length === 1 && batch[0]!.alone) {
        // A hostile multipart header may fail the request as a whole: fine, if it says why.
        if (!body.error?.message) fail(batch[0], `HTTP ${res.status} without a message: ${text.slice(0, 200)}`);
        refusedWhole.add(batch[0]!.tag);
        reasonCounts.set(`request ${res.status} ${body.error?.code}`, (reasonCounts.get(`request ${res.status} ${body.error?.code}`) ?? 0) + 1);
        return;
      } else {
        for (const input of batch) fail(input, `unexpected HTTP ${res.status}: ${text.slice(0, 300)}`);
        return;
      }
      for (const v of verdicts) {
        const tag = /h\d{4}/.exec(v.filename)?.[0];
        const input = tag ? byTag.get(tag) : undefined;
        if (!input || !batch.includes(input)) {
          fail(undefined, `a verdict names no file of its batch: ${JSON.stringify(v).slice(0, 200)}`);
          continue;
        }
        verdictsOf.set(input.tag, [...(verdictsOf.get(input.tag) ?? []), v]);
        const reason = v.status === 'rejected' ? v.error.code : v.status;
        reasonCounts.set(reason, (reasonCounts.get(reason) ?? 0) + 1);
        if (v.status === 'added' || v.status === 'duplicate') acceptedImage.set(v.image.id, input);
      }
    };

    const queue = [...batches];
    await Promise.all([0, 1].map(async () => {
      for (let batch = queue.shift(); batch; batch = queue.shift()) await send(batch);
    }));
    const elapsedMs = Date.now() - started;
    clearInterval(sampler);
    if (hwmReset) peakRssKb = Math.max(peakRssKb, readKb(server.pid, 'VmHWM'));

    // ---- Per-file verdicts ----
    const readable = (message: unknown) =>
      typeof message === 'string' && message.trim().length > 0 && message.length <= 600 && !/\n\s+at |upload-[0-9a-f-]{8}|theway-e2e-|node_modules|\.ts:\d/.test(message) && !message.includes(server.dataDir);
    for (const input of corpus) {
      const verdicts = verdictsOf.get(input.tag) ?? [];
      if (verdicts.length === 0) {
        if (!refusedWhole.has(input.tag)) fail(input, 'got no verdict');
        continue;
      }
      if (!isArchive(input.data) && verdicts.length !== 1) fail(input, `a plain file got ${verdicts.length} verdicts`);
      for (const v of verdicts) {
        if (v.status === 'rejected') {
          if (!readable(v.error?.message) || typeof v.error?.code !== 'string') fail(input, `refusal without a readable reason: ${JSON.stringify(v).slice(0, 300)}`);
          if (input.reasons && !input.reasons.includes(v.error.code)) fail(input, `refused as ${v.error.code} (expected one of ${input.reasons.join(', ')}): ${v.error.message}`);
        } else if (v.status === 'skipped') {
          if (!readable(v.reason)) fail(input, `skipped without a readable reason: ${JSON.stringify(v).slice(0, 300)}`);
          if (input.reasons && !input.reasons.includes('skipped')) fail(input, `skipped (expected one of ${input.reasons.join(', ')}): ${v.reason}`);
        } else if (input.expect === 'reject') {
          fail(input, `was ${v.status} as "${v.filename}"`);
        }
      }
    }

    // ---- What the server kept ----
    const rows = await imageRows(modelIds);
    const forbidden = new Map(corpus.flatMap((i) => i.forbiddenSha.map((sha) => [sha, i] as const)));
    const blobs = join(server.dataDir, 'blobs');
    for (const row of rows) {
      const input = acceptedImage.get(row.id);
      if (!input) fail(undefined, `row ${row.id} ("${row.original_name}") was never answered as added`);
      else if (input.expect === 'reject') fail(input, `stored as row ${row.id}`);
      const refused = forbidden.get(row.sha256);
      if (refused) fail(refused, `its content is stored as row ${row.id} ("${row.original_name}")`);
      if (row.original_name.length > 200 || /[\u0000-\u001f\u007f/\\]/.test(row.original_name)) fail(input, `stored under an unclean name ${JSON.stringify(row.original_name).slice(0, 120)}`);
      try {
        const stored = readFileSync(join(blobs, row.image_key));
        const { info } = await sharp(stored, { failOn: 'warning' }).raw().toBuffer({ resolveWithObject: true });
        if (info.width > 2048 || info.height > 2048 || Math.abs(info.width / info.height - row.width / row.height) > 0.05) {
          fail(input, `stored image is ${info.width}×${info.height} for a ${row.width}×${row.height} row`);
        }
        await sharp(readFileSync(join(blobs, row.thumb_key)), { failOn: 'warning' }).raw().toBuffer();
      } catch (error) {
        fail(input, `stored files of row ${row.id} do not decode: ${String(error)}`);
      }
      // The decoder agrees on the original too (for plain files, whose bytes we know).
      if (input && !isArchive(input.data) && sha256(input.data) === row.sha256) {
        await sharp(input.data, { failOn: 'warning' }).raw().toBuffer().catch((error: unknown) => fail(input, `accepted, but its bytes do not decode cleanly: ${String(error)}`));
      }
    }
    const expectedKeys = new Set(rows.flatMap((r) => [r.image_key, r.thumb_key]));
    const files = walk(blobs).map((p) => relative(blobs, p));
    const keysOfTheseModels = files.filter((k) => modelIds.some((id) => k.startsWith(`models/${id}/`)));
    for (const key of keysOfTheseModels) if (!expectedKeys.has(key)) fail(undefined, `blob without a row: ${key}`);
    for (const key of expectedKeys) if (!files.includes(key)) fail(undefined, `row without its blob: ${key}`);
    for (const key of files) if (/(^|\/)\.tmp-/.test(key)) fail(undefined, `storage temp file left: ${key}`);
    const spool = existsSync(join(server.dataDir, 'tmp')) ? readdirSync(join(server.dataDir, 'tmp')) : [];
    if (spool.length > 0) fail(undefined, `spool files left: ${spool.slice(0, 5).join(', ')}`);

    const health = await fetch(`${server.url}/api/health`, { signal: AbortSignal.timeout(10_000) });
    if (!health.ok) fail(undefined, `server unhealthy afterwards: ${health.status}`);
    const errorLogs = server.output().split('\n').filter((l) => /"level":(50|60)/.test(l));
    if (errorLogs.length) fail(undefined, `server logged ${errorLogs.length} errors, first: ${errorLogs[0]!.slice(0, 400)}`);

    const growthMb = (peakRssKb - baselineKb) / 1024;
    const categories = new Map<string, number>();
    for (const i of corpus) categories.set(i.category, (categories.get(i.category) ?? 0) + 1);
    console.log(
      [
        `hostile uploads, seed ${SEED}: ${corpus.length} inputs in ${batches.length} requests, ${(elapsedMs / 1000).toFixed(1)} s`,
        `categories: ${[...categories].map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `verdicts: ${[...reasonCounts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`,
        `HTTP: ${[...statusCounts].map(([k, v]) => `${k}×${v}`).join(', ')}; rows kept: ${rows.length} (all from "either" mutants)`,
        `server RSS: baseline ${(baselineKb / 1024).toFixed(0)} MB, peak ${(peakRssKb / 1024).toFixed(0)} MB, growth ${growthMb.toFixed(0)} MB (bound ${MEMORY_BOUND_MB} MB; ${hwmReset ? 'VmHWM since baseline' : 'sampled every 100 ms'})`,
      ].join('\n'),
    );

    if (!ONLY) expect(corpus.length).toBeGreaterThanOrEqual(1000);
    expect(violations, `seed ${SEED} (replay with HOSTILE_SEED=${SEED}):\n${violations.slice(0, 40).join('\n')}`).toEqual([]);
    expect(growthMb, `seed ${SEED}: server peak RSS grew by ${growthMb.toFixed(0)} MB`).toBeLessThan(MEMORY_BOUND_MB);
  }, 600_000);

  it('answers malformed multipart requests with a 4xx and a message, leaving no spool file behind', async () => {
    const { model } = await user.call<{ model: { id: string } }>(server.url, 'POST', '/api/models', { name: 'Broken forms', modelType: 'object' });
    const photo = await photoJpeg({ width: 320, height: 320, seed: 78 });
    const full = multipartBody([{ name: 'a.jpg', data: photo }, { name: 'b.jpg', data: Buffer.concat([photo, Buffer.alloc(50_000, 1)]) }], 'XyZboundary');
    const cases: Array<[string, Record<string, string>, Buffer | string]> = [
      ['cut off inside the second file', full.headers, full.payload.subarray(0, full.payload.length - 30_000)],
      ['cut off inside a part header', full.headers, Buffer.concat([full.payload.subarray(0, full.payload.indexOf('Content-Disposition', 200)), Buffer.from('Content-Disp')])],
      ['no boundary in the content type', { 'content-type': 'multipart/form-data' }, full.payload],
      ['an empty boundary', { 'content-type': 'multipart/form-data; boundary=""' }, full.payload],
      ['a boundary of 300 characters', { 'content-type': `multipart/form-data; boundary=${'b'.repeat(300)}` }, `--${'b'.repeat(300)}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\nabc\r\n--${'b'.repeat(300)}--\r\n`],
      ['a boundary that never appears', { 'content-type': 'multipart/form-data; boundary=nothere' }, full.payload],
      ['garbage instead of parts', full.headers, Buffer.alloc(4096, 0x41)],
      ['only a text field', full.headers, '--XyZboundary\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--XyZboundary--\r\n'],
      ['an empty body', full.headers, ''],
      ['a part header of 200 KB', full.headers, `--XyZboundary\r\nContent-Disposition: form-data; name="file"; filename="${'x'.repeat(200_000)}.jpg"\r\n\r\nabc\r\n--XyZboundary--\r\n`],
      ['JSON instead of a form', { 'content-type': 'application/json' }, '{"file":"a.jpg"}'],
    ];
    const answers: string[] = [];
    for (const [label, headers, body] of cases) {
      const res = await fetch(`${server.url}/api/models/${model.id}/images`, { method: 'POST', headers: { authorization: `Bearer ${user.token}`, ...headers }, body: typeof body === 'string' ? body : new Uint8Array(body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const text = await res.text();
      answers.push(`${label}: ${res.status}`);
      expect(res.status, `${label}: ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${label}: ${text.slice(0, 300)}`).toBeLessThan(500);
      expect((JSON.parse(text) as { error: { message: string } }).error.message, label).toMatch(/\w/);
    }
    console.log(`malformed multipart: ${answers.join('; ')}`);
    const spool = existsSync(join(server.dataDir, 'tmp')) ? readdirSync(join(server.dataDir, 'tmp')) : [];
    expect(spool).toEqual([]);
    // What arrived in full before the cut may be kept (the endpoint says so): only that photo.
    const rows = (await user.call<{ images: Array<{ filename: string }> }>(server.url, 'GET', `/api/models/${model.id}/dataset`)).images;
    expect(rows.map((r) => r.filename).filter((n) => n !== 'a.jpg')).toEqual([]);
  });

  // Regression (found by the fuzz): an archive holding only folders and hidden files got no verdict.
  it('answers an empty archive, or one of only hidden files and folders, with its own refusal', async () => {
    const { model } = await user.call<{ model: { id: string } }>(server.url, 'POST', '/api/models', { name: 'Empty zips', modelType: 'object' });
    const junk = rawZip([{ name: '__MACOSX/._a.jpg', data: Buffer.from('fork') }, { name: 'set/', data: Buffer.alloc(0) }, { name: 'set/.DS_Store', data: Buffer.from('x') }]);
    const photo = await photoJpeg({ width: 320, height: 320, seed: 77 });
    const { payload, headers } = multipartBody([{ name: 'empty.zip', data: rawZip([]) }, { name: 'junk.zip', data: junk }, { name: 'fine.jpg', data: photo }]);
    const res = await fetch(`${server.url}/api/models/${model.id}/images`, { method: 'POST', headers: { authorization: `Bearer ${user.token}`, ...headers }, body: payload });
    expect(res.status).toBe(200);
    const { results } = (await res.json()) as { results: Verdict[] };
    expect(results.map((r) => [r.filename, r.status, r.status === 'rejected' ? r.error.code : undefined])).toEqual([
      ['empty.zip', 'rejected', 'no_images'],
      ['junk.zip', 'rejected', 'no_images'],
      ['fine.jpg', 'added', undefined],
    ]);
    expect((results[1] as { error: { message: string } }).error.message).toMatch(/^"junk\.zip": the archive holds no images/);
  });
});
