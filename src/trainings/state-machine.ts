import type { ReplicateStatus } from '../providers/replicate/types.ts';

/**
 * A training's life: draft → queued → submitting → starting → processing → (succeeded | failed | canceled).
 *
 * Webhooks and the polling reconciler both feed `nextStatus`, so they cannot disagree. Status only
 * moves forward (a late "processing" webhook after "succeeded" is ignored) and terminal states never
 * change. The repository applies the result as a compare-and-set on the status it read
 * (`UPDATE … WHERE status = <read status>`), re-reading and re-deciding when another writer won.
 */
export const TRAINING_STATUSES = ['draft', 'queued', 'submitting', 'starting', 'processing', 'succeeded', 'failed', 'canceled'] as const;
export type TrainingStatus = (typeof TRAINING_STATUSES)[number];

export const TERMINAL: ReadonlySet<TrainingStatus> = new Set(['succeeded', 'failed', 'canceled']);
export const ACTIVE: readonly TrainingStatus[] = ['queued', 'submitting', 'starting', 'processing'];
export const isTerminal = (s: TrainingStatus) => TERMINAL.has(s);

const RANK: Record<TrainingStatus, number> = {
  draft: 0,
  queued: 1,
  submitting: 2,
  starting: 3,
  processing: 4,
  succeeded: 5,
  failed: 5,
  canceled: 5,
};

export type TrainingEvent =
  | { type: 'enqueue' }
  | { type: 'submit' }
  | { type: 'submitted' }
  /** Refused before it started (bad input, no credit…) or given up on. */
  | { type: 'fail' }
  | { type: 'cancel' }
  | { type: 'remote'; status: ReplicateStatus; cancelRequested: boolean };

/** The status after `event`, or null when the event does not apply (stale, duplicate, or after the end). */
export function nextStatus(current: TrainingStatus, event: TrainingEvent): TrainingStatus | null {
  if (isTerminal(current)) return null;
  let target: TrainingStatus;
  switch (event.type) {
    case 'enqueue':
      return current === 'draft' ? 'queued' : null;
    case 'submit':
      return current === 'queued' ? 'submitting' : null;
    case 'submitted':
      return current === 'submitting' ? 'starting' : null;
    case 'fail':
      return 'failed';
    case 'cancel':
      // Before Replicate knows about it, canceling is purely local. Afterwards the provider must
      // confirm (it stops billing), so the status changes when its "canceled" arrives.
      return RANK[current] <= RANK.queued ? 'canceled' : null;
    case 'remote':
      target = remoteToLocal(event.status, event.cancelRequested);
      break;
  }
  // A provider status can only arrive once we have submitted (or are in the act of it).
  if (RANK[current] < RANK.submitting) return null;
  return RANK[target] > RANK[current] ? target : null;
}

/** `aborted` means it ended before running: canceled if we asked for it, otherwise a failure. */
export function remoteToLocal(status: ReplicateStatus, cancelRequested: boolean): TrainingStatus {
  switch (status) {
    case 'starting':
      return 'starting';
    case 'processing':
      return 'processing';
    case 'succeeded':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'canceled':
      return 'canceled';
    case 'aborted':
      return cancelRequested ? 'canceled' : 'failed';
  }
}
