/**
 * At most `slots` holders at a time; the rest wait in arrival order. Used to bound memory, not to
 * schedule: e.g. image decodes, each of which may hold ~120 MB near the pixel limit.
 */
export class Semaphore {
  readonly #waiting: Array<() => void> = [];
  #free: number;

  constructor(slots: number) {
    if (!Number.isInteger(slots) || slots < 1) throw new Error(`A semaphore needs at least one slot (got ${slots}).`);
    this.#free = slots;
  }

  /** Runs `task` once a slot is free, and frees the slot when it settles. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, so a newcomer cannot overtake it.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}
