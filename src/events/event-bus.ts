import { EventEmitter } from 'node:events';

/**
 * Live updates for the UI (SSE) and notifications. In-process by default; at scale an adapter fans
 * events out to every web process (PostgreSQL LISTEN/NOTIFY). Events are hints to re-read rows,
 * never the source of truth, so a lost event costs freshness, not correctness.
 */
export interface PlatformEvent {
  type: 'training.updated' | 'model.updated' | 'generation.updated';
  /** Only this user's streams receive the event. */
  ownerId: string;
  modelId: string;
  trainingId?: string | undefined;
  generationId?: string | undefined;
  status?: string | undefined;
  /** A compact snapshot so a live page updates without re-reading (computed once, not per subscriber). */
  progress?: {
    stage: string | null;
    percent: number | null;
    step: number | null;
    totalSteps: number | null;
    trainerEtaSeconds: number | null;
    loss: number | null;
  } | undefined;
  at: string;
}

export interface EventBus {
  /** Never throws and never waits: a lost event costs freshness, not correctness. */
  publish(event: PlatformEvent): void;
  subscribe(listener: (event: PlatformEvent) => void): () => void;
  /**
   * Called when events may have been missed (a fan-out connection was lost and came back), so
   * subscribers re-read instead of trusting what they have. Buses that cannot lose events omit it.
   */
  onResync?(listener: () => void): () => void;
}

export class InProcessEventBus implements EventBus {
  readonly #emitter = new EventEmitter();
  constructor() {
    this.#emitter.setMaxListeners(0);
  }
  publish(event: PlatformEvent): void {
    this.#emitter.emit('event', event);
  }
  subscribe(listener: (event: PlatformEvent) => void): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }
}
