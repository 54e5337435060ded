import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { startReplicateEmulator, type PausedRequest, type ReplicateEmulator } from '../support/replicate-emulator/index.ts';
import { seededRandom } from '../support/replicate-emulator/rng.ts';
import { startAndCrashDuringBoot, startServer, type BootCrash, type ServerProcess } from '../support/server-process.ts';
import { multipartBody } from '../support/dataset-factories.ts';
import { signUpOverHttp } from '../support/http-client.ts';
import { photoJpeg } from '../support/images.ts';
import { until } from '../support/until.ts';

/**
 * Crash safety of the embedded process: `theway serve` (SQLite, local blobs) runs as a real child
 * process and is SIGKILLed at seeded random points of every phase — mid-upload, right after an
 * upload was acknowledged, during training submission (the Files API upload or the create call in
 * flight or answered), while tracking, while finalizing, and during generations (prediction
 * created, outputs being copied) — then restarted on the same DATA_DIR. In one phase of each model
 * the kill is not at a chosen moment but at a seeded random delay after the phase starts (whatever
 * the process is doing then: nothing is held), and a few restarts are themselves killed while the
 * process boots and resumes the unfinished work (before or just after it first answers). At the end
 * nothing acknowledged is lost, nothing was paid twice, everything ended, and no file is left over.
 *
 * Replay a run with CRASH_SEED=<seed printed at the start>; CRASH_DEBUG_LOG=<file> collects each
 * killed process's info-level log there.
 */

const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 1e9));
const MODELS = 5;
const IMAGES_PER_MODEL = 10;
const BATCHES = [4, 3, 3];
const OUTPUTS_PER_GENERATION = 2;
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
const UPLOAD_VARIANTS = ['mid-stream', 'after-ack'] as const;
const SUBMISSION_VARIANTS = ['zip-upload-answered', 'create-in-flight', 'create-answered', 'zip-being-written'] as const;
const TRACKING_VARIANTS = ['mid-training', 'copying-weights'] as const;
const GENERATION_VARIANTS = ['create-in-flight', 'create-answered', 'copying-outputs'] as const;

const PHASES = ['upload', 'submission', 'tracking', 'generation'] as const;
/**
 * Phases that have more models than chosen variants: the fifth random kill goes to one of them, so
 * that every chosen variant is still hit in every run (submission has 4 variants for 5 models).
 */
const PHASES_WITH_ROOM = ['upload', 'tracking', 'generation'] as const;
/** Phases whose restart has unfinished work to resume: where the boot kills strike. */
const RECOVERING_PHASES = ['submission', 'tracking', 'generation'] as const;
/**
 * A random kill strikes up to this long after its phase starts (roughly how long the phase lasts
 * here: a batch upload, the zip and the create call, the ~2.5 s training, a prediction).
 */
const RANDOM_KILL_WINDOW_MS: Record<Phase, number> = { upload: 800, submission: 1500, tracking: 3000, generation: 1000 };
/** A request the killed process had already sent may still reach the emulator after its death. */
const STRAGGLER_MS = 200;

type Phase = (typeof PHASES)[number];
interface KillPoint {
  /** At a chosen moment, at a random delay after a phase started, or while the process booted. */
  kind: 'chosen' | 'random' | 'boot';
  phase: Phase;
  variant: string;
  model: number;
}

/**
 * A chosen moment held in the emulator (a paused request), and whether it has been reached. The
 * weights copy is held from before the submission kill, so another kill (random, boot) may catch it
 * held: the request then goes on (its answer reaches nobody, as after any kill) and the moment is
 * armed again, since the restarted process comes back to it. (The other moments are armed only
 * while their own kill is the next one.)
 */
class Moment {
  readonly #make: () => PausedRequest;
  pause!: PausedRequest;
  reached = false;
  /** Its chosen kill was made: nothing more to release. */
  done = false;

  constructor(make: () => PausedRequest) {
    this.#make = make;
    this.#arm();
  }

  #arm() {
    const pause = this.#make();
    this.pause = pause;
    this.reached = false;
    void pause.reached.then(() => {
      if (this.pause === pause) this.reached = true;
    });
  }

  afterOtherKill() {
    if (!this.reached || this.done) return;
    this.pause.release();
    this.#arm();
  }

  /** Its chosen kill was made: the held request goes on. */
  release() {
    this.done = true;
    this.pause.release();
  }
}

interface Api {
  base: string;
  token: string;
}

describe('crash safety: SIGKILL `theway serve` at random points and restart it', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'theway-crash-'));
  let emu: ReplicateEmulator;
  let server: ServerProcess | undefined;

  afterAll(async () => {
    await server?.kill();
    await emu?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses no acknowledged upload, pays once per training, ends every job, leaves no orphan file', async () => {
    const started = Date.now();
    console.log(`crash-safety seed: ${SEED} (replay with CRASH_SEED=${SEED})`);
    const random = seededRandom(SEED);
    // Each phase walks a seeded shuffle of its variants, so every variant is hit in a run.
    const decks = new Map<readonly string[], string[]>();
    const pick = <T extends string>(variants: readonly T[]): T => {
      let deck = decks.get(variants);
      if (!deck?.length) {
        deck = [...variants].sort(() => random() - 0.5);
        decks.set(variants, deck);
      }
      return deck.pop() as T;
    };
    // ~250 flux steps last about 2.5 s: long enough to kill mid-training, short enough for the budget.
    emu = await startReplicateEmulator({ speed: 0.12, bootMs: 200, predictionMs: 250, outputScale: 0.1, seed: SEED });
    const env = {
      REPLICATE_API_TOKEN: emu.token,
      REPLICATE_BASE_URL: emu.baseUrl,
      REPLICATE_DESTINATION: 'theway/loras',
      TRAINING_POLL_SECONDS: '0.2',
      JOB_LEASE_SECONDS: '3',
      // The other limits are relaxed by server-process.ts for every test server.
      API_RATE_LIMIT_PER_MIN: '100000',
      ...(process.env.CRASH_DEBUG_LOG && { LOG_LEVEL: 'info' }),
    };
    const boot = () => startServer({ dataDir, env, startupTimeoutMs: 60_000 });
    const spawned = Date.now();
    server = await boot();
    const bootMs = Date.now() - spawned; // how long a start takes on this machine, for the boot kills
    const api = (): Api => ({ base: server!.url, token });

    const kills: KillPoint[] = [];
    let restarts = 0;
    /** Chosen moments currently held in the emulator (see Moment). */
    const armed = new Set<Moment>();
    const debugLog = (text: string) => process.env.CRASH_DEBUG_LOG && appendFileSync(process.env.CRASH_DEBUG_LOG, text);
    /** After a kill: held requests the dead process had reached go on (see Moment). */
    const settle = async () => {
      if (![...armed].some((moment) => !moment.done)) return;
      await sleep(STRAGGLER_MS);
      for (const moment of armed) moment.afterOtherKill();
    };
    /**
     * SIGKILL; let the held emulator request of its chosen moment go on (its answer now reaches
     * nobody), and any other one the dead process had reached; start again — after a first start
     * killed during its boot, with `bootCrash`.
     */
    const crash = async (point: KillPoint, options: { moment?: Moment; bootCrash?: BootCrash | undefined } = {}) => {
      await server!.kill();
      debugLog(`\n=== killed at ${point.kind} ${point.phase}/${point.variant} (model ${point.model})\n${server!.output()}`);
      options.moment?.release();
      kills.push(point);
      await settle();
      const bootCrash = options.bootCrash;
      if (bootCrash) {
        const crashed = await startAndCrashDuringBoot({ dataDir, env, startupTimeoutMs: 60_000 }, bootCrash);
        const when = 'afterSpawnMs' in bootCrash ? `${Math.round(bootCrash.afterSpawnMs)} ms after spawn` : `${Math.round(bootCrash.afterReadyMs)} ms after ready`;
        const bootKill: KillPoint = { kind: 'boot', phase: point.phase, variant: `${when} (${crashed.readyBeforeKill ? 'had answered' : 'before answering'})`, model: point.model };
        debugLog(`\n=== killed at boot ${bootKill.phase}/${bootKill.variant} (model ${bootKill.model})\n${crashed.output}`);
        kills.push(bootKill);
        restarts++;
        await settle();
      }
      server = await boot();
      restarts++;
    };
    /** A kill at a seeded random delay into a phase: its delay, drawn now, whatever happens meanwhile. */
    const randomDelay = (phase: Phase) => Math.round(random() * RANDOM_KILL_WINDOW_MS[phase]);
    /** The kill of a model's random phase: `delay` after it started (sleeping meanwhile), nothing held. */
    const randomCrash = async (phase: Phase, model: number, delay: number, after: string) => {
      await sleep(delay);
      await crash({ kind: 'random', phase, variant: `+${delay} ms after ${after}`, model }, { bootCrash: bootCrashAfter(model, phase) });
    };

    // In one phase of each model the kill strikes at a random delay instead of a chosen moment
    // (every phase gets at least one); two restarts after a kill are killed while booting: one in
    // the second half of a start as long as the first one took (opening the data, recovering), one
    // just after it first answered (resuming the unfinished work).
    const randomPhases = [...PHASES, pick(PHASES_WITH_ROOM)].sort(() => random() - 0.5);
    const bootPlan = new Map<string, BootCrash>();
    for (const bootCrash of [{ afterSpawnMs: bootMs * (0.5 + random() * 0.5) }, { afterReadyMs: random() * 300 }] as BootCrash[]) {
      let key: string;
      do key = `${Math.floor(random() * MODELS)}/${pick(RECOVERING_PHASES)}`;
      while (bootPlan.has(key));
      bootPlan.set(key, bootCrash);
    }
    const bootCrashAfter = (m: number, phase: Phase) => bootPlan.get(`${m}/${phase}`);
    const extraKillsIn = (m: number, phase: Phase) => kills.filter((k) => k.model === m && k.phase === phase && k.kind !== 'chosen').length;

    const { token } = await signUpOverHttp(server.url, `crash-${Date.now().toString(36)}@example.com`, 'Crash tester');

    // ─── phase 1: uploads ────────────────────────────────────────────────────────────────
    const acknowledged = new Map<string, Set<string>>(); // model id → sha256 of files answered 2xx
    const modelIds: string[] = [];
    for (let m = 0; m < MODELS; m++) {
      const { model } = await call<{ model: { id: string } }>(api(), 'POST', '/api/models', { name: `Crash subject ${m}`, modelType: 'object' });
      modelIds.push(model.id);
      acknowledged.set(model.id, new Set());
      const files = await Promise.all(
        Array.from({ length: IMAGES_PER_MODEL }, async (_, i) => ({ name: `photo-${i}.jpg`, data: await photoJpeg({ width: 768, height: 768, seed: SEED % 10_000 + m * 100 + i }), type: 'image/jpeg' })),
      );
      const batches: Array<typeof files> = [];
      let offset = 0;
      for (const size of BATCHES) batches.push(files.slice(offset, (offset += size)));
      const crashBatch = Math.floor(random() * batches.length);
      // A random kill strikes while that batch is sent: before, during or after its answer.
      const variant = randomPhases[m] === 'upload' ? 'random' : pick(UPLOAD_VARIANTS);
      for (const [b, batch] of batches.entries()) {
        if (b === crashBatch && variant === 'mid-stream') {
          // Part of the body is sent; the server is spooling a file when it dies. Unanswered, so
          // the user sends the batch again after the restart (repeats are not added twice).
          await uploadCutOff(api(), model.id, batch, join(dataDir, 'tmp'), random);
          await crash({ kind: 'chosen', phase: 'upload', variant, model: m });
        }
        let results: Array<{ status: string }> | undefined;
        if (b === crashBatch && variant === 'random') {
          const answered = upload(api(), model.id, batch).catch(() => undefined); // unanswered when the kill comes first
          await randomCrash('upload', m, randomDelay('upload'), 'the batch was sent');
          results = await answered;
        }
        // Not answered before the kill: sent again (repeats are not added twice).
        results ??= await upload(api(), model.id, batch);
        for (const [i, r] of results.entries()) {
          expect(['added', 'duplicate'], JSON.stringify(r)).toContain(r.status);
          acknowledged.get(model.id)!.add(sha256(batch[i]!.data));
        }
        if (b === crashBatch && variant === 'after-ack') await crash({ kind: 'chosen', phase: 'upload', variant, model: m });
      }
    }

    // ─── phases 2–4 per model: submission, tracking, generation ────────────────────────────
    const trainingIds: string[] = [];
    const generationIds: string[] = [];
    /** Predictions each generation may have cost: [at least, at most]. */
    const expectedPredictions: Array<[number, number]> = [];

    for (const [m, modelId] of modelIds.entries()) {
      const isRandom = (phase: Phase) => randomPhases[m] === phase;
      // Submission: the Files API upload or the create call is in flight, or answered but unheard.
      const submission = isRandom('submission') ? 'random' : pick(SUBMISSION_VARIANTS);
      const tracking = isRandom('tracking') ? 'random' : pick(TRACKING_VARIANTS);
      // Held from the start: on a slow machine the restart after the submission kill can outlast
      // the whole (short) training, and the weights would be copied before a later hook existed.
      const weights = tracking === 'copying-weights' ? new Moment(() => emu.pause('download', 'before', (r) => r.path.endsWith('/trained_model.tar'))) : undefined;
      if (weights) armed.add(weights);
      const submitted =
        submission === 'zip-upload-answered' ? new Moment(() => emu.pause('uploadFile', 'after'))
        : submission === 'create-in-flight' ? new Moment(() => emu.pause('createTraining', 'before'))
        : submission === 'create-answered' ? new Moment(() => emu.pause('createTraining', 'after'))
        : undefined;
      if (submitted) armed.add(submitted);
      const { training } = await call<{ training: { id: string } }>(api(), 'POST', `/api/models/${modelId}/trainings`, { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 }, 201);
      trainingIds.push(training.id);
      if (submission === 'random') await randomCrash('submission', m, randomDelay('submission'), 'the training was started');
      else if (submitted) {
        await within(submitted.pause.reached, 60_000, `the ${submission} moment`);
        await crash({ kind: 'chosen', phase: 'submission', variant: submission, model: m }, { moment: submitted, bootCrash: bootCrashAfter(m, 'submission') });
        armed.delete(submitted);
      } else {
        // While the training zip is being written (its temp file exists), or just after.
        const folder = join(dataDir, 'blobs', 'trainings', training.id);
        await until(() => (existsSync(folder) ? readdirSync(folder) : []), (names) => names.length > 0, 'the training zip being written', 60_000);
        await crash({ kind: 'chosen', phase: 'submission', variant: submission, model: m }, { bootCrash: bootCrashAfter(m, 'submission') });
      }

      // Tracking: mid-training (progress seen), or after success while the weights are copied.
      if (tracking === 'random') await randomCrash('tracking', m, randomDelay('tracking'), 'tracking started (the restart after the submission kill)');
      else if (!weights) {
        await until(() => getTraining(api(), training.id), (t) => TERMINAL.has(t.status) || (t.status === 'processing' && (t.progress.step ?? 0) > 0), 'training progress', 90_000);
        await crash({ kind: 'chosen', phase: 'tracking', variant: tracking, model: m }, { bootCrash: bootCrashAfter(m, 'tracking') });
      } else {
        await within(weights.pause.reached, 90_000, 'the weights download');
        await crash({ kind: 'chosen', phase: 'tracking', variant: tracking, model: m }, { moment: weights, bootCrash: bootCrashAfter(m, 'tracking') });
        armed.delete(weights);
      }
      const trained = await until(() => getTraining(api(), training.id), (t) => TERMINAL.has(t.status) && (t.status !== 'succeeded' || t.weightsAvailable), 'training end with weights', 120_000);
      expect(trained.status, JSON.stringify(trained.failure)).toBe('succeeded');

      // Generation: the prediction is created (answer unheard, or in flight), or outputs are copied.
      const generation = isRandom('generation') ? 'random' : pick(GENERATION_VARIANTS);
      const prompt = `a photo on a beach at sunset, take ${m}`;
      const ofThisGeneration = (r: { body: unknown }) => String((r.body as { input?: { prompt?: string } } | null)?.input?.prompt ?? '').endsWith(prompt);
      const generated =
        generation === 'create-in-flight' ? new Moment(() => emu.pause('createPrediction', 'before', ofThisGeneration))
        : generation === 'create-answered' ? new Moment(() => emu.pause('createPrediction', 'after', ofThisGeneration))
        : generation === 'copying-outputs' ? new Moment(() => emu.pause('download', 'before', (r) => r.path.includes('/delivery/outputs/')))
        : undefined;
      if (generated) armed.add(generated);
      const created = await call<{ generation: { id: string } }>(api(), 'POST', `/api/models/${modelId}/generations`, { prompt, numOutputs: OUTPUTS_PER_GENERATION }, 201);
      generationIds.push(created.generation.id);
      if (generated) {
        await within(generated.pause.reached, 60_000, `the generation's ${generation} moment`);
        await crash({ kind: 'chosen', phase: 'generation', variant: generation, model: m }, { moment: generated, bootCrash: bootCrashAfter(m, 'generation') });
        armed.delete(generated);
      } else await randomCrash('generation', m, randomDelay('generation'), 'the generation was started');
      // A generation whose create call was interrupted is sent again (by design); the others once.
      // A kill at a random delay or during a boot may interrupt one (more) create call.
      const base = generation === 'create-in-flight' || generation === 'create-answered' ? 2 : 1;
      expectedPredictions.push([base, base + extraKillsIn(m, 'generation')]);
      // A second generation after the restart runs undisturbed.
      const second = await call<{ generation: { id: string } }>(api(), 'POST', `/api/models/${modelId}/generations`, { prompt: `a studio portrait, take ${m}`, numOutputs: 1 }, 201);
      generationIds.push(second.generation.id);
      expectedPredictions.push([1, 1]);
      // Both end before the next model's kills, so every kill point hits what it names.
      for (const id of [created.generation.id, second.generation.id]) {
        await until(() => call<{ generation: { status: string } }>(api(), 'GET', `/api/generations/${id}`), (g) => TERMINAL.has(g.generation.status), 'the generation to end', 90_000);
      }
    }

    // ─── the end: everything terminal after a bounded wait, on a process that restarted cleanly ──
    const finalRows = async () => {
      const trainings = await Promise.all(trainingIds.map((id) => getTraining(api(), id)));
      const generations = await Promise.all(generationIds.map((id) => call<{ generation: { status: string; images: unknown[]; error: string | null; params: { seed: number } } }>(api(), 'GET', `/api/generations/${id}`)));
      return { trainings, generations: generations.map((g) => g.generation) };
    };
    const settled = await until(finalRows, ({ trainings, generations }) => trainings.every((t) => TERMINAL.has(t.status) && (t.status !== 'succeeded' || t.weightsAvailable)) && generations.every((g) => TERMINAL.has(g.status)), 'every training and generation terminal', 120_000);
    expect(settled.trainings.map((t) => t.status)).toEqual(trainingIds.map(() => 'succeeded'));
    expect(settled.generations.map((g) => g.status), JSON.stringify(settled.generations.map((g) => g.error))).toEqual(generationIds.map(() => 'succeeded'));

    // Acknowledged uploads are readable through the API after all the crashes.
    for (const modelId of modelIds) {
      const report = await call<{ images: Array<{ id: string; fileUrl: string; thumbnailUrl: string }> }>(api(), 'GET', `/api/models/${modelId}/dataset`);
      expect(report.images).toHaveLength(IMAGES_PER_MODEL);
      for (const image of report.images) {
        for (const url of [image.fileUrl, image.thumbnailUrl]) {
          const res = await fetch(`${api().base}${url}`, { headers: { authorization: `Bearer ${token}` } });
          expect(res.status, url).toBe(200);
          expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100);
        }
      }
    }

    // The spool directory is empty once the restarted process is up.
    await restartCleanly();
    const spool = join(dataDir, 'tmp');
    const spoolLeftovers = existsSync(spool) ? readdirSync(spool) : [];
    await server!.stop();
    server = undefined;

    // ─── invariants on the data the process left behind ─────────────────────────────────────
    const db = new DatabaseSync(join(dataDir, 'theway.db'), { readOnly: true });
    try {
      const images = db.prepare('select model_id, sha256, image_key, thumb_key from dataset_images').all() as Array<{ model_id: string; sha256: string; image_key: string; thumb_key: string }>;
      const trainings = db.prepare('select id, status, dataset_url, dataset_key, weights_key from trainings').all() as Array<{ id: string; status: string; dataset_url: string | null; dataset_key: string | null; weights_key: string | null }>;
      const generations = db.prepare('select id, status from generations').all() as Array<{ id: string; status: string }>;
      const outputs = db.prepare('select generation_id, blob_key from generation_images').all() as Array<{ generation_id: string; blob_key: string }>;
      const jobs = db.prepare("select name, state, last_error from jobs where state in ('queued', 'running')").all() as Array<{ name: string; state: string }>;

      // 1. Every acknowledged upload has its row, with the uploaded bytes' sha256, and both blobs.
      for (const [modelId, shas] of acknowledged) {
        const stored = new Set(images.filter((i) => i.model_id === modelId).map((i) => i.sha256));
        for (const sha of shas) expect(stored.has(sha), `acknowledged upload ${sha} of model ${modelId}`).toBe(true);
      }

      // 2. Paid once: at most one create per platform training (matched by its own dataset URL),
      //    and never more creates than trainings.
      const creates = emu.trainingCreatesByDataset();
      for (const t of trainings) expect(t.dataset_url && creates.get(t.dataset_url), `creates for training ${t.id}`).toBe(1);
      expect(emu.trainingIds().length).toBeLessThanOrEqual(trainings.length);
      expect(emu.requests.filter((r) => r.route === 'createTraining').length).toBe(trainings.length);

      // 3. Every training and generation row is terminal, and no job is left pending.
      expect(trainings.filter((t) => !TERMINAL.has(t.status))).toEqual([]);
      expect(generations.filter((g) => !TERMINAL.has(g.status))).toEqual([]);
      expect(outputs.length).toBeGreaterThanOrEqual(MODELS * (OUTPUTS_PER_GENERATION + 1));
      expect(jobs).toEqual([]);

      // 4. No orphan file: every blob belongs to a row, every row's blob exists, no temp leftovers.
      const blobRoot = join(dataDir, 'blobs');
      const files = walk(blobRoot).map((path) => relative(blobRoot, path).split(sep).join('/'));
      const owned = new Set<string>([
        ...images.flatMap((i) => [i.image_key, i.thumb_key]),
        ...outputs.map((o) => o.blob_key),
        ...trainings.flatMap((t) => [t.weights_key, t.dataset_key, t.dataset_key && `${t.dataset_key}.manifest.json`].filter((k): k is string => !!k)),
      ]);
      const blobs = files.filter((f) => !f.startsWith('.meta/'));
      const sidecars = files.filter((f) => f.startsWith('.meta/')).map((f) => f.slice('.meta/'.length).replace(/\.json$/, ''));
      expect(blobs.filter((key) => !owned.has(key)), 'blobs without a row').toEqual([]);
      expect([...owned].filter((key) => !blobs.includes(key)), 'rows without a blob').toEqual([]);
      expect(sidecars.filter((key) => !blobs.includes(key)), 'content-type sidecars without a blob').toEqual([]);
      for (const i of images) expect(statSync(join(blobRoot, i.image_key)).size).toBeGreaterThan(100);
    } finally {
      db.close();
    }

    // Generations may be sent again after a crash (by design); count how often each was.
    const seeds = settled.generations.map((g) => g.params.seed);
    const predictionsPerGeneration = seeds.map((seed) => emu.predictionIds().filter((p) => emu.prediction(p)!.input.seed === seed).length);
    const outsideExpected = predictionsPerGeneration.map((n, i) => ({ generation: i, predictions: n, expected: expectedPredictions[i]! })).filter(({ predictions: n, expected: [min, max] }) => n < min || n > max);
    expect(outsideExpected, 'predictions created per generation').toEqual([]);
    if (process.env.CRASH_DEBUG_LOG) {
      appendFileSync(process.env.CRASH_DEBUG_LOG, `\n=== generations ${JSON.stringify(generationIds.map((id, i) => [id, seeds[i]]))}\n=== predictions ${JSON.stringify(emu.predictionIds().map((p) => { const x = emu.prediction(p)!; return [p, x.input.seed, x.input.prompt, x.createdAtMs, x.status]; }))}\n=== requests ${JSON.stringify(emu.requests.filter((r) => r.route === 'createPrediction').map((r) => [r.at, r.status, (r.body as { input?: { seed?: number } })?.input?.seed]))}\n`);
    }
    const byPhase: Record<string, string[]> = {};
    for (const k of kills) (byPhase[k.phase] ??= []).push(k.kind === 'chosen' ? k.variant : `${k.kind} ${k.variant}`);
    const ofKind = (kind: KillPoint['kind']) => kills.filter((k) => k.kind === kind).length;
    console.log(
      `crash-safety: seed ${SEED}, ${kills.length} kill points (${ofKind('chosen')} at chosen moments, ${ofKind('random')} at random delays, ${ofKind('boot')} during boot), ${restarts} restarts, ${Math.round((Date.now() - started) / 1000)} s; ` +
        `by phase: ${JSON.stringify(byPhase)}; emulator: ${emu.trainingIds().length} trainings, ${emu.predictionIds().length} predictions for ${generationIds.length} generations (per generation: ${predictionsPerGeneration.join(',')})`,
    );
    expect(spoolLeftovers, 'upload spool files left after the restart').toEqual([]);
    expect(kills.length).toBeGreaterThanOrEqual(20);
    expect(ofKind('random')).toBeGreaterThanOrEqual(5);
    expect(ofKind('boot')).toBeGreaterThanOrEqual(1);
    expect(new Set(kills.map((k) => k.phase))).toEqual(new Set(PHASES));
    // Every chosen moment is still hit in every run.
    const chosen = (phase: Phase) => new Set(kills.filter((k) => k.kind === 'chosen' && k.phase === phase).map((k) => k.variant));
    for (const [phase, variants] of [['upload', UPLOAD_VARIANTS], ['submission', SUBMISSION_VARIANTS], ['tracking', TRACKING_VARIANTS], ['generation', GENERATION_VARIANTS]] as const) expect(chosen(phase), phase).toEqual(new Set(variants));

    async function restartCleanly() {
      await server!.stop();
      server = await boot();
      restarts++;
    }
  }, 300_000);
});

// ─── helpers ────────────────────────────────────────────────────────────────────────────────

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

async function call<T>(api: Api, method: string, path: string, body?: unknown, expectStatus?: number): Promise<T> {
  const res = await fetch(`${api.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${api.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const ok = expectStatus === undefined ? res.ok : res.status === expectStatus;
  if (!ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : {}) as T;
}

interface TrainingState {
  status: string;
  weightsAvailable: boolean;
  failure: unknown;
  progress: { step: number | null };
}

async function getTraining(api: Api, id: string): Promise<TrainingState> {
  return (await call<{ training: TrainingState }>(api, 'GET', `/api/trainings/${id}`)).training;
}

async function upload(api: Api, modelId: string, files: Array<{ name: string; data: Buffer; type: string }>): Promise<Array<{ status: string }>> {
  const { payload, headers } = multipartBody(files);
  const res = await fetch(`${api.base}/api/models/${modelId}/images`, { method: 'POST', headers: { authorization: `Bearer ${api.token}`, ...headers }, body: payload });
  const text = await res.text();
  if (!res.ok) throw new Error(`upload answered ${res.status}: ${text.slice(0, 500)}`);
  return (JSON.parse(text) as { results: Array<{ status: string }> }).results;
}

/** Sends part of a multipart upload and returns once the server is spooling a file of it. */
async function uploadCutOff(api: Api, modelId: string, files: Array<{ name: string; data: Buffer; type: string }>, spoolDir: string, random: () => number): Promise<void> {
  const { payload, headers } = multipartBody(files);
  const req = http.request(`${api.base}/api/models/${modelId}/images`, {
    method: 'POST',
    headers: { authorization: `Bearer ${api.token}`, ...headers, 'content-length': String(payload.length) },
  });
  const before = new Set(existsSync(spoolDir) ? readdirSync(spoolDir) : []);
  req.on('error', () => {}); // the server dies mid-request: expected
  req.on('response', (res) => res.resume());
  req.write(payload.subarray(0, Math.floor(payload.length * (0.3 + random() * 0.6))));
  await until(() => (existsSync(spoolDir) ? readdirSync(spoolDir).filter((name) => !before.has(name)).length : 0), (n) => n > 0, 'a spool file of the cut-off upload', 30_000);
  await sleep(random() * 150); // sometimes mid-spool, sometimes while an earlier file is stored
}
