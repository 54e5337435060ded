import type { Kysely, Selectable } from 'kysely';
import type { Database, UsersTable, ApiTokensTable } from '../db/schema.ts';
import { reusableQuery } from '../db/reusable-query.ts';
import type { ApiToken, User } from './types.ts';

const toUser = (row: Selectable<UsersTable>): User => ({
  id: row.id,
  email: row.email,
  displayName: row.display_name,
  role: row.role,
  createdAt: row.created_at,
});

const toToken = (row: Selectable<ApiTokensTable>): ApiToken => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  expiresAt: row.expires_at,
});

const tokenLookup = reusableQuery((db: Kysely<Database>, a: { tokenHash: string; now: string }) =>
  db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .select(['api_tokens.id as token_id', 'api_tokens.last_used_at', 'users.id', 'users.email', 'users.display_name',
      'users.role', 'users.created_at', 'users.password_hash'])
    .where('api_tokens.token_hash', '=', a.tokenHash)
    .where((eb) => eb.or([eb('api_tokens.expires_at', 'is', null), eb('api_tokens.expires_at', '>', a.now)])), ['tokenHash', 'now']);

const sessionLookup = reusableQuery((db: Kysely<Database>, a: { idHash: string; now: string }) =>
  db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select(['sessions.id_hash', 'sessions.csrf_token', 'sessions.last_seen_at', 'users.id', 'users.email',
      'users.display_name', 'users.role', 'users.created_at', 'users.password_hash'])
    .where('sessions.id_hash', '=', a.idHash)
    .where('sessions.expires_at', '>', a.now), ['idHash', 'now']);

export class AccountRepository {
  private readonly db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.db = db;
  }

  async insertUser(row: Selectable<UsersTable>): Promise<User> {
    await this.db.insertInto('users').values(row).execute();
    return toUser(row);
  }

  async findUserByEmail(email: string): Promise<{ user: User; passwordHash: string } | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    return row && { user: toUser(row), passwordHash: row.password_hash };
  }

  async findUserById(id: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toUser(row);
  }

  async updatePasswordHash(userId: string, passwordHash: string): Promise<void> {
    await this.db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
  }

  async insertSession(row: Selectable<Database['sessions']>): Promise<void> {
    await this.db.insertInto('sessions').values(row).execute();
  }

  /** Runs on every cookie request, hence compiled once. */
  async findSession(idHash: string, now: string) {
    const [row] = await sessionLookup(this.db, { idHash, now });
    return row && { user: toUser(row), csrfToken: row.csrf_token, lastSeenAt: row.last_seen_at };
  }

  async touchSession(idHash: string, lastSeenAt: string, expiresAt: string): Promise<void> {
    await this.db.updateTable('sessions').set({ last_seen_at: lastSeenAt, expires_at: expiresAt }).where('id_hash', '=', idHash).execute();
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }

  async deleteExpiredSessions(now: string): Promise<number> {
    const result = await this.db.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async insertApiToken(row: Selectable<ApiTokensTable>): Promise<ApiToken> {
    await this.db.insertInto('api_tokens').values(row).execute();
    return toToken(row);
  }

  /** Runs on every API-token request, hence compiled once. */
  async findApiTokenByHash(tokenHash: string, now: string) {
    const [row] = await tokenLookup(this.db, { tokenHash, now });
    return row && { user: toUser(row), tokenId: row.token_id, lastUsedAt: row.last_used_at };
  }

  /** Whether the token still authenticates (not revoked, not expired, its user still there). */
  async apiTokenIsActive(id: string, now: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .select('api_tokens.id')
      .where('api_tokens.id', '=', id)
      .where((eb) => eb.or([eb('api_tokens.expires_at', 'is', null), eb('api_tokens.expires_at', '>', now)]))
      .executeTakeFirst();
    return row !== undefined;
  }

  async touchApiToken(id: string, at: string): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  async listApiTokens(userId: string): Promise<ApiToken[]> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at', 'desc').execute();
    return rows.map(toToken);
  }

  async deleteApiToken(userId: string, id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('api_tokens').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
