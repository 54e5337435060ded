import type { ModelStatus, ModelType, ModelVisibility } from '../db/schema.ts';

export interface Model {
  id: string;
  name: string;
  description: string;
  visibility: ModelVisibility;
  modelType: ModelType;
  status: ModelStatus;
  /** Training images uploaded so far (the dashboard tells "needs images" from "ready to train"). */
  imageCount: number;
  owner: { id: string; displayName: string };
  isOwner: boolean;
  createdAt: string;
  updatedAt: string;
}
