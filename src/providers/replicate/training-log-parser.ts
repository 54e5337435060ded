/**
 * Incremental parser for Replicate trainer logs (ostris/flux-dev-lora-trainer and stability-ai/sdxl).
 *
 * Replicate returns the whole log so far on every poll and webhook; logs reach hundreds of KB. The
 * parser keeps a small JSON-safe state (store it in a DB row between polls) holding how much of the
 * log it has consumed, so each call only reads what is new. Only complete lines are committed; the
 * unfinished last line is read provisionally for the live progress and re-read next time.
 *
 * The npm client's `parseProgressFromLogs` cannot be used: it expects the percentage at the start of
 * the line, and trainer bars start with a description (`flux_train_replicate:  10%|…`).
 */

export type TrainingStage =
  | 'booting'
  | 'downloading_weights'
  | 'extracting'
  | 'captioning'
  | 'loading_model'
  | 'caching_latents'
  | 'training'
  | 'saving'
  | 'uploading';

export const TRAINING_STAGES: readonly TrainingStage[] = [
  'booting',
  'downloading_weights',
  'extracting',
  'captioning',
  'loading_model',
  'caching_latents',
  'training',
  'saving',
  'uploading',
];

export interface ProgressRate {
  value: number;
  unit: 'it/s' | 's/it';
}

export interface ProgressSample {
  step: number;
  total: number;
  /** As printed by tqdm (0–100). The last bar of a 1000-step run reads 999/1000 at 100%. */
  percent: number;
  /** Null while tqdm prints `?it/s` (the first steps). */
  rate: ProgressRate | null;
  /** The rate normalised to iterations per second. */
  itPerSecond: number | null;
  elapsedSeconds: number | null;
  /** tqdm's ETA: excludes sampling/saving pauses and the upload after training. */
  remainingSeconds: number | null;
  loss: number | null;
  learningRate: number | null;
}

/** One point of the loss chart. */
export interface LossSample {
  step: number;
  /** The loss printed at `step`. */
  loss: number;
  /** Mean of the losses printed since the previous sample (smoother for a chart). */
  meanLoss: number;
}

export interface TrainingLogCounts {
  /** `Extracted N files from zip …` */
  extractedFiles: number | null;
  /** `Found N images` (the trainer's dataset). */
  foundImages: number | null;
  /** Images captioned by the autocaptioner (`Caption for input_images/…`). */
  captionedImages: number;
  /** Images that came with a caption file (`… is already captioned`). */
  alreadyCaptionedImages: number;
}

/** JSON-safe; persist it as is. Fields starting with `cursor` are the parser's bookkeeping. */
export interface TrainingLogState {
  version: 1;
  stage: TrainingStage;
  progress: ProgressSample | null;
  counts: TrainingLogCounts;
  /** Characters of the log consumed (complete lines only). */
  cursorOffset: number;
  /** The last characters before `cursorOffset`, to notice a log that was replaced rather than grown. */
  cursorTail: string;
  /** Step of the last emitted loss sample; -1 before the first. */
  cursorLastLossStep: number;
  cursorLossSum: number;
  cursorLossCount: number;
  /** Highest training step seen, to ignore a bar's duplicate redraw of the same step. */
  cursorLastStep: number;
}

export interface ParseTrainingLogOptions {
  /** Target number of loss samples over a whole run (the first and last step come on top); sets the step interval. Default 250. */
  maxLossSamples?: number;
  /** The training has ended: also commit an unterminated last line. */
  final?: boolean;
}

export interface ParseTrainingLogResult {
  state: TrainingLogState;
  /** Loss samples since the previous call, already downsampled: append them to storage. */
  newLossSamples: LossSample[];
  /** The log did not continue the one parsed before; state restarted. Replace stored samples. */
  reset: boolean;
  /**
   * The log is shorter than what was parsed already: an older snapshot (a late webhook, a poll
   * that outlived its job lease). Nothing was parsed and the state is unchanged.
   */
  stale: boolean;
  stageChanged: boolean;
  /** Progress including the provisional, unterminated last line (for live display). */
  liveProgress: ProgressSample | null;
}

const TAIL_LENGTH = 64;

export function initialTrainingLogState(): TrainingLogState {
  return {
    version: 1,
    stage: 'booting',
    progress: null,
    counts: { extractedFiles: null, foundImages: null, captionedImages: 0, alreadyCaptionedImages: 0 },
    cursorOffset: 0,
    cursorTail: '',
    cursorLastLossStep: -1,
    cursorLossSum: 0,
    cursorLossCount: 0,
    cursorLastStep: -1,
  };
}

/** Parses the part of `log` not seen yet. Never mutates `previous`. */
export function parseTrainingLog(
  log: string | null | undefined,
  previous: TrainingLogState | null | undefined,
  options: ParseTrainingLogOptions = {},
): ParseTrainingLogResult {
  const text = log ?? '';
  // A log only grows while its training runs; the final snapshot is authoritative.
  if (previous && text.length < previous.cursorOffset && !options.final) {
    return { state: structuredClone(previous), newLossSamples: [], reset: false, stale: true, stageChanged: false, liveProgress: null };
  }
  let state: TrainingLogState = previous ? structuredClone(previous) : initialTrainingLogState();
  let reset = false;
  if (previous && !continuesFrom(text, previous)) {
    state = initialTrainingLogState();
    reset = true;
  }
  const stageBefore = previous && !reset ? previous.stage : 'booting';

  const pending = text.slice(state.cursorOffset);
  const lastBreak = Math.max(pending.lastIndexOf('\n'), pending.lastIndexOf('\r'));
  const complete = options.final ? pending : pending.slice(0, lastBreak + 1);
  const partial = options.final ? '' : pending.slice(lastBreak + 1);

  const newLossSamples: LossSample[] = [];
  const maxLossSamples = Math.max(1, options.maxLossSamples ?? 250);
  for (const line of complete.split(/\r\n|\r|\n/)) {
    applyLine(state, line, maxLossSamples, newLossSamples);
  }
  state.cursorOffset += complete.length;
  state.cursorTail = text.slice(Math.max(0, state.cursorOffset - TAIL_LENGTH), state.cursorOffset);

  let liveProgress = state.progress;
  if (partial.trim() !== '') {
    const provisional = parseTrainingBar(partial.trim());
    if (provisional && provisional.step >= state.cursorLastStep) liveProgress = provisional;
  }
  return { state, newLossSamples, reset, stale: false, stageChanged: state.stage !== stageBefore, liveProgress };
}

function continuesFrom(text: string, state: TrainingLogState): boolean {
  if (text.length < state.cursorOffset) return false;
  return text.slice(state.cursorOffset - state.cursorTail.length, state.cursorOffset) === state.cursorTail;
}

const RANK = new Map(TRAINING_STAGES.map((stage, index) => [stage, index]));

/** Stages only move forward, except that a checkpoint save mid-training returns to training. */
function enterStage(state: TrainingLogState, stage: TrainingStage): void {
  if ((RANK.get(stage) ?? 0) >= (RANK.get(state.stage) ?? 0)) state.stage = stage;
  else if (stage === 'training' && state.stage === 'saving') state.stage = stage;
}

interface StageMarker {
  pattern: RegExp;
  stage: TrainingStage;
}

// Flux (replicate/flux-fine-tuner → ostris/ai-toolkit) first, then SDXL (replicate/cog-sdxl).
// The SDXL markers beyond the PTI progress bar are best effort: its sources were only partly checked.
const STAGE_MARKERS: StageMarker[] = [
  { pattern: /^\[ Initiating \]|^Downloading (base )?weights|^downloading url:/i, stage: 'downloading_weights' },
  { pattern: /^Downloaded base weights in/, stage: 'downloading_weights' },
  { pattern: /^Extract(ed|ing) .*(zip|tar)|^Unzipping/i, stage: 'extracting' },
  { pattern: /^Caption for |^\S.* is already captioned$|^Generating captions|^Using BLIP|^Loading (LLaVA|BLIP|captioning)/, stage: 'captioning' },
  {
    pattern:
      /^Starting train job|^# Running job:|^Loading Flux model|^Loading transformer|^Quantizing transformer|^Loading vae|^Loading t5|^create LoRA network|^Dataset: |^Found \d+ images|^# PTI : Loaded dataset|^Loading (SDXL|pipeline|model)/,
    stage: 'loading_model',
  },
  { pattern: /^Caching latents/, stage: 'caching_latents' },
  { pattern: /^# PTI : Running training/, stage: 'training' },
  { pattern: /^Saving at step|^Saved to |^Saving (model|weights|lora|final)|^Training finished/i, stage: 'saving' },
  { pattern: /^(Creating|Writing) (tar|trained_model\.tar)|^output\/\S+$|^Uploading (to |model|weights)|^Pushing to/i, stage: 'uploading' },
];

function applyLine(state: TrainingLogState, rawLine: string, maxLossSamples: number, out: LossSample[]): void {
  // ai-toolkit prints sub-steps as `  -  Found 15 images`; Cog strips the indent, not the dash.
  const line = rawLine.trim().replace(/^-\s+/, '');
  if (line === '') return;

  const bar = parseTrainingBar(line);
  if (bar) {
    enterStage(state, 'training');
    if (bar.step < state.cursorLastStep) return; // an older redraw arriving late
    // One loss per step: the bar redraws each step twice, and its first line (`0/1000 [00:00<?, ?it/s]`) has none.
    const firstLossOfStep = bar.step > state.cursorLastStep || (bar.step === state.cursorLastStep && state.progress?.loss == null);
    state.cursorLastStep = bar.step;
    state.progress = bar;
    if (firstLossOfStep && bar.loss !== null && Number.isFinite(bar.loss)) recordLoss(state, bar, maxLossSamples, out);
    return;
  }

  const found = /^Found (\d+) images/.exec(line);
  if (found?.[1] !== undefined) state.counts.foundImages = Number(found[1]);
  const extracted = /^Extracted (\d+) files/.exec(line);
  if (extracted?.[1] !== undefined) state.counts.extractedFiles = Number(extracted[1]);
  if (line.startsWith('Caption for ')) state.counts.captionedImages += 1;
  else if (line.endsWith(' is already captioned')) state.counts.alreadyCaptionedImages += 1;

  for (const marker of STAGE_MARKERS) {
    if (marker.pattern.test(line)) {
      enterStage(state, marker.stage);
      break;
    }
  }
}

function recordLoss(state: TrainingLogState, bar: ProgressSample, maxLossSamples: number, out: LossSample[]): void {
  const loss = bar.loss as number;
  state.cursorLossSum += loss;
  state.cursorLossCount += 1;
  const interval = Math.max(1, Math.ceil(bar.total / maxLossSamples));
  const due =
    state.cursorLastLossStep < 0 ||
    bar.step - state.cursorLastLossStep >= interval ||
    bar.step >= bar.total - 1; // keep the final point: the bar stops at total-1
  if (!due) return;
  out.push({ step: bar.step, loss, meanLoss: state.cursorLossSum / state.cursorLossCount });
  state.cursorLastLossStep = bar.step;
  state.cursorLossSum = 0;
  state.cursorLossCount = 0;
}

// `<desc>:  10%|█         | 100/1000 [01:23<12:34,  1.19it/s, lr: 4.0e-04 loss: 3.652e-01]`
const BAR =
  /^(?<desc>.*?):?\s*(?<percent>\d{1,3})%\|[^|]*\|\s*(?<step>\d+)\/(?<total>\d+)\s*\[(?<elapsed>[^<\]]*)<(?<remaining>[^,\]]*),\s*(?<rate>\?|[\d.]+(?:e[-+]?\d+)?)\s*(?<unit>it\/s|s\/it)?(?:,\s*(?<postfix>[^\]]*))?\]/;

/** Parses one training progress bar line; null for any other line (including other tqdm bars). */
export function parseTrainingBar(line: string): ProgressSample | null {
  const match = BAR.exec(line);
  const g = match?.groups;
  if (!g) return null;
  const desc = g.desc ?? '';
  const postfix = g.postfix ?? '';
  // Downloads, caching and caption bars are tqdm too; only the trainer's own bar counts.
  const isTraining = /flux_train|_train_replicate|^# PTI :step:/.test(desc) || /\bloss[:=]/.test(postfix);
  if (!isTraining) return null;

  const rateValue = g.rate === '?' || g.rate === undefined ? null : Number(g.rate);
  const unit = g.unit === 's/it' ? 's/it' : 'it/s';
  const rate = rateValue === null || !Number.isFinite(rateValue) ? null : { value: rateValue, unit } as ProgressRate;
  let itPerSecond: number | null = null;
  if (rate) itPerSecond = rate.unit === 'it/s' ? rate.value : rate.value > 0 ? 1 / rate.value : null;

  return {
    step: Number(g.step),
    total: Number(g.total),
    percent: Number(g.percent),
    rate,
    itPerSecond,
    elapsedSeconds: parseDuration(g.elapsed ?? ''),
    remainingSeconds: parseDuration(g.remaining ?? ''),
    loss: numberAfter(postfix, 'loss'),
    learningRate: numberAfter(postfix, 'lr'),
  };
}

/** tqdm intervals: `MM:SS`, `H:MM:SS`, `Nd H:MM:SS`; `?` is unknown. */
export function parseDuration(text: string): number | null {
  const match = /^\s*(?:(\d+)d\s*)?(?:(\d+):)?(\d{1,2}):(\d{2})\s*$/.exec(text);
  if (!match) return null;
  const [, days, hours, minutes, seconds] = match;
  return Number(days ?? 0) * 86_400 + Number(hours ?? 0) * 3600 + Number(minutes) * 60 + Number(seconds);
}

function numberAfter(postfix: string, key: string): number | null {
  const match = new RegExp(`(?:^|[\\s,])${key}[:=]\\s*([-+]?(?:\\d+\\.?\\d*(?:e[-+]?\\d+)?|nan|inf))`, 'i').exec(postfix);
  if (!match?.[1]) return null;
  const value = Number(match[1].toLowerCase() === 'nan' ? NaN : match[1].toLowerCase() === 'inf' ? Infinity : match[1]);
  return Number.isNaN(value) ? null : value;
}
