/** Shapes the server's JSON API returns. Kept in the browser app because the server's own
 * types live next to Node-only code that must not end up in the bundle. */

export interface User {
  id: string;
  email: string;
  displayName: string;
  createdAt: string;
}

export type ModelType = 'person' | 'style' | 'object';
export type Visibility = 'public' | 'private';
export type ModelStatus = 'draft' | 'training' | 'ready' | 'failed';

export interface Model {
  id: string;
  name: string;
  description: string;
  visibility: Visibility;
  modelType: ModelType;
  status: ModelStatus;
  imageCount: number;
  owner: { id: string; displayName: string };
  isOwner: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface ApiToken {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
}

export interface FieldIssue {
  path: (string | number)[];
  message: string;
}
