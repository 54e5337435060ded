import { describe, expect, it } from 'vitest';
import {
  TRAINING_STAGES,
  parseDuration,
  parseTrainingBar,
  parseTrainingLog,
  type LossSample,
  type TrainingLogState,
  type TrainingStage,
} from '../../../src/providers/replicate/training-log-parser.ts';
import { generateTrainerLog, renderLogLines } from '../../support/replicate-emulator/log-generator.ts';
import { seededRandom } from '../../support/replicate-emulator/rng.ts';

const fluxLog = (steps = 1000, extra: Partial<Parameters<typeof generateTrainerLog>[0]> = {}) =>
  renderLogLines(generateTrainerLog({ trainer: 'flux', steps, imageCount: 15, captionFiles: 3, ...extra }).lines);

/** Polls a growing log the way the platform does, persisting the state as JSON between polls. */
function feedInChunks(log: string, cuts: number[], maxLossSamples?: number) {
  let stored: string | null = null;
  const samples: LossSample[] = [];
  const stages: TrainingStage[] = [];
  for (const cut of [...cuts, log.length]) {
    const previous = stored === null ? null : (JSON.parse(stored) as TrainingLogState);
    const result = parseTrainingLog(log.slice(0, cut), previous, { final: cut === log.length, ...(maxLossSamples && { maxLossSamples }) });
    expect(result.reset).toBe(false);
    samples.push(...result.newLossSamples);
    stages.push(result.state.stage);
    stored = JSON.stringify(result.state);
  }
  return { state: JSON.parse(stored!) as TrainingLogState, samples, stages };
}

function randomCuts(length: number, count: number, seed: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => Math.floor(random() * length)).sort((a, b) => a - b);
}

describe('training progress bar lines', () => {
  it('reads a flux bar with rate, times, learning rate and loss', () => {
    expect(parseTrainingBar('flux_train_replicate:  10%|█         | 100/1000 [01:23<12:34,  1.19it/s, lr: 4.0e-04 loss: 3.652e-01]')).toEqual({
      step: 100, total: 1000, percent: 10, rate: { value: 1.19, unit: 'it/s' }, itPerSecond: 1.19,
      elapsedSeconds: 83, remainingSeconds: 754, loss: 0.3652, learningRate: 0.0004,
    });
  });

  it('handles s/it, H:MM:SS, the unknown rate of the first steps and the 999/1000 last line', () => {
    const slow = parseTrainingBar('flux_train_replicate:  50%|█████     | 2000/4000 [1:02:03<1:00:00,  1.80s/it, lr: 1.0e-04 loss: 2.5e-01]');
    expect(slow).toMatchObject({ rate: { value: 1.8, unit: 's/it' }, elapsedSeconds: 3723, remainingSeconds: 3600, loss: 0.25, learningRate: 0.0001 });
    expect(slow!.itPerSecond).toBeCloseTo(1 / 1.8);
    expect(parseTrainingBar('flux_train_replicate:   0%|          | 0/1000 [00:00<?, ?it/s]')).toMatchObject({
      step: 0, rate: null, itPerSecond: null, elapsedSeconds: 0, remainingSeconds: null, loss: null,
    });
    expect(parseTrainingBar('flux_train_replicate: 100%|██████████| 999/1000 [15:18<00:01,  1.01s/it, lr: 4.0e-04 loss: 7.341e-02]')).toMatchObject({ step: 999, total: 1000, percent: 100 });
  });

  it('reads the SDXL PTI bar, which has no loss', () => {
    expect(parseTrainingBar('# PTI :step: 100, epoch: 25:  10%|█         | 100/1000 [01:10<10:30,  1.43it/s]')).toMatchObject({
      step: 100, total: 1000, percent: 10, itPerSecond: 1.43, loss: null,
    });
  });

  it('ignores the other tqdm bars (caching, shards, preprocessing) and plain lines', () => {
    for (const line of [
      'Caching latents to disk: 100%|██████████| 15/15 [00:05<00:00,  2.87it/s]',
      'Loading checkpoint shards: 100%|██████████| 3/3 [00:04<00:00,  1.41s/it]',
      '100%|██████████| 15/15 [00:00<00:00, 4120.34it/s]',
      'Saved to output/flux_train_replicate/optimizer.pt',
      'flux_train_replicate: garbage',
    ]) expect(parseTrainingBar(line)).toBeNull();
  });

  it('treats a nan loss as no loss', () => {
    expect(parseTrainingBar('flux_train_replicate:  10%|█         | 100/1000 [01:23<12:34,  1.19it/s, lr: 4.0e-04 loss: nan]')!.loss).toBeNull();
  });

  it('parses tqdm intervals', () => {
    expect(parseDuration('00:00')).toBe(0);
    expect(parseDuration('12:34')).toBe(754);
    expect(parseDuration('1:02:03')).toBe(3723);
    expect(parseDuration('2d 1:00:00')).toBe(2 * 86400 + 3600);
    expect(parseDuration('?')).toBeNull();
  });
});

describe('incremental training log parser', () => {
  it('follows a whole flux run: stages in order, counts, last progress and a downsampled loss curve', () => {
    const log = fluxLog(1000, { weightsCached: false });
    const stages: TrainingStage[] = [];
    const { state, samples } = feedInChunks(log, randomCuts(log.length, 400, 7));
    // Every stage is seen, in order.
    const polled = feedInChunks(log, [...log.matchAll(/\n/g)].map((m) => m.index + 1)).stages; // one poll per line
    for (const stage of polled) if (stages.at(-1) !== stage) stages.push(stage);
    expect(stages).toEqual(TRAINING_STAGES);
    expect(state.stage).toBe('uploading');
    expect(state.counts).toEqual({ extractedFiles: 18, foundImages: 15, captionedImages: 12, alreadyCaptionedImages: 3 });
    expect(state.progress).toMatchObject({ step: 999, total: 1000, percent: 100 });
    expect(samples.length).toBeGreaterThan(200);
    expect(samples.length).toBeLessThanOrEqual(252);
    expect(samples[0]!.step).toBe(0);
    expect(samples.at(-1)!.step).toBe(999);
    for (let i = 1; i < samples.length; i++) expect(samples[i]!.step).toBeGreaterThan(samples[i - 1]!.step);
    expect(samples.every((s) => s.loss > 0 && s.meanLoss > 0)).toBe(true);
  });

  it('gives the same result however the log is split into polls', () => {
    const log = fluxLog(600);
    const whole = feedInChunks(log, []);
    for (const seed of [1, 2, 3, 4, 5]) {
      const random = seededRandom(seed);
      const chunked = feedInChunks(log, randomCuts(log.length, 5 + Math.floor(random() * 300), seed));
      expect(chunked.state).toEqual(whole.state);
      expect(chunked.samples).toEqual(whole.samples);
    }
    // Cuts right before and after every line break of the training section.
    const breaks = [...log.matchAll(/\n/g)].map((m) => m.index).filter((i, n) => n % 97 === 0);
    const atBreaks = feedInChunks(log, breaks.flatMap((i) => [i, i + 1]));
    expect(atBreaks.state).toEqual(whole.state);
    expect(atBreaks.samples).toEqual(whole.samples);
  });

  it('parses a several-hundred-KB log poll by poll, reading only what is new', () => {
    const log = fluxLog(3000);
    expect(log.length).toBeGreaterThan(500_000);
    const cuts = Array.from({ length: 300 }, (_, i) => Math.floor((log.length * i) / 300));
    const { state, samples } = feedInChunks(log, cuts);
    expect(state.progress).toMatchObject({ step: 2999, total: 3000 });
    expect(samples.length).toBeLessThanOrEqual(252);

    // Proof that consumed text is not read again: rewriting a consumed line (same length, tail
    // untouched) changes nothing, although parsing it from scratch would give other losses.
    const half = parseTrainingLog(log.slice(0, log.length / 2), null);
    const target = log.indexOf('loss: ', log.length / 4);
    const altered = log.slice(0, target) + 'loss: 9.999e+00' + log.slice(target + 'loss: 9.999e+00'.length);
    const rest = parseTrainingLog(log, half.state, { final: true });
    const restAltered = parseTrainingLog(altered, half.state, { final: true });
    expect(restAltered.state).toEqual(rest.state);
    expect(restAltered.newLossSamples).toEqual(rest.newLossSamples);
  });

  it('honours the sample budget', () => {
    const { samples } = feedInChunks(fluxLog(1000), randomCuts(200_000, 50, 3), 50);
    expect(samples.length).toBeLessThanOrEqual(52);
    expect(samples.at(-1)!.step).toBe(999);
  });

  it('shows the unterminated last line as live progress without committing it', () => {
    const base = 'Starting train job\n';
    const partial = 'flux_train_replicate:  10%|█         | 100/1000 [01:23<12:34,  1.19it/s, lr: 4.0e-04 loss: 3.652e-01]';
    const first = parseTrainingLog(base + partial, null);
    expect(first.state.cursorOffset).toBe(base.length);
    expect(first.state.progress).toBeNull();
    expect(first.liveProgress).toMatchObject({ step: 100 });
    expect(first.newLossSamples).toEqual([]);
    const second = parseTrainingLog(`${base}${partial}\n`, first.state);
    expect(second.state.progress).toMatchObject({ step: 100 });
    expect(second.newLossSamples).toEqual([{ step: 100, loss: 0.3652, meanLoss: 0.3652 }]);
    // `final` commits an unterminated last line once the training has ended.
    expect(parseTrainingLog(base + partial, first.state, { final: true }).state.progress).toMatchObject({ step: 100 });
  });

  it('starts over when the log is not a continuation of the one parsed before', () => {
    const log = fluxLog(100);
    const first = parseTrainingLog(log, null);
    // Shorter than what was parsed: an older snapshot, ignored while running, believed when final.
    const shorter = parseTrainingLog(log.slice(0, 100), first.state);
    expect(shorter).toMatchObject({ stale: true, reset: false, newLossSamples: [], liveProgress: null });
    expect(shorter.state).toEqual(first.state);
    expect(parseTrainingLog(log.slice(0, 100), first.state, { final: true }).reset).toBe(true);
    const replaced = parseTrainingLog('X'.repeat(log.length + 10), first.state);
    expect(replaced.reset).toBe(true);
    expect(replaced.state.stage).toBe('booting');
    expect(parseTrainingLog(log, first.state).reset).toBe(false);
  });

  it('handles an empty or missing log, and CR line endings', () => {
    expect(parseTrainingLog(null, null).state.stage).toBe('booting');
    expect(parseTrainingLog('', null).state.cursorOffset).toBe(0);
    const crlf = 'Caching latents for input_images\r\nflux_train_replicate:   1%|          | 10/1000 [00:10<16:30,  1.00it/s, lr: 4.0e-04 loss: 4.0e-01]\r\n';
    expect(parseTrainingLog(crlf, null).state).toMatchObject({ stage: 'training', progress: { step: 10 } });
  });

  it('returns to training after a checkpoint save, but never to an earlier stage', () => {
    const bar = (step: number) => `flux_train_replicate:  ${step / 10}%|          | ${step}/1000 [00:10<16:30,  1.00it/s, lr: 4.0e-04 loss: 4.0e-01]\n`;
    const log = `Caching latents for input_images\n${bar(250)}Saving at step 250\nSaved to output/flux_train_replicate/flux_train_replicate_000000250.safetensors\n`;
    expect(parseTrainingLog(log, null).state.stage).toBe('saving');
    expect(parseTrainingLog(log + bar(251), null).state.stage).toBe('training');
    expect(parseTrainingLog(`${log}${bar(251)}Loading vae\n`, null).state.stage).toBe('training');
  });

  it('follows an SDXL run: stages, progress, no loss', () => {
    const log = renderLogLines(generateTrainerLog({ trainer: 'sdxl', steps: 500, imageCount: 12 }).lines);
    const { state, samples, stages } = feedInChunks(log, randomCuts(log.length, 100, 11));
    expect(state.stage).toBe('uploading');
    expect(state.progress).toMatchObject({ step: 499, total: 500, percent: 100, loss: null });
    expect(stages).toContain('training');
    expect(samples).toEqual([]);
  });
});
