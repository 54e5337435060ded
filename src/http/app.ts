import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import fastifyStatic from '@fastify/static';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { AppContext } from '../app-context.ts';
import { installAuthentication } from './auth.ts';
import { installRouteGuards, rateLimitGuard, routeLimits, type RouteGuard, type RouteLimit } from './rate-limits.ts';
import { installSecurityHeaders } from './security-headers.ts';
import { errorBody, installErrorHandler } from './error-handler.ts';
import { authRoutes } from './routes/auth-routes.ts';
import { healthRoutes } from './routes/health-routes.ts';
import { modelRoutes } from './routes/model-routes.ts';
import { eventRoutes } from './routes/event-routes.ts';
import { datasetRoutes } from './routes/dataset-routes.ts';
import { trainingRoutes, webhookRoutes } from './routes/training-routes.ts';
import { userWebhookRoutes } from './routes/user-webhook-routes.ts';
import { generationRoutes } from './routes/generation-routes.ts';
import { generationLinkRoutes, installShareLinkHeaders } from './routes/generation-link-routes.ts';
import { tokenRoutes } from './routes/token-routes.ts';
import { adminRoutes } from './routes/admin-routes.ts';

export interface BuildAppOptions {
  /**
   * The @fastify/rate-limit store class behind every rate limit (global and per route), instead of
   * the context's (sliding windows: in memory embedded, in the database on PostgreSQL). The plugin's
   * `store` option: `incr(key, cb, timeWindowMs, max)` and `child(options)`.
   */
  rateLimitStore?: unknown;
  /** How often an open live-event stream re-checks its credential; 30 s (CREDENTIAL_CHECK_MS) unless a test shortens it. */
  liveEventsCredentialCheckMs?: number;
}

export async function buildApp(ctx: AppContext, options: BuildAppOptions = {}): Promise<FastifyInstance> {
  const { config } = ctx;
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    // N proxies: the N addresses nearest the server are proxies, the one before them is the client.
    trustProxy: typeof config.trustProxy === 'number' ? (_address: string, hop: number) => hop < (config.trustProxy as number) : config.trustProxy,
    // JSON routes are small; routes that take files set their own limit (uploads, webhooks).
    bodyLimit: config.jsonBodyLimitBytes,
    // Fastify turns Node's request timeout off by default. Live-event streams stay active (a
    // comment every 15 s), and their request is complete once its headers are in.
    requestTimeout: config.timeouts.requestMs,
    connectionTimeout: config.timeouts.idleMs,
    // The id parameter is validated as a UUID; anything longer is garbage.
    routerOptions: { maxParamLength: 200 },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);

  await app.register(cookie);
  // HSTS only makes sense when the platform is really served over HTTPS.
  installSecurityHeaders(app, { hsts: config.sessions.cookieSecure });
  installAuthentication(app, ctx.accounts);
  // Several web processes on PostgreSQL share counters; one embedded process counts in memory.
  const store = options.rateLimitStore ?? ctx.rateLimitStore;
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimits.apiPerMinute,
    timeWindow: '1 minute',
    allowList: (req) => !req.url.startsWith('/api/') || req.url.startsWith('/api/health'),
    keyGenerator: (req) => (req.principal ? `user:${req.principal.user.id}` : `ip:${req.ip}`),
    errorResponseBuilder: (_req, c) => ({ statusCode: 429, message: `Too many requests: the limit is ${c.max} API requests per minute. Wait ${c.after} and try again.` }),
    store: store as never,
  });
  installRouteGuards(app, routeGuards(app, ctx));
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'The Way API',
        version: ctx.version,
        description: 'Train LoRA image models from your own images and generate with them. Authenticate with the session cookie (plus the x-csrf-token header on writes) or "Authorization: Bearer <API token>".',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  await app.register(healthRoutes({ checkDatabase: ctx.checkDatabase, version: ctx.version }));
  await app.register(authRoutes({
    accounts: ctx.accounts,
    cookieSecure: config.sessions.cookieSecure,
    signupEnabled: config.signupEnabled,
  }));
  await app.register(tokenRoutes(ctx.accounts));
  await app.register(modelRoutes(ctx.models));
  await app.register(eventRoutes(ctx.events, {
    stillValid: (principal) => ctx.accounts.isStillValid(principal),
    maxStreamsPerUser: config.liveEvents.maxStreamsPerUser,
    ...(options.liveEventsCredentialCheckMs !== undefined && { credentialCheckMs: options.liveEventsCredentialCheckMs }),
  }));
  await app.register(datasetRoutes(ctx.datasets, { tmpDir: config.datasets.tmpDir, maxFileBytes: config.datasets.maxZipBytes, maxFilesPerRequest: config.datasets.maxFilesPerUpload }));
  await app.register(trainingRoutes(ctx.trainings));
  await app.register(webhookRoutes(ctx.trainings));
  await app.register(userWebhookRoutes(ctx.userWebhooks));
  await app.register(generationRoutes(ctx.generations));
  installShareLinkHeaders(app);
  await app.register(generationLinkRoutes(ctx.generationLinks, { publicUrl: config.publicUrl }));
  await app.register(adminRoutes(ctx.admin));
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await registerWebApp(app, config.webDistDir);
  return app;
}

/** Per-route abuse limits (see rate-limits.ts) and the storage cap on uploads, attached by route. */
function routeGuards(app: FastifyInstance, ctx: AppContext): Record<string, RouteGuard[]> {
  const guards: Record<string, RouteGuard[]> = {};
  // One counter per limit, also when routes share it (generations and comparisons).
  const counters = new Map<RouteLimit, RouteGuard>();
  for (const [route, limits] of Object.entries(routeLimits(ctx.config.rateLimits))) {
    guards[route] = limits.map((limit) => counters.get(limit) ?? counters.set(limit, rateLimitGuard(app, limit)).get(limit)!);
  }
  const uploads = 'POST /api/models/:id/images';
  guards[uploads] = [
    ...(guards[uploads] ?? []),
    async (request) => {
      // Before any byte is stored: the upload's declared size must fit in what is left.
      if (!request.principal) return;
      const declared = Number(request.headers['content-length']);
      await ctx.storageQuota.assertRoomFor(request.principal.user.id, Number.isFinite(declared) ? declared : 0);
    },
  ];
  return guards;
}

/** Serves the built browser app; unknown non-API paths get index.html so client-side routes deep-link. */
async function registerWebApp(app: FastifyInstance, distDir: string): Promise<void> {
  const built = existsSync(join(distDir, 'index.html'));
  if (built) {
    await app.register(fastifyStatic, {
      root: distDir, wildcard: false, index: false, maxAge: '1h', immutable: false,
      // The page names the current build's hashed assets: a cached copy would load a removed build after an upgrade.
      setHeaders: (reply, path) => {
        if (path.endsWith('index.html')) reply.header('cache-control', 'no-cache');
      },
    });
  }
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    if (path.startsWith('/api/') || path === '/api' || request.method !== 'GET') {
      return reply.code(404).send(errorBody('not_found', `No API route ${request.method} ${path}.`));
    }
    if (!built) {
      return reply.code(503).type('text/plain').send('The web app is not built. Run "npm run build:web" (npm start does it for you).');
    }
    return reply.header('cache-control', 'no-cache').sendFile('index.html');
  });
}
