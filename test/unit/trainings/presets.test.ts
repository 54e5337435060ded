import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { LIMITS, planTraining, PRESETS, type PlanRequest } from '../../../src/trainings/presets.ts';
import { estimateTraining, loadCostTable } from '../../../src/trainings/estimate.ts';

const base: PlanRequest = { baseModel: 'flux-dev', modelType: 'person', preset: 'standard', resolution: 1024, imageCount: 20, triggerWord: 'REXDOG' };

describe('training presets', () => {
  it('computes steps = epochs × images × repeats / batch and explains it', () => {
    const plan = planTraining(base);
    expect(plan).toMatchObject({ epochs: 2, repeats: 25, batchSize: 1, formulaSteps: 1000, steps: 1000, clamped: null });
    expect(plan.formula).toBe('2 epochs × 20 images × 25 repeats ÷ batch 1 = 1000 steps');
    expect(plan.inputs).toMatchObject({ trigger_word: 'REXDOG', steps: 1000, resolution: '512,768,1024', lora_rank: 16, learning_rate: 4e-4 });
  });

  it('orders presets: beginner is quickest, expert most thorough', () => {
    const steps = PRESETS.map((preset) => planTraining({ ...base, preset }).steps);
    expect(steps[0]).toBeLessThan(steps[1]!);
    expect(steps[1]).toBeLessThan(steps[2]!);
    expect(planTraining({ ...base, preset: 'expert' }).inputs.lora_rank).toBeGreaterThan(planTraining(base).inputs.lora_rank as number);
  });

  it('trains styles longer than subjects', () => {
    expect(planTraining({ ...base, modelType: 'style' }).steps).toBeGreaterThan(planTraining(base).steps);
  });

  it('clamps to the trainer limits and says so', () => {
    const big = planTraining({ ...base, epochs: 20, imageCount: 50 });
    expect(big.steps).toBe(LIMITS.flux.maxSteps);
    expect(big.clamped).toBe('max');
    expect(big.formula).toMatch(/limited to 6000/);
  });

  it('maps resolution to flux buckets and to the SDXL resolution', () => {
    expect(planTraining({ ...base, resolution: 512 }).inputs.resolution).toBe('512');
    expect(planTraining({ ...base, resolution: 768 }).inputs.resolution).toBe('512,768');
    const sdxl = planTraining({ ...base, baseModel: 'sdxl', resolution: 768 });
    expect(sdxl.inputs).toMatchObject({ resolution: 768, token_string: 'REXDOG', input_images_filetype: 'zip', is_lora: true, use_face_detection_instead: true });
    expect(sdxl.inputs.max_train_steps).toBe(Math.ceil((2 * 20 * 40) / 4));
  });

  it('applies expert overrides, clamped, and ignores them for other presets', () => {
    const expert = planTraining({ ...base, preset: 'expert', overrides: { steps: 99999, lora_rank: 500, learning_rate: 1e-4 } });
    expect(expert.inputs).toMatchObject({ steps: 6000, lora_rank: 128, learning_rate: 1e-4 });
    expect(expert.steps).toBe(6000);
    const standard = planTraining({ ...base, overrides: { steps: 10 } });
    expect(standard.steps).toBe(1000);
  });
});

describe('training estimate', () => {
  const table = loadCostTable(join(import.meta.dirname, '../../../config/training-costs.json'));

  it('gives a duration range and cost from the table', () => {
    const e = estimateTraining(table['flux-dev'], 1024, 1000);
    expect(e.basis).toBe('table');
    expect(e.durationSeconds.min).toBeLessThan(e.durationSeconds.expected);
    expect(e.durationSeconds.expected).toBeLessThan(e.durationSeconds.max);
    expect(e.durationSeconds.expected).toBe(Math.round(1000 * 1.6 + (180 + 540) / 2));
    expect(e.costUsd.expected).toBeCloseTo(e.durationSeconds.expected * 0.001525, 2);
  });

  it('switches to the platform\'s own history once three runs finished', () => {
    const two = estimateTraining(table['flux-dev'], 1024, 1000, { secondsPerStep: [1, 1], overheadSeconds: [100, 100] });
    expect(two.basis).toBe('table');
    const three = estimateTraining(table['flux-dev'], 1024, 1000, { secondsPerStep: [1, 1.2, 5], overheadSeconds: [100, 200, 300] });
    expect(three).toMatchObject({ basis: 'history', basedOnRuns: 3 });
    expect(three.durationSeconds.expected).toBe(Math.round(1000 * 1.2 + 200));
  });

  it('rejects an invalid cost table with the field that is wrong', () => {
    expect(() => loadCostTable('/nonexistent.json')).toThrow(/Cannot read/);
  });
});
