import { useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { Navigate, Outlet, useLocation } from 'react-router';
import { isUnauthenticated } from '../api/client.ts';
import { authApi } from '../api/endpoints.ts';
import type { User } from '../api/types.ts';
import { ErrorState, LoadingState } from '../components/States.tsx';
import { safeNextPath } from '../lib/next-path.ts';

export const SESSION_KEY = ['session'] as const;

/** The signed-in user, `null` when signed out, `undefined` while the first check runs. */
export function useSession() {
  return useQuery({
    queryKey: SESSION_KEY,
    queryFn: async ({ signal }): Promise<User | null> => {
      try {
        return await authApi.session(signal);
      } catch (e) {
        if (isUnauthenticated(e)) return null;
        throw e;
      }
    },
    staleTime: Infinity,
    retry: 1,
  });
}

/**
 * The signed-in user, or null for the moment between signing out and the redirect: components
 * that subscribe to the session (or to a sign-out mutation) can render once more in between, and
 * throwing there would blank the whole page.
 */
export function useCurrentUser(): User | null {
  return useSession().data ?? null;
}

// True after the person signed out on purpose, so the redirect to the sign-in page does not carry
// a "come back here" link and can say that signing out worked.
let signedOutOnPurpose = false;

/** Another person's data must never show for a moment after switching accounts. */
function startSession(queryClient: QueryClient, user: User | null): void {
  signedOutOnPurpose = user === null;
  queryClient.removeQueries({ predicate: (q) => q.queryKey[0] !== SESSION_KEY[0] });
  queryClient.setQueryData(SESSION_KEY, user);
}

export function useSignIn() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: authApi.signIn,
    meta: { authForm: true },
    onSuccess: (user) => startSession(queryClient, user),
  });
}

export function useSignUp() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: authApi.signUp,
    meta: { authForm: true },
    onSuccess: (user) => startSession(queryClient, user),
  });
}

export function useSignOut() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: authApi.signOut,
    onSuccess: () => startSession(queryClient, null),
  });
}

export function RequireSignedIn() {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) return <LoadingState label="Checking your session…" />;
  if (session.isError && session.data === undefined) {
    return (
      <main className="centered-page">
        <ErrorState title="Can't reach The Way" message={session.error.message} onRetry={() => void session.refetch()} />
      </main>
    );
  }
  if (!session.data) {
    if (signedOutOnPurpose) {
      return <Navigate to="/signin" replace state={{ signedOut: true }} />;
    }
    const next = `${location.pathname}${location.search}`;
    const to = next === '/' || next === '/models' ? '/signin' : `/signin?next=${encodeURIComponent(next)}`;
    return <Navigate to={to} replace />;
  }
  return <Outlet />;
}

export function RequireSignedOut() {
  const session = useSession();
  const location = useLocation();
  if (session.isPending) return <LoadingState label="Checking your session…" />;
  if (session.data) {
    const next = new URLSearchParams(location.search).get('next');
    return <Navigate to={safeNextPath(next)} replace />;
  }
  return <Outlet />;
}
