import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AppError } from '../../shared/errors.ts';
import type { AccountService } from '../../accounts/account-service.ts';
import { signInInput, signUpInput } from '../../accounts/schemas.ts';
import type { User } from '../../accounts/types.ts';
import { clearSessionCookie, requireUser, setSessionCookie } from '../auth.ts';
import { commonErrors, errorResponse, sessionResponse, noContent } from '../response-schemas.ts';

export interface AuthRouteOptions {
  accounts: AccountService;
  cookieSecure: boolean;
  signupEnabled: boolean;
  loginRateLimit: { max: number; timeWindow: string };
}

const publicUser = (u: User) => ({ id: u.id, email: u.email, displayName: u.displayName, createdAt: u.createdAt });

export const authRoutes = (opts: AuthRouteOptions): FastifyPluginAsyncZod => async (app) => {
  // Per IP and email: guessing one account's password and spraying many accounts from one address are both slowed.
  const loginLimit = {
    rateLimit: {
      // preHandler, not onRequest: the key needs the parsed body's email.
      hook: 'preHandler' as const,
      max: opts.loginRateLimit.max,
      timeWindow: opts.loginRateLimit.timeWindow,
      keyGenerator: (req: { ip: string; body?: unknown }) => {
        const email = (req.body as { email?: unknown } | undefined)?.email;
        return `login:${req.ip}:${typeof email === 'string' ? email.trim().toLowerCase() : ''}`;
      },
      errorResponseBuilder: (_req: unknown, ctx: { after: string }) => ({
        statusCode: 429,
        message: `Too many sign-in attempts. Wait ${ctx.after} and try again.`,
      }),
    },
  };

  app.post(
    '/api/auth/signup',
    {
      config: loginLimit,
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
      setSessionCookie(reply, grant.sessionToken, grant.expiresAt, opts.cookieSecure);
      return reply.code(201).send({ user: publicUser(grant.user), csrfToken: grant.csrfToken });
    },
  );

  app.post(
    '/api/auth/signin',
    {
      config: loginLimit,
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password',
        body: signInInput,
        response: { 200: sessionResponse, 400: errorResponse, 401: errorResponse, 429: errorResponse },
      },
    },
    async (request, reply) => {
      const grant = await opts.accounts.signIn(request.body, request.headers['user-agent']);
      setSessionCookie(reply, grant.sessionToken, grant.expiresAt, opts.cookieSecure);
      return { user: publicUser(grant.user), csrfToken: grant.csrfToken };
    },
  );

  app.post(
    '/api/auth/signout',
    { schema: { tags: ['auth'], summary: 'End the current session', response: { ...noContent, ...commonErrors } } },
    async (request, reply) => {
      if (request.principal) await opts.accounts.signOut(request.principal);
      clearSessionCookie(reply, opts.cookieSecure);
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
