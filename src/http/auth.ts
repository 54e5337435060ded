import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { AppError } from '../shared/errors.ts';
import type { AccountService } from '../accounts/account-service.ts';
import type { Principal, User } from '../accounts/types.ts';

export const SESSION_COOKIE = 'theway_session';
export const CSRF_HEADER = 'x-csrf-token';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Resolves who is calling, from a Bearer API token or the session cookie. Cookie-authenticated
 * writes must echo the session's CSRF token in a header, which a cross-site form cannot do.
 */
export function installAuthentication(app: FastifyInstance, accounts: AccountService): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    if (header?.startsWith('Bearer ')) {
      request.principal = await accounts.authenticateApiToken(header.slice(7).trim());
      if (!request.principal) throw new AppError('unauthenticated', 'The API token is not valid or has expired. Create a new one under Settings → API tokens.');
      return;
    }
    const cookie = request.cookies[SESSION_COOKIE];
    if (!cookie) return;
    const principal = await accounts.authenticateSession(cookie);
    if (!principal) return;
    if (!SAFE_METHODS.has(request.method) && principal.kind === 'session') {
      const sent = request.headers[CSRF_HEADER];
      if (typeof sent !== 'string' || !sameSecret(sent, principal.csrfToken)) {
        throw new AppError('forbidden', `Missing or wrong ${CSRF_HEADER} header. Reload the page and try again.`);
      }
    }
    request.principal = principal;
  });
}

/** The signed-in user, or a 401 that tells the client how to authenticate. */
export function requireUser(request: FastifyRequest): User {
  if (!request.principal) throw new AppError('unauthenticated', 'Sign in, or send an API token as "Authorization: Bearer <token>".');
  return request.principal.user;
}

/**
 * The signed-in user of a browser session. For what a leaked API token must not be able to do:
 * minting more tokens would turn one leak into access that outlives revoking it.
 */
export function requireSessionUser(request: FastifyRequest, action: string): User {
  const user = requireUser(request);
  if (request.principal?.kind !== 'session') throw new AppError('forbidden', `An API token cannot ${action}. Sign in to The Way in a browser and do it under Settings → API tokens.`);
  return user;
}

export function setSessionCookie(reply: FastifyReply, token: string, expiresAt: string, secure: boolean): void {
  reply.setCookie(SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure,
    expires: new Date(expiresAt),
  });
}

export function clearSessionCookie(reply: FastifyReply, secure: boolean): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure });
}
