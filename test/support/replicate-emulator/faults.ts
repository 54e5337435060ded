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

/** Relative weights of the kinds a random failure is drawn from (default: 429 and 500, evenly). */
export type FaultMix = Partial<Record<Exclude<FaultKind, 'drop-webhook'>, number>>;

export interface RandomFaultOptions {
  mix?: FaultMix;
  /** Fraction (0–1) of webhook deliveries silently dropped (never arrive, never retried). */
  webhookDropRate?: number;
  /**
   * Fraction (0–1) of random faults on creates (files, trainings, predictions) that fire after the
   * work was done: the create happened, the client only sees the failure.
   */
  afterHandlingShare?: number;
  /** Draw random failures for delivery downloads (weights, outputs) too. Default false. */
  includeDownloads?: boolean;
  /** The Retry-After of random 429s, in seconds. Default 0. */
  retryAfterSeconds?: number;
}

/** One fault that fired, for reports: what, where, and whether it was scripted or drawn. */
export interface InjectedFault {
  route: Route;
  kind: FaultKind;
  afterHandling: boolean;
  random: boolean;
}

const CREATE_ROUTES: ReadonlySet<Route> = new Set(['uploadFile', 'createTraining', 'createPrediction', 'createModel']);

export class FaultBook {
  #faults: ArmedFault[] = [];
  #failureRate: number;
  readonly #random: () => number;
  #mix: Array<[Exclude<FaultKind, 'drop-webhook'>, number]>;
  #webhookDropRate: number;
  #afterHandlingShare: number;
  #includeDownloads = false;
  #retryAfterSeconds = 0;
  /** Every fault that fired, in order. */
  readonly injected: InjectedFault[] = [];

  constructor(failureRate: number, seed: number, options: RandomFaultOptions = {}) {
    this.#failureRate = failureRate;
    this.#random = seededRandom(seed);
    this.#mix = [];
    this.#webhookDropRate = 0;
    this.#afterHandlingShare = 0;
    this.setRandomFaults(options);
  }

  /** Changes what random failures look like (the rate stays `setFailureRate`'s). */
  setRandomFaults(options: RandomFaultOptions): void {
    const mix = options.mix ?? { '429': 1, '500': 1 };
    this.#mix = Object.entries(mix).filter(([, weight]) => (weight ?? 0) > 0) as Array<[Exclude<FaultKind, 'drop-webhook'>, number]>;
    this.#webhookDropRate = options.webhookDropRate ?? 0;
    this.#afterHandlingShare = options.afterHandlingShare ?? 0;
    this.#includeDownloads = options.includeDownloads ?? false;
    this.#retryAfterSeconds = options.retryAfterSeconds ?? 0;
  }

  /** Counts of fired faults by kind (scripted and random together). */
  countsByKind(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const f of this.injected) {
      const key = f.afterHandling ? `${f.kind} (after handling)` : f.kind;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
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
    const fault = this.#take((f) => (f.route === route || f.route === 'any') && f.kind !== 'drop-webhook' && !!f.afterHandling === afterHandling);
    if (fault) this.injected.push({ route, kind: fault.kind, afterHandling, random: false });
    return fault;
  }

  takeWebhookDrop(event: string): boolean {
    let dropped = this.#take((f) => f.kind === 'drop-webhook' && (f.route === 'webhook' || f.route === 'any') && (f.event === undefined || f.event === event)) !== undefined;
    const random = !dropped && this.#webhookDropRate > 0 && this.#random() < this.#webhookDropRate;
    dropped ||= random;
    if (dropped) this.injected.push({ route: 'webhook', kind: 'drop-webhook', afterHandling: false, random });
    return dropped;
  }

  /**
   * The seeded random failure, if this call draws one. On creates, a share of them is marked
   * `afterHandling`: the emulator then does the work and fails only the answer.
   */
  drawRandom(route: Route): Fault | undefined {
    if (route === 'download' && !this.#includeDownloads) return undefined;
    if (this.#failureRate <= 0 || this.#mix.length === 0 || this.#random() >= this.#failureRate) return undefined;
    const total = this.#mix.reduce((sum, [, weight]) => sum + weight, 0);
    let pick = this.#random() * total;
    let kind = this.#mix[0]![0];
    for (const [candidate, weight] of this.#mix) {
      kind = candidate;
      pick -= weight;
      if (pick < 0) break;
    }
    // A delivery server (CDN) is not rate limited like the API, and a hang there would only test
    // the download timeout: its failures are 5xx and dropped connections.
    if (route === 'download' && (kind === 'timeout' || kind === '429')) kind = kind === 'timeout' ? 'reset' : '503';
    // A Files API upload waits minutes for 100 MiB (the client's upload timeout): a random hang
    // there would only stall a test; scripted `timeout` faults still cover it.
    if (route === 'uploadFile' && kind === 'timeout') kind = 'reset';
    // A 429 is a refusal before any work; the other kinds can also hit a create that already happened.
    const afterHandling = kind !== '429' && CREATE_ROUTES.has(route) && this.#afterHandlingShare > 0 && this.#random() < this.#afterHandlingShare;
    this.injected.push({ route, kind, afterHandling, random: true });
    return { route, kind, ...(kind === '429' && { retryAfter: this.#retryAfterSeconds }), ...(afterHandling && { afterHandling }) };
  }

  #take(match: (f: ArmedFault) => boolean): Fault | undefined {
    const fault = this.#faults.find((f) => f.left > 0 && match(f));
    if (!fault) return undefined;
    fault.left -= 1;
    this.#faults = this.#faults.filter((f) => f.left > 0);
    return fault;
  }
}
