/**
 * How long to wait before opening a new live-event stream after the `failures`-th stream in a row
 * was refused: 1 s doubling to a minute, each wait drawn from its upper half so that every tab of a
 * restarted server does not come back at the same instant.
 */
export function reconnectDelayMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(60_000, 1_000 * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
