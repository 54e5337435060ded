/** The generation port: running a trained version and fetching what it produced. */
export interface RemotePrediction {
  id: string;
  status: 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled' | 'aborted';
  /** Output file URLs once succeeded (they expire within the hour: copy them at once). */
  output: string[] | null;
  error: string | null;
}

/** One JSON-schema property of a version's input (the subset we check before paying). */
export interface InputProperty {
  type?: string;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
}

/** A version's `openapi_schema` Input: its properties and which of them are required. */
export interface InputSchema {
  properties: Record<string, InputProperty>;
  required: string[];
}

export interface DownloadedOutput {
  bytes: Buffer;
  /** As the file server labelled it; the caller verifies it against the bytes. */
  contentType: string | null;
}

/**
 * Errors follow the training port's convention (`isProviderError`): `retryable` for transient
 * trouble, `outcomeUnknown` when a create may have happened, `status` for HTTP answers.
 */
export interface GenerationProvider {
  /** `owner/name:<version id>` as stored on the training. */
  inputSchema(versionRef: string): Promise<InputSchema>;
  createPrediction(versionRef: string, input: Record<string, unknown>): Promise<RemotePrediction>;
  getPrediction(id: string): Promise<RemotePrediction>;
  cancelPrediction(id: string): Promise<RemotePrediction>;
  /** Fetches one output file (bounded in size). */
  download(url: string): Promise<DownloadedOutput>;
}
