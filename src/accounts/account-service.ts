import { createHash } from 'node:crypto';
import { AppError, conflict, notFound } from '../shared/errors.ts';
import { newId, newSecret } from '../shared/ids.ts';
import { isUniqueViolation } from '../db/database.ts';
import type { AccountRepository } from './account-repository.ts';
import { decoyHash, hashPassword, needsRehash, verifyPassword } from './password.ts';
import type { ApiToken, Principal, User } from './types.ts';
import type { CreateTokenInput, SignInInput, SignUpInput } from './schemas.ts';

export const API_TOKEN_PREFIX = 'tw_';
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const DAY_MS = 86_400_000;
/** Sliding expiry is written at most this often, so every request does not become a write. */
const TOUCH_INTERVAL_MS = 10 * 60_000;

export interface SessionGrant {
  user: User;
  /** The cookie value. Only its hash is stored. */
  sessionToken: string;
  csrfToken: string;
  expiresAt: string;
}

export class AccountService {
  private readonly repo: AccountRepository;
  private readonly sessionTtlMs: number;
  private readonly now: () => Date;

  constructor(repo: AccountRepository, options: { sessionTtlDays: number; now?: () => Date }) {
    this.repo = repo;
    this.sessionTtlMs = options.sessionTtlDays * DAY_MS;
    this.now = options.now ?? (() => new Date());
  }

  async createUser(input: SignUpInput & { role?: User['role'] }): Promise<User> {
    const passwordHash = await hashPassword(input.password);
    try {
      return await this.repo.insertUser({
        id: newId(),
        email: input.email,
        display_name: input.displayName,
        password_hash: passwordHash,
        role: input.role ?? 'user',
        created_at: this.now().toISOString(),
      });
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw conflict('An account with this email already exists. Sign in instead, or use another email.', [
          { path: ['email'], message: 'An account with this email already exists.' },
        ]);
      }
      throw error;
    }
  }

  async signUp(input: SignUpInput, userAgent?: string): Promise<SessionGrant> {
    const user = await this.createUser(input);
    return this.openSession(user, userAgent);
  }

  async signIn(input: SignInInput, userAgent?: string): Promise<SessionGrant> {
    const found = await this.repo.findUserByEmail(input.email);
    // Verify against a decoy when the email is unknown so response time does not reveal which emails exist.
    const ok = await verifyPassword(input.password, found?.passwordHash ?? (await decoyHash()));
    if (!found || !ok) throw new AppError('unauthenticated', 'The email or password is not correct.');
    if (needsRehash(found.passwordHash)) await this.repo.updatePasswordHash(found.user.id, await hashPassword(input.password));
    return this.openSession(found.user, userAgent);
  }

  private async openSession(user: User, userAgent?: string): Promise<SessionGrant> {
    const sessionToken = newSecret(32);
    const csrfToken = newSecret(24);
    const now = this.now();
    const expiresAt = new Date(now.getTime() + this.sessionTtlMs).toISOString();
    await this.repo.insertSession({
      id_hash: sha256(sessionToken),
      user_id: user.id,
      csrf_token: csrfToken,
      user_agent: userAgent?.slice(0, 300) ?? null,
      created_at: now.toISOString(),
      expires_at: expiresAt,
      last_seen_at: now.toISOString(),
    });
    return { user, sessionToken, csrfToken, expiresAt };
  }

  async authenticateSession(sessionToken: string): Promise<Principal | undefined> {
    const idHash = sha256(sessionToken);
    const now = this.now();
    const found = await this.repo.findSession(idHash, now.toISOString());
    if (!found) return undefined;
    if (now.getTime() - Date.parse(found.lastSeenAt) > TOUCH_INTERVAL_MS) {
      await this.repo.touchSession(idHash, now.toISOString(), new Date(now.getTime() + this.sessionTtlMs).toISOString());
    }
    return { kind: 'session', user: found.user, sessionIdHash: idHash, csrfToken: found.csrfToken };
  }

  async signOut(principal: Principal): Promise<void> {
    if (principal.kind === 'session') await this.repo.deleteSession(principal.sessionIdHash);
  }

  async authenticateApiToken(token: string): Promise<Principal | undefined> {
    if (!token.startsWith(API_TOKEN_PREFIX)) return undefined;
    const now = this.now();
    const found = await this.repo.findApiTokenByHash(sha256(token), now.toISOString());
    if (!found) return undefined;
    if (!found.lastUsedAt || now.getTime() - Date.parse(found.lastUsedAt) > TOUCH_INTERVAL_MS) {
      await this.repo.touchApiToken(found.tokenId, now.toISOString());
    }
    return { kind: 'token', user: found.user, tokenId: found.tokenId };
  }

  /**
   * Whether the credential a principal was authenticated with still authenticates: the session not
   * signed out or expired, the API token not revoked or expired. For what outlives its request (a
   * live-event stream); unlike authenticate*, it extends and touches nothing.
   */
  async isStillValid(principal: Principal): Promise<boolean> {
    const now = this.now().toISOString();
    if (principal.kind === 'session') return (await this.repo.findSession(principal.sessionIdHash, now)) !== undefined;
    return this.repo.apiTokenIsActive(principal.tokenId, now);
  }

  /** The secret is returned once and never stored: only its hash is. */
  async createApiToken(userId: string, input: CreateTokenInput): Promise<{ token: ApiToken; secret: string }> {
    const secret = `${API_TOKEN_PREFIX}${newSecret(32)}`;
    const now = this.now();
    const token = await this.repo.insertApiToken({
      id: newId(),
      user_id: userId,
      name: input.name,
      token_hash: sha256(secret),
      prefix: secret.slice(0, API_TOKEN_PREFIX.length + 6),
      created_at: now.toISOString(),
      last_used_at: null,
      expires_at: input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * DAY_MS).toISOString() : null,
    });
    return { token, secret };
  }

  listApiTokens(userId: string): Promise<ApiToken[]> {
    return this.repo.listApiTokens(userId);
  }

  async revokeApiToken(userId: string, tokenId: string): Promise<void> {
    if (!(await this.repo.deleteApiToken(userId, tokenId))) throw notFound('API token');
  }

  deleteExpiredSessions(): Promise<number> {
    return this.repo.deleteExpiredSessions(this.now().toISOString());
  }
}
