import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../../src/shared/semaphore.ts';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('Semaphore', () => {
  it('lets at most `slots` tasks run at once, the others in arrival order, and frees slots on failure too', async () => {
    const sem = new Semaphore(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((gate, i) =>
      sem.run(async () => {
        started.push(i);
        await gate.promise;
        if (i === 0) throw new Error('first task fails');
        return i;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1]);
    gates[0]!.resolve();
    await expect(runs[0]).rejects.toThrow('first task fails');
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    gates[1]!.resolve();
    gates[2]!.resolve();
    gates[3]!.resolve();
    expect(await Promise.all(runs.slice(1))).toEqual([1, 2, 3]);
    expect(started).toEqual([0, 1, 2, 3]);
  });

  it('refuses a semaphore without slots', () => {
    expect(() => new Semaphore(0)).toThrow(/at least one slot/);
  });
});
