import type { DownloadedOutput, GenerationProvider, InputProperty, InputSchema, RemotePrediction } from '../generation-provider.ts';
import type { ReplicateClient } from './client.ts';
import type { ReplicatePrediction } from './types.ts';

/** A generated image is a few MB at most; anything far bigger is not what we asked for. */
export const MAX_OUTPUT_BYTES = 50 * 2 ** 20;

const toRemote = (p: ReplicatePrediction): RemotePrediction => ({
  id: p.id,
  status: p.status,
  output: Array.isArray(p.output) ? p.output.filter((o): o is string => typeof o === 'string') : typeof p.output === 'string' ? [p.output] : null,
  error: typeof p.error === 'string' ? p.error : p.error ? JSON.stringify(p.error) : null,
});

const downloadError = (message: string, init: { retryable: boolean; status?: number }) =>
  Object.assign(new Error(message), { retryable: init.retryable, outcomeUnknown: false, ...(init.status !== undefined && { status: init.status }) });

function parseVersionRef(versionRef: string): { owner: string; name: string; id: string } {
  const match = /^([^/:\s]+)\/([^/:\s]+):([0-9a-f]{64})$/i.exec(versionRef);
  if (!match) throw new Error(`Not a version reference (owner/name:<64-hex id>): ${versionRef.slice(0, 100)}`);
  return { owner: match[1]!, name: match[2]!, id: match[3]! };
}

export class ReplicateGenerationProvider implements GenerationProvider {
  readonly #client: ReplicateClient;
  readonly #schemas = new Map<string, Promise<InputSchema>>();
  readonly #fetch: typeof fetch;
  readonly #waitSeconds: number;

  constructor(client: ReplicateClient, options: { fetch?: typeof fetch; waitSeconds?: number } = {}) {
    this.#client = client;
    this.#fetch = options.fetch ?? fetch;
    this.#waitSeconds = options.waitSeconds ?? 5;
  }

  inputSchema(versionRef: string): Promise<InputSchema> {
    // A version never changes: its schema is fetched once per process; a failed fetch is retried next time.
    let cached = this.#schemas.get(versionRef);
    if (!cached) {
      const { owner, name, id } = parseVersionRef(versionRef);
      cached = this.#client.getVersion(owner, name, id).then((v) => {
        const input = v.openapi_schema?.components?.schemas?.Input as { properties?: Record<string, InputProperty>; required?: string[] } | undefined;
        return { properties: input?.properties ?? {}, required: Array.isArray(input?.required) ? input.required : [] };
      });
      cached.catch(() => this.#schemas.delete(versionRef));
      this.#schemas.set(versionRef, cached);
    }
    return cached;
  }

  async createPrediction(versionRef: string, input: Record<string, unknown>): Promise<RemotePrediction> {
    // Prefer: wait returns short predictions finished in the create call itself, saving a poll.
    return toRemote(await this.#client.createPrediction({ version: parseVersionRef(versionRef).id, input, waitSeconds: this.#waitSeconds }));
  }

  async getPrediction(id: string): Promise<RemotePrediction> {
    return toRemote(await this.#client.getPrediction(id));
  }

  async cancelPrediction(id: string): Promise<RemotePrediction> {
    return toRemote(await this.#client.cancelPrediction(id));
  }

  async download(url: string): Promise<DownloadedOutput> {
    let res: Response;
    try {
      res = await this.#fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(120_000) });
    } catch (error) {
      throw downloadError(`Downloading a generated image failed: ${(error as Error).message}`, { retryable: true });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw downloadError(`Downloading a generated image failed with HTTP ${res.status}.`, { retryable: res.status >= 500 || res.status === 429, status: res.status });
    }
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > MAX_OUTPUT_BYTES) {
      await res.body?.cancel();
      throw downloadError(`A generated image is larger than ${MAX_OUTPUT_BYTES} bytes.`, { retryable: false });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of (res.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > MAX_OUTPUT_BYTES) throw downloadError(`A generated image is larger than ${MAX_OUTPUT_BYTES} bytes.`, { retryable: false });
      chunks.push(Buffer.from(chunk));
    }
    return { bytes: Buffer.concat(chunks), contentType: res.headers.get('content-type') };
  }
}
