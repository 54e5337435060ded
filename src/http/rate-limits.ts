import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { AppError } from '../shared/errors.ts';

/**
 * Abuse limits on the expensive or guessable routes, on top of the global per-caller API limit.
 *
 * Each limit is a sliding window counted by @fastify/rate-limit's store (`app.createRateLimit`), so
 * the store that app.ts registers the plugin with (src/rate-limits/sliding-window.ts: in memory for
 * one process, in PostgreSQL for several web processes) counts these too. Keys are prefixed with the
 * limit's name, so one shared store can hold every limit.
 */
export interface RouteLimit {
  /** Names the limit in keys and in the error details, e.g. "signin_per_ip". */
  name: string;
  max: number;
  windowMs: number;
  /** The bucket this request counts in; null skips the limit (a per-user limit without a user: the route answers 401 anyway). */
  key: (request: FastifyRequest) => string | null;
  /** The start of the refusal, e.g. "Too many sign-in attempts from your network". */
  refusal: string;
  /**
   * Counted when the request arrives, before its body is read (onRequest instead of preHandler):
   * for unauthenticated routes with big bodies. The key must not need the body or the user.
   */
  beforeBody?: boolean;
}

/** Runs before the handler of the routes it is attached to (or before the body is read: `beforeBody`); throws to refuse the request. */
export type RouteGuard = ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) & { beforeBody?: boolean };

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const perUser = (request: FastifyRequest) => (request.principal ? `user:${request.principal.user.id}` : null);
const perIp = (request: FastifyRequest) => `ip:${request.ip}`;
const emailOf = (request: FastifyRequest) => {
  const email = (request.body as { email?: unknown } | undefined)?.email;
  return typeof email === 'string' ? email.trim().toLowerCase() : '';
};

/** Every route limit, by "METHOD /path" as the route is declared. Values come from the configuration (see README, "Configuration"). */
export function routeLimits(limits: Config['rateLimits']): Record<string, RouteLimit[]> {
  const generation = [
    { name: 'generations_per_user', max: limits.generationsPerUserPerMin, windowMs: MINUTE, key: perUser, refusal: 'You are starting generations too quickly' },
    { name: 'generations_per_ip', max: limits.generationsPerIpPerMin, windowMs: MINUTE, key: perIp, refusal: 'Too many generations are being started from your network' },
  ];
  return {
    'POST /api/auth/signin': [
      // Guessing one account's password, and spraying many accounts from one address, are both slowed.
      { name: 'signin_per_ip_email', max: limits.loginPer15Min, windowMs: 15 * MINUTE, key: (r) => `${perIp(r)}:${emailOf(r)}`, refusal: 'Too many sign-in attempts for this account' },
      { name: 'signin_per_ip', max: limits.loginPerIpPer15Min, windowMs: 15 * MINUTE, key: perIp, refusal: 'Too many sign-in attempts from your network' },
      // Guessing one account from many addresses. Higher than the per-address limit: whoever reaches it also locks the owner out for a while.
      { name: 'signin_per_account', max: limits.loginPerAccountPer15Min, windowMs: 15 * MINUTE, key: (r) => `account:${emailOf(r)}`, refusal: 'Too many sign-in attempts for this account from several networks' },
    ],
    'POST /api/auth/signup': [
      { name: 'signup_per_ip', max: limits.signupPerIpPerHour, windowMs: HOUR, key: perIp, refusal: 'Too many accounts were created from your network' },
    ],
    'POST /api/models/:id/images': [
      { name: 'uploads_per_user', max: limits.uploadsPerUserPerMin, windowMs: MINUTE, key: perUser, refusal: 'You are uploading too quickly' },
      { name: 'uploads_per_ip', max: limits.uploadsPerIpPerMin, windowMs: MINUTE, key: perIp, refusal: 'Too many uploads are coming from your network' },
    ],
    'POST /api/models/:id/generations': generation,
    'POST /api/models/:id/comparisons': generation,
    'POST /api/models/:id/trainings': [
      { name: 'trainings_per_user', max: limits.trainingsPerUserPerHour, windowMs: HOUR, key: perUser, refusal: 'You are starting trainings too quickly' },
      { name: 'trainings_per_ip', max: limits.trainingsPerIpPerHour, windowMs: HOUR, key: perIp, refusal: 'Too many trainings are being started from your network' },
    ],
    // Anyone may post here (the signature is checked once the body is read): a flood from one address is cut before its bodies are buffered.
    'POST /api/webhooks/replicate': [
      { name: 'replicate_webhooks_per_ip', max: limits.replicateWebhooksPerIpPerMin, windowMs: MINUTE, key: perIp, refusal: 'Too many webhook deliveries from your network', beforeBody: true },
    ],
  };
}

/** "15 minutes", "1 hour", "45 seconds". */
export function describeDuration(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  const [n, unit] = seconds % 3600 === 0 ? [seconds / 3600, 'hour'] : seconds >= 120 || seconds % 60 === 0 ? [Math.ceil(seconds / 60), 'minute'] : [seconds, 'second'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** A guard that counts the request against `limit` and refuses it with 429 and Retry-After once the window is full. */
export function rateLimitGuard(app: FastifyInstance, limit: RouteLimit): RouteGuard {
  const check = app.createRateLimit({
    max: limit.max,
    timeWindow: limit.windowMs,
    keyGenerator: (request) => `${limit.name}:${limit.key(request)}`,
    allowList: (request) => limit.key(request) === null,
  });
  const window = describeDuration(limit.windowMs);
  const guard: RouteGuard = async (request, reply) => {
    const result = await check(request);
    if (result.isAllowed || !result.isExceeded) return;
    const retryAfterSeconds = Math.max(1, result.ttlInSeconds);
    reply.header('retry-after', String(retryAfterSeconds));
    throw new AppError(
      'rate_limited',
      `${limit.refusal}: the limit is ${limit.max} per ${window.replace(/^1 /, '')}. Try again in ${describeDuration(retryAfterSeconds * 1000)}.`,
      { limit: limit.name, max: limit.max, windowSeconds: limit.windowMs / 1000, retryAfterSeconds },
    );
  };
  if (limit.beforeBody) guard.beforeBody = true;
  return guard;
}

/**
 * Attaches guards to routes by "METHOD /path" as they are declared, so route modules stay
 * unaware of them. Must be installed before the routes are registered.
 */
export function installRouteGuards(app: FastifyInstance, guards: Record<string, RouteGuard[]>): void {
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const attached = methods.flatMap((m) => guards[`${m} ${route.url}`] ?? []);
    const early = attached.filter((g) => g.beforeBody);
    const late = attached.filter((g) => !g.beforeBody);
    // After the route's own onRequest: a route that answers 404 there (webhooks off) counts nothing.
    if (early.length > 0) route.onRequest = [...hookList(route.onRequest), ...early] as typeof route.onRequest;
    if (late.length > 0) route.preHandler = [...late, ...hookList(route.preHandler)] as typeof route.preHandler;
  });
}

/** A route option that takes one hook or several, as a list. */
const hookList = <T>(hooks: T | T[] | undefined): T[] => (hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]);
