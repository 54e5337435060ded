import { z } from 'zod';

/** What the API shows of an account: never the password hash or other users' emails. */
export const userResponse = z.object({
  id: z.string(),
  email: z.string(),
  displayName: z.string(),
  /** `admin` sees the operator's view (/admin); set with `theway create-user --admin`. */
  role: z.enum(['user', 'admin']),
  createdAt: z.string(),
});

/** Sign-up, sign-in and GET /api/auth/session: the CSRF token is empty for API-token callers. */
export const sessionResponse = z.object({ user: userResponse, csrfToken: z.string() });

export const apiTokenResponse = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
});

export const tokenListResponse = z.object({ tokens: z.array(apiTokenResponse) });
/** The secret is in this answer only: it is stored hashed. */
export const createdTokenResponse = z.object({ token: apiTokenResponse, secret: z.string() });
