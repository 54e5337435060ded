/**
 * Runs `pump` when woken. Wakes that arrive while it runs coalesce into one more run right after,
 * so a burst of enqueues, notifications and finished jobs costs one claim pass, never a pile of them.
 */
export class CoalescingPump {
  readonly #pump: () => Promise<void>;
  readonly #active: () => boolean;
  readonly #onError: (error: unknown) => void;
  #running = false;
  #again = false;
  #current: Promise<void> = Promise.resolve();

  constructor(pump: () => Promise<void>, options: { active: () => boolean; onError: (error: unknown) => void }) {
    this.#pump = pump;
    this.#active = options.active;
    this.#onError = options.onError;
  }

  wake(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#current = this.#pump()
      .catch(this.#onError)
      .finally(() => {
        this.#running = false;
        if (this.#again && this.#active()) {
          this.#again = false;
          this.wake();
        }
      });
  }

  /**
   * Resolves once no pass is running. A stopping queue awaits it after `active` turned false: a
   * pass already claiming may still start the jobs it claimed, which the stop must then see.
   */
  async idle(): Promise<void> {
    while (this.#running) await this.#current;
  }

  /** Wakes after `ms` (e.g. once a delayed rerun is due), unless the pump is no longer active then. */
  wakeIn(ms: number): void {
    const timer = setTimeout(() => this.#active() && this.wake(), Math.max(0, ms) + 1);
    timer.unref();
  }
}
