import { seededRandom } from './rng.ts';

/** Fault injection for the emulator: scripted faults per route, plus a seeded random failure rate. */

export type Route =
  | 'uploadFile'
  | 'getFile'
  | 'getModel'
  | 'createModel'
  | 'getVersion'
  | 'createTraining'
  | 'getTraining'
  | 'listTrainings'
  | 'cancelTraining'
  | 'createPrediction'
  | 'getPrediction'
  | 'cancelPrediction'
  | 'webhookSecret'
  /** Public delivery URLs: uploaded files, weights, prediction outputs. */
  | 'download'
  /** Outgoing webhook deliveries (for `drop-webhook`). */
  | 'webhook';

export type FaultKind = '429' | '500' | '502' | '503' | 'timeout' | 'reset' | 'drop-webhook';

export interface Fault {
  route: Route | 'any';
  kind: FaultKind;
  /** How many times the fault fires (default 1). */
  times?: number;
  /** 429 only: seconds to ask for (default 1). */
  retryAfter?: number;
  /** 429 only: where to say it: the `Retry-After` header, the detail text, or both (default). */
  retryAfterIn?: 'header' | 'detail' | 'both';
  /** Do the work first, then fail the answer: a create whose outcome the client cannot know. */
  afterHandling?: boolean;
  /** drop-webhook only: which event to drop (default any). */
  event?: string;
}

interface ArmedFault extends Fault {
  left: number;
}

export class FaultBook {
  #faults: ArmedFault[] = [];
  #failureRate: number;
  readonly #random: () => number;

  constructor(failureRate: number, seed: number) {
    this.#failureRate = failureRate;
    this.#random = seededRandom(seed);
  }

  add(fault: Fault): void {
    this.#faults.push({ ...fault, left: fault.times ?? 1 });
  }

  clear(): void {
    this.#faults = [];
  }

  setFailureRate(rate: number): void {
    this.#failureRate = rate;
  }

  /** Faults that have not fired yet. */
  pending(): Fault[] {
    return this.#faults.map(({ left, ...fault }) => ({ ...fault, times: left }));
  }

  /** Takes (and counts down) the first armed fault for an API request at this stage. */
  takeForRequest(route: Route, afterHandling: boolean): Fault | undefined {
    return this.#take((f) => (f.route === route || f.route === 'any') && f.kind !== 'drop-webhook' && !!f.afterHandling === afterHandling);
  }

  takeWebhookDrop(event: string): boolean {
    return this.#take((f) => f.kind === 'drop-webhook' && (f.route === 'webhook' || f.route === 'any') && (f.event === undefined || f.event === event)) !== undefined;
  }

  /** The seeded random failure, if this call draws one. */
  drawRandom(route: Route): Fault | undefined {
    if (this.#failureRate <= 0 || this.#random() >= this.#failureRate) return undefined;
    return this.#random() < 0.5 ? { route, kind: '429', retryAfter: 0 } : { route, kind: '500' };
  }

  #take(match: (f: ArmedFault) => boolean): Fault | undefined {
    const fault = this.#faults.find((f) => f.left > 0 && match(f));
    if (!fault) return undefined;
    fault.left -= 1;
    this.#faults = this.#faults.filter((f) => f.left > 0);
    return fault;
  }
}
