/**
 * The one schema both dialects share. Timestamps are ISO-8601 text and flags are
 * text enums, so SQLite and PostgreSQL return identical rows to the repositories.
 */
export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  models: ModelsTable;
  jobs: JobsTable;
  collection_revisions: CollectionRevisionsTable;
  dataset_images: DatasetImagesTable;
  model_datasets: ModelDatasetsTable;
  trainings: TrainingsTable;
  training_loss: TrainingLossTable;
  webhook_deliveries: WebhookDeliveriesTable;
  provider_settings: ProviderSettingsTable;
  user_webhooks: UserWebhooksTable;
  generations: GenerationsTable;
  generation_images: GenerationImagesTable;
  prompt_recipes: PromptRecipesTable;
  generation_usage: GenerationUsageTable;
  rate_limit_counters: RateLimitCountersTable;
  generation_links: GenerationLinksTable;
}

export interface RateLimitCountersTable {
  key: string;
  /** Hits in the current window. */
  hits: number;
  /** Hits in the window before it (sliding windows weigh them by how much still overlaps). */
  prev_hits: number;
  /** End of the current window, epoch milliseconds (a multiple of the window length); PostgreSQL returns bigint as a string. */
  reset_at_ms: number | string;
}

export interface CollectionRevisionsTable {
  key: string;
  rev: number;
}

export interface UsersTable {
  id: string;
  email: string;
  display_name: string;
  password_hash: string;
  role: 'user' | 'admin';
  created_at: string;
}

export interface SessionsTable {
  /** sha256 of the cookie value: a leaked database cannot be replayed as a session. */
  id_hash: string;
  user_id: string;
  csrf_token: string;
  user_agent: string | null;
  created_at: string;
  expires_at: string;
  last_seen_at: string;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  token_hash: string;
  /** First characters of the token, shown in lists so a user can tell tokens apart. */
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
}

export type ModelVisibility = 'public' | 'private';
export type ModelType = 'person' | 'style' | 'object';
export type ModelStatus = 'draft' | 'training' | 'ready' | 'failed';

export interface ModelsTable {
  id: string;
  owner_id: string;
  name: string;
  /** lower-cased trimmed name; unique per owner so "Rex" and "rex" cannot coexist. */
  name_key: string;
  description: string;
  visibility: ModelVisibility;
  model_type: ModelType;
  status: ModelStatus;
  created_at: string;
  updated_at: string;
}

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed';

export interface JobsTable {
  id: string;
  name: string;
  payload: string;
  state: JobState;
  /** Two jobs with the same singleton key never wait or run at the same time. */
  singleton_key: string | null;
  attempts: number;
  max_attempts: number;
  run_after: string;
  locked_by: string | null;
  locked_until: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface TrainingsTable {
  id: string;
  model_id: string;
  owner_id: string;
  status: 'draft' | 'queued' | 'submitting' | 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';
  base_model: string;
  preset: string;
  resolution: number;
  epochs: number;
  steps: number;
  image_count: number;
  trigger_word: string;
  /** JSON: the trainer input (without input_images). */
  inputs: string;
  formula: string;
  /** JSON: the Estimate shown before Start Training. */
  estimate: string;
  retrain_of: string | null;
  trainer: string;
  trainer_version: string | null;
  destination: string | null;
  dataset_key: string | null;
  dataset_url: string | null;
  remote_id: string | null;
  remote_status: string | null;
  submit_attempted_at: string | null;
  cancel_requested_at: string | null;
  stage: string | null;
  progress_step: number | null;
  progress_total: number | null;
  progress_percent: number | null;
  it_per_second: number | null;
  trainer_eta_seconds: number | null;
  loss: number | null;
  /** JSON: TrainingLogState of the incremental log parser. */
  log_state: string | null;
  log_tail: string | null;
  failure_kind: string | null;
  failure_message: string | null;
  provider_error: string | null;
  output_version: string | null;
  weights_url: string | null;
  weights_key: string | null;
  weights_bytes: number | null;
  predict_seconds: number | null;
  queued_at: string | null;
  started_at: string | null;
  training_started_at: string | null;
  completed_at: string | null;
  last_event_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface TrainingLossTable {
  training_id: string;
  step: number;
  loss: number;
  mean_loss: number;
}

export interface WebhookDeliveriesTable {
  id: string;
  received_at: string;
}

export interface ProviderSettingsTable {
  key: string;
  value: string;
  updated_at: string;
}

export interface DatasetImagesTable {
  id: string;
  model_id: string;
  sha256: string;
  original_name: string;
  image_key: string;
  thumb_key: string;
  width: number;
  height: number;
  format: string;
  bytes: number;
  /** 0 or 1. */
  had_alpha: number;
  /** JSON: ImageMetrics without the hash. */
  metrics: string;
  perceptual_hash: string;
  caption: string;
  created_at: string;
}

export interface ModelDatasetsTable {
  model_id: string;
  /** Null: derived from the model name. */
  trigger_word: string | null;
  caption_prefix: string;
  updated_at: string;
}

export interface UserWebhooksTable {
  user_id: string;
  url: string;
  secret: string;
  created_at: string;
  last_delivery_at: string | null;
  last_delivery_status: string | null;
}

export type GenerationStatus = 'queued' | 'submitting' | 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled';

export interface GenerationsTable {
  id: string;
  owner_id: string;
  model_id: string;
  training_id: string;
  status: GenerationStatus;
  prompt: string;
  negative_prompt: string | null;
  /** JSON: GenerationParams with the seed actually used. */
  params: string;
  /** JSON: the exact input sent to the provider. */
  input: string;
  /** Null: private to its author; set: shown on the model's showcase to everyone who can see the model. */
  shared_at: string | null;
  batch_id: string | null;
  remote_id: string | null;
  submit_attempted_at: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

export interface GenerationImagesTable {
  generation_id: string;
  position: number;
  blob_key: string;
  content_type: string;
  bytes: number;
  width: number;
  height: number;
}

export interface PromptRecipesTable {
  id: string;
  owner_id: string;
  model_id: string;
  name: string;
  name_key: string;
  prompt: string;
  negative_prompt: string | null;
  params: string;
  created_at: string;
  updated_at: string;
}

/** One row per generation request, kept for the hourly quota window even after deletion. */
export interface GenerationUsageTable {
  id: string;
  owner_id: string;
  count: number;
  created_at: string;
}

/** A public link to one finished generation; deleting the row turns the link off. */
export interface GenerationLinksTable {
  generation_id: string;
  /** 32 random bytes, base64url: the capability in `/s/<token>`. Stored as issued, so the owner can copy it again. */
  token: string;
  /** 0 or 1: the public page shows the prompt. */
  include_prompt: number;
  created_at: string;
}
