/** The generation port: running a trained version and fetching what it produced. */
export interface RemotePrediction {
  id: string;
  status: 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled' | 'aborted';
  /** Output file URLs once succeeded (they expire within the hour: copy them at once). */
  output: string[] | null;
  error: string | null;
}

/** JSON-schema properties of a version's inputs (name → constraints). */
export type InputSchema = Record<string, { type?: string; minimum?: number; maximum?: number; enum?: unknown[] }>;

export interface GenerationProvider {
  /** `owner/name:<version id>` as stored on the training. */
  inputSchema(versionRef: string): Promise<InputSchema>;
  createPrediction(versionRef: string, input: Record<string, unknown>): Promise<RemotePrediction>;
  getPrediction(id: string): Promise<RemotePrediction>;
  download(url: string): Promise<Buffer>;
}
