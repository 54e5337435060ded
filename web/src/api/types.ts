/**
 * Shapes of the accounts, tokens, models and webhook settings API, derived from the zod schemas
 * the server answers with (src/http/schemas/) and validates requests with. `import type` only: the
 * imports are erased, so neither zod nor server code reaches the bundle (test/unit/web/ checks).
 */
import type { z } from 'zod';
import type { apiTokenResponse, createdTokenResponse, sessionResponse, tokenListResponse, userResponse } from '../../../src/http/schemas/accounts.ts';
import type { modelEnvelope, modelListResponse, modelResponse, modelStatus, modelType, visibility } from '../../../src/http/schemas/models.ts';
import type { createTokenInput, signInInput, signUpInput } from '../../../src/accounts/schemas.ts';
import type { createModelInput, listModelsQuery, updateModelInput } from '../../../src/models/schemas.ts';
import type { webhookResponse, webhookSetResponse, webhookTestResponse, webhookView } from '../../../src/http/schemas/user-webhooks.ts';
import type { webhookUrlInput } from '../../../src/notifications/user-webhook-service.ts';

export type User = z.output<typeof userResponse>;
export type SessionResponse = z.output<typeof sessionResponse>;
export type SignInInput = z.input<typeof signInInput>;
export type SignUpInput = z.input<typeof signUpInput>;

export type ModelType = z.output<typeof modelType>;
export type Visibility = z.output<typeof visibility>;
export type ModelStatus = z.output<typeof modelStatus>;
export type Model = z.output<typeof modelResponse>;
export type ModelEnvelope = z.output<typeof modelEnvelope>;
export type ModelPage = z.output<typeof modelListResponse>;
/** Which list GET /api/models returns: yours, or everyone's public models. */
export type ModelScope = NonNullable<z.input<typeof listModelsQuery>['scope']>;
/** Create New Model's body (description and visibility have server defaults). */
export type ModelInput = z.input<typeof createModelInput>;
/** PATCH /api/models/{id}: any of the fields, at least one. */
export type ModelChanges = z.input<typeof updateModelInput>;

export type ApiToken = z.output<typeof apiTokenResponse>;
export type TokenList = z.output<typeof tokenListResponse>;
export type CreatedToken = z.output<typeof createdTokenResponse>;
export type CreateTokenInput = z.input<typeof createTokenInput>;

/** Settings → Webhook. */
export type Webhook = z.output<typeof webhookView>;
export type WebhookResponse = z.output<typeof webhookResponse>;
/** The answer to PUT: the signing secret is shown this once. */
export type WebhookSetResponse = z.output<typeof webhookSetResponse>;
export type WebhookTestResponse = z.output<typeof webhookTestResponse>;
export type WebhookInput = z.input<typeof webhookUrlInput>;

/**
 * A request body whose values the page takes from the server's own lists (training options,
 * generation controls), which the answers give as plain strings and numbers: the request schema's
 * field names, with its literal types widened. The server checks the values.
 */
export type AsListed<T> = { [K in keyof T]: Widened<T[K]> };
type Widened<V> = V extends string ? string : V extends number ? number : V;

/**
 * One entry of a `validation_failed` error's `details`. The error schema leaves `details` open
 * (it differs per code), so this is read defensively at run time (ApiError.fieldIssues).
 */
export interface FieldIssue {
  path: (string | number)[];
  message: string;
}
