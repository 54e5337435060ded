import { photoJpeg } from './images.ts';
import { multipartBody } from './dataset-factories.ts';
import { recordAnswer, registerSecret } from './secrets-registry.ts';

/**
 * A user of a running server process, over real HTTP: signs up (cookie + CSRF token), mints an
 * API token, and from then on calls the API with `Authorization: Bearer`.
 */
export interface ApiUser {
  id: string;
  token: string;
  /** JSON call; throws with the status and body when the answer is not `expect` (default 2xx). */
  call<T = Record<string, unknown>>(base: string, method: string, path: string, body?: unknown, expect?: number): Promise<T>;
  /** Uploads `count` synthesized photos to a model's dataset; returns the per-file verdicts. */
  uploadPhotos(base: string, modelId: string, count: number, firstSeed?: number): Promise<Array<{ status: string }>>;
}

/** The password of every user signUpOverHttp makes (browser tests sign in with it). */
export const HTTP_USER_PASSWORD = 'correct horse battery';

/**
 * Signs a new user up over HTTP and mints an API token with the browser session. Every credential
 * of the way (password, session cookie, CSRF token, API token) is registered for the end-of-run
 * secret scan, which reads the server process's log.
 */
export async function signUpOverHttp(base: string, email = `user-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.com`, displayName = 'Scale tester'): Promise<ApiUser> {
  registerSecret('password', HTTP_USER_PASSWORD);
  const signup = await fetch(`${base}/api/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: HTTP_USER_PASSWORD, displayName }),
  });
  if (signup.status !== 201) throw new Error(`signup answered ${signup.status}: ${await signup.text()}`);
  const { user, csrfToken } = (await signup.json()) as { user: { id: string }; csrfToken: string };
  registerSecret('CSRF token', csrfToken);
  const cookies = signup.headers.getSetCookie().map((c) => c.split(';')[0]!);
  for (const c of cookies) if (c.startsWith('theway_session=')) registerSecret('session id', c.slice('theway_session='.length));
  const cookie = cookies.join('; ');
  const minted = await fetch(`${base}/api/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrfToken },
    body: JSON.stringify({ name: 'tests' }),
  });
  if (minted.status !== 201) throw new Error(`token creation answered ${minted.status}: ${await minted.text()}`);
  const token = ((await minted.json()) as { secret: string }).secret;
  registerSecret('API token', token);
  const auth = { authorization: `Bearer ${token}` };

  return {
    id: user.id,
    token,
    async call<T>(root: string, method: string, path: string, body?: unknown, expect?: number) {
      const res = await fetch(`${root}${path}`, {
        method,
        headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      recordAnswer(`${method} ${path} → ${res.status} (over HTTP)`, text);
      const ok = expect === undefined ? res.status >= 200 && res.status < 300 : res.status === expect;
      if (!ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
      return (text ? JSON.parse(text) : {}) as T;
    },
    async uploadPhotos(root: string, modelId: string, count: number, firstSeed = 100) {
      const files = [];
      for (let i = 0; i < count; i++) files.push({ name: `photo-${i}.jpg`, data: await photoJpeg({ width: 768, height: 768, seed: firstSeed + i }), type: 'image/jpeg' });
      const { payload, headers } = multipartBody(files);
      const res = await fetch(`${root}/api/models/${modelId}/images`, { method: 'POST', headers: { ...auth, ...headers }, body: payload });
      const text = await res.text();
      recordAnswer(`POST /api/models/${modelId}/images → ${res.status} (over HTTP)`, text);
      if (!res.ok) throw new Error(`upload answered ${res.status}: ${text.slice(0, 500)}`);
      return (JSON.parse(text) as { results: Array<{ status: string }> }).results;
    },
  };
}
