import { until } from './until.ts';

export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
}

export interface SseStream {
  status: number;
  contentType: string | null;
  headers: Headers;
  /** Every frame received so far, in order (the `retry` preamble included). */
  frames: SseFrame[];
  /** The server ended the stream (the response body finished). */
  readonly ended: boolean;
  /** Data frames (events and resyncs). */
  dataFrames(): SseFrame[];
  /** Waits until `ok` accepts the frames received so far. */
  waitFor(ok: (frames: SseFrame[]) => boolean, what: string): Promise<SseFrame[]>;
  /** Waits until the server ends the stream; resolves with the time that took. */
  waitForEnd(what: string, ms?: number): Promise<number>;
  close(): void;
}

/**
 * Opens a real SSE stream and parses its frames in the background. Resolves once the server's
 * `retry` preamble arrived: the route registers the stream in the same tick it writes that, so
 * whatever is published afterwards reaches this stream (no sleeping to "let it subscribe").
 */
export async function openSse(url: string, headers: Record<string, string>): Promise<SseStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers, signal: controller.signal });
  const frames: SseFrame[] = [];
  let ended = false;
  const stream: SseStream = {
    status: res.status,
    contentType: res.headers.get('content-type'),
    headers: res.headers,
    frames,
    get ended() {
      return ended;
    },
    dataFrames: () => frames.filter((f) => f.data !== undefined),
    waitFor: (ok, what) => until(() => frames, ok, what),
    waitForEnd: async (what, ms) => {
      const start = Date.now();
      await until(() => ended, (e) => e, what, ms);
      return Date.now() - start;
    },
    close: () => controller.abort(),
  };
  if (res.status !== 200 || !res.body) {
    controller.abort();
    return stream;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          ended = true;
          return;
        }
        buffer += decoder.decode(value, { stream: true });
        let i;
        while ((i = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const frame: SseFrame = {};
          for (const line of block.split('\n')) {
            const colon = line.indexOf(':');
            if (colon <= 0) continue; // comments (keep-alives) and blank lines
            const key = line.slice(0, colon);
            const value = line.slice(colon + 1).replace(/^ /, '');
            if (key === 'id' || key === 'event' || key === 'data' || key === 'retry') frame[key] = value;
          }
          if (Object.keys(frame).length > 0) frames.push(frame);
        }
      }
    } catch {
      // Aborted by close(), or the server cut the connection (which ends the stream too).
      if (!controller.signal.aborted) ended = true;
    }
  })();
  await stream.waitFor((f) => f.some((frame) => frame.retry !== undefined), 'the stream preamble');
  return stream;
}
