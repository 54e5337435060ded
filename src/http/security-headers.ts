import type { FastifyInstance } from 'fastify';

/**
 * Security headers for every response, computed once. (@fastify/helmet rebuilt the CSP string on
 * each request, a measurable share of a cached API read.) The CSP fits the built web app: only
 * same-origin scripts, styles (inline style attributes allowed), images, and API/SSE connections.
 */
const HSTS = 'max-age=31536000; includeSubDomains';

export function installSecurityHeaders(app: FastifyInstance, options: { hsts: boolean }): void {
  const headers: Record<string, string> = {
    'content-security-policy': [
      "default-src 'self'",
      "base-uri 'self'",
      "form-action 'self'",
      "frame-ancestors 'none'",
      "img-src 'self' data: blob:",
      "object-src 'none'",
      "script-src 'self'",
      "script-src-attr 'none'",
      "style-src 'self' 'unsafe-inline'",
      "connect-src 'self'",
      "font-src 'self' data:",
    ].join(';'),
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'origin-agent-cluster': '?1',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-dns-prefetch-control': 'off',
    'x-frame-options': 'DENY',
    'x-permitted-cross-domain-policies': 'none',
    ...(options.hsts && { 'strict-transport-security': HSTS }),
  };
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(headers);
    // Served over HTTPS through a trusted proxy without an https PUBLIC_URL: HSTS all the same.
    if (!options.hsts && request.protocol === 'https') reply.header('strict-transport-security', HSTS);
    // API answers can carry secrets (a new API token, a webhook secret, the CSRF token): no cache
    // keeps them unless a route says otherwise (images, weights and cached lists set their own).
    if (request.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
  });
}
