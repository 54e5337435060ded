import { until } from './until.ts';
import sharp from 'sharp';
import type { Kysely } from 'kysely';
import type { Database, TrainingsTable } from '../../src/db/schema.ts';
import type { DownloadedOutput, GenerationProvider, InputSchema, RemotePrediction } from '../../src/providers/generation-provider.ts';
import { FLUX_VERSION_INPUT } from './replicate-emulator/index.ts';
import { insertModel, insertTraining } from './factories.ts';
import { addDatasetImages } from './dataset-factories.ts';
import type { TestApp } from './test-app.ts';

/** A model's usable trained version as the trainings service leaves it: succeeded, weights copied. */
export async function insertReadyTraining(db: Kysely<Database>, ownerId: string, modelId: string, overrides: Partial<TrainingsTable> = {}) {
  const id = crypto.randomUUID();
  return insertTraining(db, ownerId, modelId, { id, weights_key: `trainings/${id}/lora.safetensors`, output_version: `theway/loras:${'b'.repeat(64)}`, ...overrides });
}

/** A private model with a ready trained version (rows only: for runs against a stub provider). */
export async function insertReadyModel(db: Kysely<Database>, ownerId: string, overrides: { baseModel?: 'flux-dev' | 'sdxl'; triggerWord?: string } = {}) {
  const model = await insertModel(db, ownerId, { status: 'ready' });
  const training = await insertReadyTraining(db, ownerId, model.id, { base_model: overrides.baseModel ?? 'flux-dev', trigger_word: overrides.triggerWord ?? 'REXDOG' });
  return { model, training };
}

/** The shared polling helper, under the name the generation tests use. */
export const waitFor = until;

/** Trains a model for real through the API against the Replicate emulator and waits until it is ready. */
export async function trainOnEmulator(t: TestApp, owner: { id: string; token: string }, options: { name: string; baseModel: 'flux-dev' | 'sdxl'; firstSeed: number }) {
  const model = await insertModel(t.ctx.db.kysely, owner.id, { name: options.name });
  await addDatasetImages(t.ctx, owner, model.id, 10, options.firstSeed);
  const res = await t.request({ method: 'POST', url: `/api/models/${model.id}/trainings`, as: owner, payload: { baseModel: options.baseModel, preset: 'beginner', resolution: 512 } });
  if (res.statusCode !== 201) throw new Error(`Training was refused: ${res.body}`);
  const trainingId = res.json().training.id as string;
  const training = await waitFor(async () => (await t.request({ method: 'GET', url: `/api/trainings/${trainingId}`, as: owner })).json().training, (tr) => tr.weightsAvailable || tr.status === 'failed', 'a ready model', 30_000);
  if (!training.weightsAvailable) throw new Error(`Training did not finish: ${JSON.stringify(training.failure)}`);
  return { modelId: model.id, training };
}

export const renderPng = (seed: number) =>
  sharp({ create: { width: 64, height: 48, channels: 3, background: { r: seed % 256, g: 90, b: 160 } } }).png().toBuffer();

type Script = { status: RemotePrediction['status']; outputs?: string[]; error?: string };

/**
 * A scripted stand-in for our own GenerationProvider port, for the service's edge cases the
 * emulator cannot produce (safety-filtered outputs, expired files, a process dying mid-run).
 * Outputs are `stub://<name>` URLs resolved from `files`.
 */
export class StubGenerationProvider implements GenerationProvider {
  schema: InputSchema = { properties: FLUX_VERSION_INPUT.properties as InputSchema['properties'], required: [...FLUX_VERSION_INPUT.required] };
  /** What each poll answers, in order; the last one repeats. */
  script: Script[] = [{ status: 'succeeded', outputs: ['stub://a'] }];
  files = new Map<string, DownloadedOutput | { expired: true }>();
  created: Array<{ versionRef: string; input: Record<string, unknown> }> = [];
  canceled: string[] = [];
  schemaFetches = 0;
  /** Prediction ids are `<prefix><n>`, unique across stubs sharing one job table. */
  readonly idPrefix = `p${crypto.randomUUID().slice(0, 8)}-`;
  /** Throws from createPrediction after "creating" (the answer is lost) this many times. */
  loseCreateAnswers = 0;
  #polls = 0;

  async inputSchema(): Promise<InputSchema> {
    this.schemaFetches++;
    return this.schema;
  }

  async createPrediction(versionRef: string, input: Record<string, unknown>): Promise<RemotePrediction> {
    this.created.push({ versionRef, input });
    if (this.loseCreateAnswers > 0) {
      this.loseCreateAnswers--;
      throw Object.assign(new Error('socket hang up'), { retryable: true, outcomeUnknown: true });
    }
    return this.#answer(`${this.idPrefix}${this.created.length}`);
  }

  async getPrediction(id: string): Promise<RemotePrediction> {
    return this.#answer(id);
  }

  async cancelPrediction(id: string): Promise<RemotePrediction> {
    this.canceled.push(id);
    return { id, status: 'canceled', output: null, error: null };
  }

  async download(url: string): Promise<DownloadedOutput> {
    const file = this.files.get(url);
    if (!file || 'expired' in file) throw Object.assign(new Error('Downloading a generated image failed with HTTP 404.'), { retryable: false, outcomeUnknown: false, status: 404 });
    return file;
  }

  #answer(id: string): RemotePrediction {
    const step = this.script[Math.min(this.#polls++, this.script.length - 1)]!;
    return { id, status: step.status, output: step.status === 'succeeded' ? (step.outputs ?? []) : null, error: step.error ?? null };
  }
}
