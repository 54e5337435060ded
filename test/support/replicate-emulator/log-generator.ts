import { seededRandom } from './rng.ts';

/**
 * Generates trainer logs in the format Replicate returns (Cog turns each tqdm redraw into its own
 * line and strips leading whitespace). Each line carries the simulated second at which it appears,
 * so the emulator can grow the log over time. Flux follows replicate/flux-fine-tuner + ai-toolkit;
 * SDXL follows replicate/cog-sdxl as far as its sources were checked.
 */

export interface TimedLogLine {
  /** Simulated seconds since the training started processing. */
  at: number;
  line: string;
}

export interface TrainerLogScript {
  trainer: 'flux' | 'sdxl';
  steps: number;
  imageCount?: number;
  /** Images that came with a `.txt` caption. */
  captionFiles?: number;
  autocaption?: boolean;
  /** When false, the base weights are downloaded first (`[ Initiating ]` … `Downloaded base weights`). */
  weightsCached?: boolean;
  learningRate?: number;
  loraRank?: number;
  /** Mean training speed; the bar flips between it/s and s/it around 1. */
  itPerSecond?: number;
  triggerWord?: string;
  seed?: number;
  /** Stop the log at this training step (for failures and stalls). */
  stopAtStep?: number;
}

export interface GeneratedLog {
  lines: TimedLogLine[];
  /** Simulated second at which the trainer is done (end of upload). */
  endsAt: number;
  /** Simulated second of the first training bar line. */
  trainingStartsAt: number;
}

export function formatInterval(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = s % 60;
  const mm = String(minutes).padStart(2, '0');
  const ss = String(seconds).padStart(2, '0');
  return hours > 0 ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}

function bar(percent: number): string {
  const filled = Math.min(10, Math.floor(percent / 10));
  return '█'.repeat(filled) + ' '.repeat(10 - filled);
}

function formatRate(itPerSecond: number | null): string {
  if (itPerSecond === null) return '?it/s';
  // tqdm pads the rate to five characters: `,  1.19it/s`
  return itPerSecond >= 1 ? `${itPerSecond.toFixed(2).padStart(5)}it/s` : `${(1 / itPerSecond).toFixed(2).padStart(5)}s/it`;
}

function sci(value: number, digits: number): string {
  // Python's `{:.3e}` prints two exponent digits: 3.652e-01
  const [mantissa, exponent] = value.toExponential(digits).split('e');
  const exp = Number(exponent);
  return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

export function imageNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `image_${String(i + 1).padStart(2, '0')}.jpg`);
}

export function generateTrainerLog(script: TrainerLogScript): GeneratedLog {
  return script.trainer === 'flux' ? generateFluxLog(script) : generateSdxlLog(script);
}

function generateFluxLog(script: TrainerLogScript): GeneratedLog {
  const random = seededRandom(script.seed ?? 1);
  const lines: TimedLogLine[] = [];
  let t = 0;
  const emit = (line: string, dt = 0) => {
    t += dt;
    lines.push({ at: t, line });
  };
  const images = imageNames(script.imageCount ?? 15);
  const captioned = Math.min(script.captionFiles ?? 0, images.length);
  const trigger = script.triggerWord ?? 'TOK';
  const lr = script.learningRate ?? 4e-4;
  const rank = script.loraRank ?? 16;

  emit('Using seed: ' + Math.floor(random() * 65535), 1);
  if (!script.weightsCached) {
    const url = 'https://weights.replicate.delivery/default/black-forest-labs/FLUX.1-dev/files.tar';
    emit(`[ Initiating ] chunk_size=150M dest=FLUX.1-dev url=${url}`, 1);
    emit(`[ Complete ] dest=FLUX.1-dev size="33 GB" total_elapsed=19.412s url=${url}`, 19.4);
    emit('Downloaded base weights in 19.58 seconds', 0.2);
  }
  emit(`Extracted ${images.length + captioned} files from zip to input_images`, 1);
  if (script.autocaption ?? true) {
    emit('Loading LLaVA model for captioning', 0.5);
    emit('Loading checkpoint shards: 100%|██████████| 3/3 [00:04<00:00,  1.41s/it]', 6);
    images.forEach((name, i) => {
      if (i < captioned) emit(`${name} is already captioned`, 0.1);
      else emit(`Caption for input_images/${name}: A photo of ${trigger}, a person standing in soft daylight, looking at the camera`, 2.4);
    });
  }
  emit('Starting train job', 1);
  emit('{');
  emit('"job": "extension",');
  emit(`"config": {"name": "flux_train_replicate", "process": [{"type": "sd_trainer", "network": {"type": "lora", "linear": ${rank}, "linear_alpha": ${rank}}, "train": {"steps": ${script.steps}, "lr": ${lr}, "batch_size": 1, "optimizer": "adamw8bit"}}]}`);
  emit('}');
  emit('# Running job: flux_train_replicate', 0.5);
  emit('Loading Flux model', 1);
  emit('Loading transformer', 2);
  emit('Quantizing transformer', 25);
  emit('Loading vae', 2);
  emit('Loading t5', 1);
  emit('Downloading shards: 100%|██████████| 2/2 [00:00<00:00, 10810.06it/s]', 0.2);
  emit('Loading checkpoint shards: 100%|██████████| 2/2 [00:03<00:00,  1.70s/it]', 3.5);
  emit('Quantizing T5', 12);
  emit('Loading clip', 1);
  emit('making pipe', 0.5);
  emit('preparing', 0.5);
  emit(`create LoRA network. base dim (rank): ${rank}, alpha: ${rank}`, 0.5);
  emit('neuron dropout: p=None, rank dropout: p=None, module dropout: p=None');
  emit('create LoRA for Text Encoder: 0 modules.');
  emit('create LoRA for U-Net: 494 modules.');
  emit('enable LoRA for U-Net');
  emit('Dataset: input_images', 0.5);
  emit('-  Preprocessing image dimensions');
  emit(`100%|██████████| ${images.length}/${images.length} [00:00<00:00, 4120.34it/s]`, 0.2);
  emit(`-  Found ${images.length} images`);
  emit('Bucket sizes for input_images:');
  emit(`1024x1024: ${images.length} files`);
  emit('1 buckets made');
  emit('Caching latents for input_images', 0.5);
  emit('-  Caching latents to disk');
  emit(`Caching latents to disk: 100%|██████████| ${images.length}/${images.length} [00:05<00:00,  2.87it/s]`, 5.2);

  const trainingStartsAt = t + 1;
  const total = script.steps;
  const baseRate = script.itPerSecond ?? 1.1;
  const lastStep = Math.min(total - 1, script.stopAtStep ?? total - 1);
  const start = trainingStartsAt;
  let elapsed = 0;
  let loss = 0.45 + random() * 0.05;
  emit(`flux_train_replicate:   0%|          | 0/${total} [00:00<?, ?it/s]`, 1);
  // Each step prints twice: set_postfix (new loss, old count) then update(1) (new count).
  for (let step = 0; step <= lastStep; step++) {
    const rate = Math.max(0.2, baseRate * (0.85 + random() * 0.3));
    loss = Math.max(0.05, loss * 0.9992 + (random() - 0.5) * 0.08);
    const post = `lr: ${sci(lr, 1)} loss: ${sci(loss, 3)}`;
    const showRate = step < 2 ? null : rate;
    const pct = Math.round((step / total) * 100); // tqdm formats with {:3.0f}: 999/1000 shows 100%
    const remaining = showRate === null ? '?' : formatInterval((total - step) / rate);
    lines.push({ at: start + elapsed, line: `flux_train_replicate: ${String(pct).padStart(3)}%|${bar(pct)}| ${step}/${total} [${formatInterval(elapsed)}<${remaining}, ${formatRate(showRate)}, ${post}]` });
    if (step === lastStep) break;
    elapsed += 1 / rate;
    const next = step + 1;
    const pctNext = Math.round((next / total) * 100);
    const nextRemaining = step + 1 < 2 ? '?' : formatInterval((total - next) / rate);
    lines.push({ at: start + elapsed, line: `flux_train_replicate: ${String(pctNext).padStart(3)}%|${bar(pctNext)}| ${next}/${total} [${formatInterval(elapsed)}<${nextRemaining}, ${formatRate(next < 2 ? null : rate)}, ${post}]` });
  }
  t = start + elapsed;
  if (script.stopAtStep !== undefined && script.stopAtStep < total - 1) return { lines, endsAt: t, trainingStartsAt };

  emit(`Saving at step ${total}`, 2);
  emit('Saved to output/flux_train_replicate/optimizer.pt', 6);
  emit('output/flux_train_replicate/', 2);
  emit('output/flux_train_replicate/lora.safetensors');
  emit('output/flux_train_replicate/config.yaml');
  emit('output/flux_train_replicate/captions/');
  return { lines, endsAt: t + 20, trainingStartsAt };
}

function generateSdxlLog(script: TrainerLogScript): GeneratedLog {
  const random = seededRandom(script.seed ?? 1);
  const lines: TimedLogLine[] = [];
  let t = 0;
  const emit = (line: string, dt = 0) => {
    t += dt;
    lines.push({ at: t, line });
  };
  const images = imageNames(script.imageCount ?? 15);
  const total = script.steps;
  const batch = 4;
  const perEpoch = Math.ceil(images.length / batch);

  emit('downloading url:  https://weights.replicate.delivery/default/sdxl/sdxl-vae-upcast-fix.tar', 1);
  emit('downloading to:  /src/sdxl-cache', 0.1);
  emit(`Extracting input_images.zip: ${images.length} files`, 8);
  emit(`Generating captions for ${images.length} images`, 1);
  emit('Using BLIP for captioning', 3);
  emit('Loading SDXL pipeline', 10);
  emit('# PTI : Loaded dataset', 6);
  emit('# PTI : Running training ', 0.5);
  emit(`# PTI :  Num examples = ${images.length}`);
  emit(`# PTI :  Num batches each epoch = ${perEpoch}`);
  emit(`# PTI :  Instantaneous batch size per device = ${batch}`);
  emit(`# PTI :  Total optimization steps = ${total}`);
  const trainingStartsAt = t + 1;
  const baseRate = script.itPerSecond ?? 1.4;
  const lastStep = Math.min(total - 1, script.stopAtStep ?? total - 1);
  let elapsed = 0;
  for (let step = 0; step <= lastStep; step++) {
    const rate = Math.max(0.2, baseRate * (0.85 + random() * 0.3));
    const epoch = Math.floor(step / perEpoch);
    const pct = Math.round((step / total) * 100); // tqdm formats with {:3.0f}: 999/1000 shows 100%
    const remaining = step < 2 ? '?' : formatInterval((total - step) / rate);
    lines.push({
      at: trainingStartsAt + elapsed,
      line: `# PTI :step: ${step}, epoch: ${epoch}: ${String(pct).padStart(3)}%|${bar(pct)}| ${step}/${total} [${formatInterval(elapsed)}<${remaining}, ${formatRate(step < 2 ? null : rate)}]`,
    });
    elapsed += 1 / rate;
  }
  t = trainingStartsAt + elapsed;
  if (script.stopAtStep !== undefined && script.stopAtStep < total - 1) return { lines, endsAt: t, trainingStartsAt };
  emit('Training finished', 1);
  emit('Saving weights to training_out', 2);
  emit('Creating trained_model.tar', 3);
  return { lines, endsAt: t + 10, trainingStartsAt };
}

export function renderLogLines(lines: readonly TimedLogLine[]): string {
  return lines.map((l) => l.line + '\n').join('');
}
