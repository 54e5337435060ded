import type { Kysely } from 'kysely';
import type { Database, ModelsTable, UsersTable } from '../../src/db/schema.ts';
import { hashPassword } from '../../src/accounts/password.ts';
import { newId } from '../../src/shared/ids.ts';
import { bumpRevisions } from '../../src/db/collection-revisions.ts';
import { ownerModelsKey, PUBLIC_MODELS_KEY } from '../../src/models/model-repository.ts';
import { registerSecret } from './secrets-registry.ts';

export const FACTORY_PASSWORD = 'correct horse battery';
registerSecret('factory password', FACTORY_PASSWORD);

/**
 * Factories insert real rows. The password hash uses a cheap scrypt cost (the cost is
 * stored in the hash) so suites stay fast; signing in upgrades it like any old hash.
 */
let cheapHash: Promise<string> | undefined;
const factoryHash = () => (cheapHash ??= hashPassword(FACTORY_PASSWORD, { N: 1024, r: 8, p: 1 }));

let counter = 0;
const unique = () => `${Date.now().toString(36)}${(counter++).toString(36)}`;

export async function insertUser(db: Kysely<Database>, overrides: Partial<UsersTable> = {}) {
  const n = unique();
  const row: UsersTable = {
    id: newId(),
    email: `user-${n}@example.test`,
    display_name: `User ${n}`,
    password_hash: await factoryHash(),
    role: 'user',
    created_at: new Date().toISOString(),
    ...overrides,
  };
  await db.insertInto('users').values(row).execute();
  return { id: row.id, email: row.email, displayName: row.display_name, role: row.role, createdAt: row.created_at };
}

export async function insertModel(db: Kysely<Database>, ownerId: string, overrides: Partial<ModelsTable> = {}) {
  const at = overrides.created_at ?? new Date().toISOString();
  const name = overrides.name ?? `Model ${unique()}`;
  const row: ModelsTable = {
    id: newId(),
    owner_id: ownerId,
    name,
    name_key: name.toLowerCase(),
    description: '',
    visibility: 'private',
    model_type: 'person',
    status: 'draft',
    created_at: at,
    updated_at: at,
    ...overrides,
  };
  await db.insertInto('models').values(row).execute();
  // Like every write path, the factory bumps the collection revisions that cached lists depend on.
  await bumpRevisions(db, [ownerModelsKey(ownerId), ...(row.visibility === 'public' ? [PUBLIC_MODELS_KEY] : [])]);
  return row;
}

/** A training row in any status (default: succeeded with weights), as the trainings service would leave it. */
export async function insertTraining(db: Kysely<Database>, ownerId: string, modelId: string, overrides: Partial<import('../../src/db/schema.ts').TrainingsTable> = {}) {
  const at = new Date().toISOString();
  const row: import('../../src/db/schema.ts').TrainingsTable = {
    id: newId(), model_id: modelId, owner_id: ownerId, status: 'succeeded', base_model: 'flux-dev', preset: 'standard', resolution: 1024,
    epochs: 2, steps: 1000, image_count: 20, trigger_word: 'REXDOG', inputs: JSON.stringify({ steps: 1000 }), formula: '2 epochs × 20 images × 25 repeats ÷ batch 1 = 1000 steps',
    estimate: JSON.stringify({ durationSeconds: { min: 1, expected: 2, max: 3 }, costUsd: { min: 1, expected: 2, max: 3 }, hardware: 'H100', basis: 'table', basedOnRuns: 0 }),
    retrain_of: null, trainer: 'ostris/flux-dev-lora-trainer', trainer_version: 'v1', destination: 'theway/loras', dataset_key: null, dataset_url: null,
    remote_id: `r${unique()}`, remote_status: 'succeeded', submit_attempted_at: at, cancel_requested_at: null, stage: 'finished', progress_step: 999, progress_total: 1000,
    progress_percent: 100, it_per_second: 1.2, trainer_eta_seconds: 0, loss: 0.3, log_state: null, log_tail: '', failure_kind: null, failure_message: null, provider_error: null,
    output_version: `theway/loras:${'a'.repeat(64)}`, weights_url: null, weights_key: null, weights_bytes: null, predict_seconds: 900,
    queued_at: at, started_at: at, training_started_at: at, completed_at: at, last_event_at: at, created_at: at, updated_at: at,
    ...overrides,
  };
  await db.insertInto('trainings').values(row).execute();
  return row;
}
