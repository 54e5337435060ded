/**
 * Re-reads `read` until `ok` accepts its value (asynchronous work: jobs, webhooks, emulator
 * timelines). Fails with the last value seen, so a timeout says what state things were stuck in.
 */
export async function until<T>(read: () => Promise<T> | T, ok: (value: T) => boolean, what: string, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}; last: ${JSON.stringify(value)?.slice(0, 400)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
