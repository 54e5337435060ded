import type { GenerationProvider, InputSchema, RemotePrediction } from '../generation-provider.ts';
import type { ReplicateClient } from './client.ts';
import type { ReplicatePrediction } from './types.ts';

const toRemote = (p: ReplicatePrediction): RemotePrediction => ({
  id: p.id,
  status: p.status,
  output: Array.isArray(p.output) ? p.output.filter((o): o is string => typeof o === 'string') : typeof p.output === 'string' ? [p.output] : null,
  error: typeof p.error === 'string' ? p.error : p.error ? JSON.stringify(p.error) : null,
});

export class ReplicateGenerationProvider implements GenerationProvider {
  readonly #client: ReplicateClient;
  readonly #schemas = new Map<string, Promise<InputSchema>>();
  readonly #fetch: typeof fetch;

  constructor(client: ReplicateClient, options: { fetch?: typeof fetch } = {}) {
    this.#client = client;
    this.#fetch = options.fetch ?? fetch;
  }

  inputSchema(versionRef: string): Promise<InputSchema> {
    // A version never changes: its schema is fetched once per process.
    let cached = this.#schemas.get(versionRef);
    if (!cached) {
      const [model, id] = versionRef.split(':') as [string, string];
      const [owner, name] = model.split('/') as [string, string];
      cached = this.#client.getVersion(owner, name, id).then((v) => (v.openapi_schema?.components?.schemas?.Input?.properties ?? {}) as InputSchema);
      cached.catch(() => this.#schemas.delete(versionRef));
      this.#schemas.set(versionRef, cached);
    }
    return cached;
  }

  async createPrediction(versionRef: string, input: Record<string, unknown>): Promise<RemotePrediction> {
    // Prefer: wait returns finished short predictions in the create call itself, saving a poll.
    return toRemote(await this.#client.createPrediction({ version: versionRef.split(':')[1]!, input, waitSeconds: 5 }));
  }

  async getPrediction(id: string): Promise<RemotePrediction> {
    return toRemote(await this.#client.getPrediction(id));
  }

  async download(url: string): Promise<Buffer> {
    const res = await this.#fetch(url, { signal: AbortSignal.timeout(60_000) });
    if (!res.ok) throw Object.assign(new Error(`Downloading a generated image failed with HTTP ${res.status}.`), { retryable: res.status >= 500 || res.status === 429, outcomeUnknown: false });
    return Buffer.from(await res.arrayBuffer());
  }
}
