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
