import { describe, expect, it } from 'vitest';
import { classifyFailure } from '../../../src/trainings/failure.ts';

describe('failure classification', () => {
  it('recognizes input validation failures and keeps the detail', () => {
    const f = classifyFailure('Prediction input failed validation: steps must be less than or equal to 6000');
    expect(f.kind).toBe('input_validation');
    expect(f.message).toContain('steps must be less than or equal to 6000');
    expect(f.nextStep).toMatch(/Retrain with changes/);
  });

  it('recognizes dataset problems', () => {
    expect(classifyFailure('Found 0 images in input_images').kind).toBe('dataset');
    expect(classifyFailure('BadZipFile: File is not a zip file').kind).toBe('dataset');
  });

  it('recognizes the known provider failure after a successful run', () => {
    const f = classifyFailure('Failed to create trained image after successful training run.');
    expect(f.kind).toBe('provider');
    expect(f.nextStep).toMatch(/same settings/);
  });

  it('falls back to a provider error, also without any text', () => {
    expect(classifyFailure('CUDA out of memory').kind).toBe('provider');
    expect(classifyFailure(null).message).toMatch(/without giving a reason/);
  });

  it('says nothing was charged when the training never reached Replicate, keeping the specific kinds', () => {
    const f = classifyFailure('Insufficient credit', { notSent: true });
    expect(f.message).toBe('The training could not be sent to Replicate, so nothing was charged: Insufficient credit');
    expect(f.nextStep).not.toMatch(/same settings/);
    expect(classifyFailure('Prediction input failed validation: steps too large', { notSent: true }).kind).toBe('input_validation');
  });

  it('reports a user cancellation as canceled whatever the provider said', () => {
    expect(classifyFailure('anything', { canceledByUser: true }).kind).toBe('canceled');
  });
});
