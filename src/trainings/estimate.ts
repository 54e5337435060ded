import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Resolution } from './presets.ts';

const trainerCost = z.object({
  hardware: z.string(),
  usdPerSecond: z.number().positive(),
  secondsPerStep: z.object({ 512: z.number().positive(), 768: z.number().positive(), 1024: z.number().positive() }),
  overheadSeconds: z.object({ min: z.number().nonnegative(), max: z.number().nonnegative() }),
});
export const costTableSchema = z.object({ 'flux-dev': trainerCost, sdxl: trainerCost });
export type CostTable = z.infer<typeof costTableSchema>;
export type TrainerCost = z.infer<typeof trainerCost>;

export function loadCostTable(file: string): CostTable {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`Cannot read the training cost table ${file}: ${(error as Error).message}`);
  }
  const parsed = costTableSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`The training cost table ${file} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** What past trainings of the same trainer and resolution really took. */
export interface RunHistory {
  /** Seconds per training step, from the trainer's own progress lines. */
  secondsPerStep: number[];
  /** Seconds outside the training loop (boot, download, captioning, saving, upload). */
  overheadSeconds: number[];
}

export interface Estimate {
  durationSeconds: { min: number; expected: number; max: number };
  costUsd: { min: number; expected: number; max: number };
  hardware: string;
  /** "table" until enough trainings finished here, then "history". */
  basis: 'table' | 'history';
  basedOnRuns: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const MIN_RUNS_FOR_HISTORY = 3;

/**
 * Duration and cost before paying. The table gives a prior; once a few trainings finished here,
 * their median speed and overhead replace it (clouds change GPUs, prices stay in the table).
 */
export function estimateTraining(cost: TrainerCost, resolution: Resolution, steps: number, history?: RunHistory): Estimate {
  const useHistory = !!history && history.secondsPerStep.length >= MIN_RUNS_FOR_HISTORY && history.overheadSeconds.length >= MIN_RUNS_FOR_HISTORY;
  const perStep = useHistory ? median(history.secondsPerStep) : cost.secondsPerStep[resolution];
  const overhead = useHistory
    ? { min: Math.min(...history.overheadSeconds), max: Math.max(...history.overheadSeconds) }
    : cost.overheadSeconds;
  const train = steps * perStep;
  // Step speed varies ±15% between GPUs of the same kind and with image sizes inside the buckets.
  const durationSeconds = {
    min: Math.round(train * 0.85 + overhead.min),
    expected: Math.round(train + (overhead.min + overhead.max) / 2),
    max: Math.round(train * 1.3 + overhead.max),
  };
  const usd = (s: number) => Math.round(s * cost.usdPerSecond * 100) / 100;
  return {
    durationSeconds,
    costUsd: { min: usd(durationSeconds.min), expected: usd(durationSeconds.expected), max: usd(durationSeconds.max) },
    hardware: cost.hardware,
    basis: useHistory ? 'history' : 'table',
    basedOnRuns: useHistory ? history.secondsPerStep.length : 0,
  };
}
