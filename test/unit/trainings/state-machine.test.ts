import { describe, expect, it } from 'vitest';
import { nextStatus, type TrainingStatus } from '../../../src/trainings/state-machine.ts';

const remote = (status: 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled' | 'aborted', cancelRequested = false) =>
  ({ type: 'remote', status, cancelRequested }) as const;

describe('training state machine', () => {
  it('walks the happy path in order', () => {
    let s: TrainingStatus = 'draft';
    s = nextStatus(s, { type: 'enqueue' })!;
    expect(s).toBe('queued');
    s = nextStatus(s, { type: 'submit' })!;
    expect(s).toBe('submitting');
    s = nextStatus(s, { type: 'submitted' })!;
    expect(s).toBe('starting');
    s = nextStatus(s, remote('processing'))!;
    expect(s).toBe('processing');
    s = nextStatus(s, remote('succeeded'))!;
    expect(s).toBe('succeeded');
  });

  it('never leaves a terminal state', () => {
    for (const terminal of ['succeeded', 'failed', 'canceled'] as const) {
      for (const ev of [remote('processing'), remote('failed'), remote('succeeded'), { type: 'fail' } as const, { type: 'cancel' } as const, { type: 'enqueue' } as const]) {
        expect(nextStatus(terminal, ev)).toBeNull();
      }
    }
  });

  it('ignores stale and duplicate provider statuses', () => {
    expect(nextStatus('processing', remote('starting'))).toBeNull();
    expect(nextStatus('processing', remote('processing'))).toBeNull();
    expect(nextStatus('starting', remote('starting'))).toBeNull();
  });

  it('lets a webhook that beats the stored id advance a submitting training', () => {
    expect(nextStatus('submitting', remote('starting'))).toBe('starting');
    expect(nextStatus('submitting', remote('succeeded'))).toBe('succeeded');
  });

  it('ignores provider statuses before submission', () => {
    expect(nextStatus('draft', remote('processing'))).toBeNull();
    expect(nextStatus('queued', remote('succeeded'))).toBeNull();
  });

  it('treats aborted as terminal: canceled when we asked, failed otherwise', () => {
    expect(nextStatus('starting', remote('aborted', true))).toBe('canceled');
    expect(nextStatus('starting', remote('aborted', false))).toBe('failed');
  });

  it('cancels locally only before the provider knows about the training', () => {
    expect(nextStatus('draft', { type: 'cancel' })).toBe('canceled');
    expect(nextStatus('queued', { type: 'cancel' })).toBe('canceled');
    expect(nextStatus('submitting', { type: 'cancel' })).toBeNull();
    expect(nextStatus('processing', { type: 'cancel' })).toBeNull();
    expect(nextStatus('processing', remote('canceled', true))).toBe('canceled');
  });

  it('allows a local failure from any live state', () => {
    for (const s of ['draft', 'queued', 'submitting', 'starting', 'processing'] as const) expect(nextStatus(s, { type: 'fail' })).toBe('failed');
  });
});
