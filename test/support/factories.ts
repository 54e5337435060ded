import type { Kysely } from 'kysely';
import type { Database, ModelsTable, UsersTable } from '../../src/db/schema.ts';
import { hashPassword } from '../../src/accounts/password.ts';
import { newId } from '../../src/shared/ids.ts';
import { bumpRevisions } from '../../src/db/collection-revisions.ts';
import { ownerModelsKey, PUBLIC_MODELS_KEY } from '../../src/models/model-repository.ts';

export const FACTORY_PASSWORD = 'correct horse battery';

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
