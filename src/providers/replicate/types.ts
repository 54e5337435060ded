/** Shapes of Replicate API objects, as far as this project reads them (see replicate-contract.md). */

export type ReplicateStatus = 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled' | 'aborted';

export const TERMINAL_STATUSES: readonly ReplicateStatus[] = ['succeeded', 'failed', 'canceled', 'aborted'];

/** `aborted` counts: it ends a job that never ran, and the npm client's `wait()` misses it. */
export function isTerminalStatus(status: string): boolean {
  return (TERMINAL_STATUSES as readonly string[]).includes(status);
}

export type WebhookEventType = 'start' | 'output' | 'logs' | 'completed';

export interface ReplicatePage<T> {
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface ReplicateFile {
  id: string;
  content_type: string;
  size: number;
  checksums: { sha256: string; [algorithm: string]: string };
  metadata: Record<string, unknown>;
  created_at: string;
  expires_at: string | null;
  urls: { get: string };
}

export interface ReplicateVersion {
  id: string;
  created_at: string;
  cog_version: string | null;
  openapi_schema: OpenApiSchema | null;
}

/** Only the part of a Cog OpenAPI document we read: `components.schemas.Input`. */
export interface OpenApiSchema {
  openapi?: string;
  components?: { schemas?: { Input?: JsonSchemaObject; [name: string]: JsonSchemaObject | undefined } };
  [key: string]: unknown;
}

export interface JsonSchemaObject {
  type?: string;
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchemaProperty>;
  required?: string[];
  [key: string]: unknown;
}

export interface JsonSchemaProperty {
  type?: 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object';
  format?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  enum?: unknown[];
  allOf?: Array<{ $ref?: string; enum?: unknown[]; type?: string }>;
  description?: string;
  'x-order'?: number;
  [key: string]: unknown;
}

export type ModelVisibility = 'public' | 'private';

export interface ReplicateModel {
  url: string;
  owner: string;
  name: string;
  description: string | null;
  visibility: ModelVisibility;
  github_url?: string | null;
  paper_url?: string | null;
  license_url?: string | null;
  run_count?: number;
  cover_image_url?: string | null;
  default_example?: unknown;
  latest_version: ReplicateVersion | null;
}

interface JobBase {
  id: string;
  model: string;
  version: string;
  input: Record<string, unknown>;
  logs: string | null;
  error: string | null;
  status: ReplicateStatus;
  source?: 'api' | 'web';
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  metrics?: { predict_time?: number; total_time?: number; [name: string]: number | undefined };
  urls: { get: string; cancel: string; web?: string; stream?: string };
  webhook?: string | null;
  webhook_events_filter?: WebhookEventType[];
}

export interface TrainingOutput {
  /** `owner/name:<64-hex id>` of the version the training created. */
  version: string;
  /** URL of `trained_model.tar`; expires, so copy it at once. */
  weights: string;
}

export interface ReplicateTraining extends JobBase {
  output: TrainingOutput | null;
  /** Not reliably echoed by Replicate: store the destination yourself. */
  destination?: string;
}

export interface ReplicatePrediction extends JobBase {
  /** Image generators return a list of URLs; other models return anything JSON. */
  output: unknown;
  data_removed?: boolean;
}
