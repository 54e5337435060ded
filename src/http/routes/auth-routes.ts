import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError } from '../../shared/errors.ts';
import type { AccountService } from '../../accounts/account-service.ts';
import { signInInput, signUpInput } from '../../accounts/schemas.ts';
import type { User } from '../../accounts/types.ts';
import { clearSessionCookie, requireUser, setSessionCookie } from '../auth.ts';
import { sessionResponse } from '../schemas/accounts.ts';
import { commonErrors, errorResponse, noContent } from '../schemas/common.ts';

export interface AuthRouteOptions {
  accounts: AccountService;
  cookieSecure: boolean;
  signupEnabled: boolean;
}

const publicUser = (u: User) => ({ id: u.id, email: u.email, displayName: u.displayName, role: u.role, createdAt: u.createdAt });

export const authRoutes = (opts: AuthRouteOptions): FastifyPluginAsyncZod => async (app) => {
  // Secure when configured, and whenever the request came over HTTPS (as a trusted proxy reports it).
  const secure = (request: FastifyRequest) => opts.cookieSecure || request.protocol === 'https';
  // Sign-in and sign-up are rate-limited per address (and per address and email) in ../rate-limits.ts.
  app.post(
    '/api/auth/signup',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an account and sign in',
        body: signUpInput,
        response: { 201: sessionResponse, 400: errorResponse, 403: errorResponse, 409: errorResponse, 429: errorResponse },
      },
    },
    async (request, reply) => {
      if (!opts.signupEnabled) throw new AppError('forbidden', 'Sign-up is disabled on this server. Ask the administrator for an account.');
      const grant = await opts.accounts.signUp(request.body, request.headers['user-agent']);
      setSessionCookie(reply, grant.sessionToken, grant.expiresAt, secure(request));
      return reply.code(201).send({ user: publicUser(grant.user), csrfToken: grant.csrfToken });
    },
  );

  app.post(
    '/api/auth/signin',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password',
        body: signInInput,
        response: { 200: sessionResponse, 400: errorResponse, 401: errorResponse, 429: errorResponse },
      },
    },
    async (request, reply) => {
      const grant = await opts.accounts.signIn(request.body, request.headers['user-agent']);
      setSessionCookie(reply, grant.sessionToken, grant.expiresAt, secure(request));
      return { user: publicUser(grant.user), csrfToken: grant.csrfToken };
    },
  );

  app.post(
    '/api/auth/signout',
    { schema: { tags: ['auth'], summary: 'End the current session', response: { ...noContent, ...commonErrors } } },
    async (request, reply) => {
      if (request.principal) await opts.accounts.signOut(request.principal);
      clearSessionCookie(reply, secure(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/auth/session',
    { schema: { tags: ['auth'], summary: 'The signed-in user and the CSRF token for writes', response: { 200: sessionResponse, ...commonErrors } } },
    async (request) => {
      const user = requireUser(request);
      const principal = request.principal;
      // API-token callers need no CSRF token; they get an empty one.
      return { user: publicUser(user), csrfToken: principal?.kind === 'session' ? principal.csrfToken : '' };
    },
  );
};
