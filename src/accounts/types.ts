import type { UsersTable } from '../db/schema.ts';

export interface User {
  id: string;
  email: string;
  displayName: string;
  role: UsersTable['role'];
  createdAt: string;
}

/** Who is making a request, and how: cookie sessions must pass the CSRF check, API tokens need not. */
export type Principal =
  | { kind: 'session'; user: User; sessionIdHash: string; csrfToken: string }
  | { kind: 'token'; user: User; tokenId: string };

export interface ApiToken {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
}
