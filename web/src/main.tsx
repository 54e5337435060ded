import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { isApiError, isUnauthenticated } from './api/client.ts';
import { App } from './App.tsx';
import { SESSION_KEY } from './auth/session.tsx';
import './styles.css';

// When the session ends behind our back (expired, signed out elsewhere), any 401 flips the app
// to signed-out and the route guard sends the person to sign in, keeping where they were.
const onAuthError = (error: unknown, key?: readonly unknown[]) => {
  if (isUnauthenticated(error) && key?.[0] !== SESSION_KEY[0]) queryClient.setQueryData(SESSION_KEY, null);
};

const queryClient: QueryClient = new QueryClient({
  queryCache: new QueryCache({ onError: (error, query) => onAuthError(error, query.queryKey) }),
  mutationCache: new MutationCache({
    onError: (error, _vars, _ctx, mutation) => {
      // A 401 from sign-in means "wrong password", not "session over".
      if (mutation.options.meta?.authForm !== true) onAuthError(error, []);
    },
  }),
  defaultOptions: {
    queries: {
      staleTime: 15_000,
      refetchOnWindowFocus: true,
      // Client errors (401, 404, 422…) will not change on a retry; network and server errors might.
      retry: (count, error) => !(isApiError(error) && error.status >= 400 && error.status < 500) && count < 2,
    },
  },
});

const root = document.getElementById('root');
if (!root) throw new Error('The page has no #root element.');
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <App />
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
);
