import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';

/**
 * Every setting the platform reads, validated once at boot. Anything invalid stops
 * the process with a message naming the variable, instead of failing later at runtime.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const positiveInt = z.coerce.number().int().positive();

/**
 * Which X-Forwarded-For entries to believe. `true` means one proxy (the entry it appended), not
 * every hop: a proxy that appends to a client-written header would otherwise let the client choose
 * its own address (and a fresh rate-limit budget). A number is that many proxies; a list names them.
 */
const trustProxy = z
  .string()
  .trim()
  .transform((v, ctx): boolean | number | string[] => {
    if (['false', '0', 'no', ''].includes(v)) return false;
    if (['true', 'yes'].includes(v)) return 1;
    if (/^\d+$/.test(v)) return Math.min(Number(v), 10);
    const entries = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (entries.every((s) => isIP(s.split('/')[0] ?? '') !== 0 || ['loopback', 'linklocal', 'uniquelocal'].includes(s))) return entries;
    ctx.addIssue({ code: 'custom', message: 'Use false, true (one proxy), the number of proxies in front, or a comma-separated list of proxy addresses/CIDR ranges (e.g. 10.0.0.0/8,loopback).' });
    return z.NEVER;
  });

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection string (leave it unset for the embedded SQLite database)')
    .optional(),
  DATABASE_POOL_SIZE: positiveInt.default(10),
  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name (3-63 lower-case letters, digits, "." and "-")')
    .optional(),
  S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  S3_PUBLIC_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: bool.default(false),
  SHARED_DATA_DIR: bool.default(false),
  S3_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_-][a-zA-Z0-9_.-]*(\/[a-zA-Z0-9_-][a-zA-Z0-9_.-]*)*\/?$/, 'must be a relative key prefix such as "theway/" (letters, digits, "/", "_", "." and "-"; no segment starting with ".")')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SESSION_TTL_DAYS: positiveInt.max(365).default(30),
  COOKIE_SECURE: bool.optional(),
  TRUST_PROXY: trustProxy.default(false),
  LOGIN_RATE_LIMIT_PER_15_MIN: positiveInt.default(10),
  API_RATE_LIMIT_PER_MIN: positiveInt.default(600),
  LOGIN_IP_RATE_LIMIT_PER_15_MIN: positiveInt.default(100),
  LOGIN_ACCOUNT_RATE_LIMIT_PER_15_MIN: positiveInt.default(50),
  SIGNUP_RATE_LIMIT_PER_HOUR: positiveInt.default(20),
  UPLOAD_RATE_LIMIT_PER_MIN: positiveInt.default(120),
  UPLOAD_IP_RATE_LIMIT_PER_MIN: positiveInt.default(300),
  GENERATION_RATE_LIMIT_PER_MIN: positiveInt.default(30),
  GENERATION_IP_RATE_LIMIT_PER_MIN: positiveInt.default(120),
  TRAINING_RATE_LIMIT_PER_HOUR: positiveInt.default(20),
  TRAINING_IP_RATE_LIMIT_PER_HOUR: positiveInt.default(60),
  // Replicate sends a few webhooks per training (start, completion, retries of the last): 1,000 trainings starting in one minute pass.
  REPLICATE_WEBHOOK_RATE_LIMIT_PER_MIN: positiveInt.default(2000),
  SSE_MAX_STREAMS_PER_USER: positiveInt.default(20),
  TRAINING_MAX_CONCURRENT: positiveInt.max(100).default(2),
  USER_STORAGE_LIMIT_MB: z.coerce.number().positive().default(5120),
  JSON_BODY_LIMIT_KB: z.coerce.number().positive().max(8192).default(64),
  REQUEST_TIMEOUT_SECONDS: positiveInt.max(24 * 3600).default(3600),
  IDLE_TIMEOUT_SECONDS: positiveInt.max(3600).default(600),
  SIGNUP_ENABLED: bool.default(true),
  JOB_CONCURRENCY: positiveInt.max(64).default(4),
  JOB_LEASE_SECONDS: z.coerce.number().min(1).max(3600).default(30),
  REPLICATE_API_TOKEN: z
    .string()
    .min(8, 'looks too short to be a Replicate API token')
    .refine((v) => !SAMPLE_SECRETS.some((s) => v.toLowerCase().includes(s)), 'is a placeholder from an example; use your own token from replicate.com/account/api-tokens')
    .optional(),
  REPLICATE_BASE_URL: z.url({ protocol: /^https?$/ }).default('https://api.replicate.com/v1'),
  REPLICATE_DESTINATION: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]*\/[a-z0-9][a-z0-9_.-]*$/, 'must be "owner/model-name" (lower case), e.g. "your-username/theway-loras"')
    .optional(),
  REPLICATE_DESTINATION_HARDWARE: z.string().min(1).default('gpu-l40s'),
  REPLICATE_TIMEOUT_SECONDS: z.coerce.number().min(1).max(600).default(30),
  REPLICATE_WEBHOOKS: bool.optional(),
  TRAINING_COST_TABLE: z.string().min(1).default(resolve(import.meta.dirname, '..', 'config', 'training-costs.json')),
  TRAINING_POLL_SECONDS: z.coerce.number().positive().max(3600).default(5),
  MAX_IMAGE_MB: z.coerce.number().positive().max(200).default(30),
  MAX_IMAGE_MEGAPIXELS: z.coerce.number().positive().max(500).default(40),
  IMAGE_DECODE_CONCURRENCY: positiveInt.max(32).default(2),
  MAX_ZIP_MB: z.coerce.number().positive().max(4096).default(500),
  MAX_UPLOAD_FILES: positiveInt.max(500).default(50),
  MAX_DATASET_IMAGES: positiveInt.max(1000).default(100),
  GENERATION_MAX_CONCURRENT: positiveInt.max(100).default(12),
  GENERATION_MAX_PER_HOUR: positiveInt.max(10000).default(100),
  USER_WEBHOOK_ALLOW_PRIVATE: bool.default(false),
});

const SECRET_VARIABLES = new Set(['REPLICATE_API_TOKEN', 'DATABASE_URL', 'S3_SECRET_ACCESS_KEY']);

/** Values copied from examples; starting with one would fail later in a confusing way. */
const SAMPLE_SECRETS = ['your_token', 'your-token', 'changeme', 'change-me', 'r8_xxx', 'r8_your', 'example', 'placeholder'];

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env['NODE_ENV'];
  host: string;
  port: number;
  publicUrl: string | undefined;
  dataDir: string;
  database: { url: string | undefined; sqliteFile: string; poolSize: number };
  /**
   * `s3` is null in the embedded default (files under DATA_DIR/blobs). `sharedDataDir`: the operator
   * says every web and worker process mounts the same DATA_DIR, so they may run without a bucket.
   */
  storage: { localDir: string; s3: S3Config | null; sharedDataDir: boolean };
  logLevel: Env['LOG_LEVEL'];
  sessions: { ttlDays: number; cookieSecure: boolean };
  /** For Fastify's trustProxy: false, a number of proxies, or their addresses. */
  trustProxy: boolean | number | string[];
  /** Request counts per fixed window; "per IP" counts every user behind one address together. */
  rateLimits: {
    loginPer15Min: number;
    loginPerIpPer15Min: number;
    loginPerAccountPer15Min: number;
    signupPerIpPerHour: number;
    uploadsPerUserPerMin: number;
    uploadsPerIpPerMin: number;
    generationsPerUserPerMin: number;
    generationsPerIpPerMin: number;
    trainingsPerUserPerHour: number;
    trainingsPerIpPerHour: number;
    /** Replicate webhook deliveries per sending address (the route is unauthenticated until the signature is checked). */
    replicateWebhooksPerIpPerMin: number;
    apiPerMinute: number;
  };
  /** Live-event streams (GET /api/events) one user may have open at once, per web process. */
  liveEvents: { maxStreamsPerUser: number };
  /** Per-user caps: trainings not yet finished, and bytes stored (training images, generated images, weights). */
  quotas: { maxConcurrentTrainings: number; storageBytesPerUser: number };
  /** Largest JSON body a route accepts unless it sets its own (uploads and webhooks do). */
  jsonBodyLimitBytes: number;
  /**
   * requestMs: the whole request (headers and body) must arrive within it; idleMs: a connection
   * with no bytes either way for that long is closed. Slow or stalled clients cannot hold
   * connections and upload spool files for ever.
   */
  timeouts: { requestMs: number; idleMs: number };
  signupEnabled: boolean;
  /** leaseMs: how long a worker that stopped heart-beating keeps its jobs before another takes them. */
  jobs: { concurrency: number; leaseMs: number };
  replicate: {
    /** Null: training is unavailable and the UI says why. */
    token: string | null;
    baseUrl: string;
    destination: string | null;
    destinationHardware: string;
    /** Per-attempt timeout of an API call (uploads and `Prefer: wait` creates get longer ones). */
    timeoutMs: number;
    /** Where Replicate posts webhooks; null means polling only (no public URL). */
    webhookUrl: string | null;
  };
  trainings: { costTableFile: string; pollIntervalMs: number };
  generations: { maxConcurrent: number; maxPerHour: number };
  /** allowPrivate: users' webhooks may point at loopback, private and link-local addresses (off: public internet only). */
  userWebhooks: { allowPrivate: boolean };
  datasets: { maxConcurrentDecodes: number; maxImageBytes: number; maxImagePixels: number; maxZipBytes: number; maxFilesPerUpload: number; maxImages: number; tmpDir: string };
  webDistDir: string;
}

export interface S3Config {
  bucket: string;
  region: string;
  endpoint: string | undefined;
  /** Where Replicate reaches the bucket for presigned downloads, when `endpoint` is private. */
  publicEndpoint: string | undefined;
  forcePathStyle: boolean;
  /** Unset: the AWS SDK's default credential chain (instance role, AWS_* variables, profile). */
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  keyPrefix: string | undefined;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset", as in most .env files.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0]);
        // Secrets (and URLs that may embed a password) are named, never echoed.
        const shown = SECRET_VARIABLES.has(name) ? '' : `=${JSON.stringify(cleaned[name] ?? '')}`;
        return `${name}${shown}: ${i.message}`;
      }),
    );
  }
  const e = parsed.data;
  if (e.REPLICATE_API_TOKEN && !e.REPLICATE_DESTINATION) {
    throw new ConfigError(['REPLICATE_DESTINATION is required with REPLICATE_API_TOKEN: the "owner/model-name" on Replicate that receives every trained version (it is created, private, if missing).']);
  }
  const webhooks = e.REPLICATE_WEBHOOKS ?? e.PUBLIC_URL !== undefined;
  if (webhooks && !e.PUBLIC_URL) throw new ConfigError(['REPLICATE_WEBHOOKS=true needs PUBLIC_URL: Replicate must be able to reach the platform.']);
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError(['S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together: set both, or neither to use the AWS default credential chain.']);
  }
  const s3Only = (['S3_ENDPOINT', 'S3_PUBLIC_ENDPOINT', 'S3_ACCESS_KEY_ID', 'S3_PREFIX'] as const).filter((name) => e[name] !== undefined);
  if (!e.S3_BUCKET && s3Only.length > 0) {
    throw new ConfigError([`${s3Only.join(', ')} set without S3_BUCKET: set S3_BUCKET to store files in a bucket, or remove them to keep files in DATA_DIR/blobs.`]);
  }
  const dataDir = resolve(e.DATA_DIR);
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    dataDir,
    database: { url: e.DATABASE_URL, sqliteFile: resolve(dataDir, 'theway.db'), poolSize: e.DATABASE_POOL_SIZE },
    storage: {
      localDir: resolve(dataDir, 'blobs'),
      s3: e.S3_BUCKET
        ? {
            bucket: e.S3_BUCKET,
            region: e.S3_REGION,
            endpoint: e.S3_ENDPOINT?.replace(/\/+$/, ''),
            publicEndpoint: e.S3_PUBLIC_ENDPOINT?.replace(/\/+$/, ''),
            forcePathStyle: e.S3_FORCE_PATH_STYLE,
            accessKeyId: e.S3_ACCESS_KEY_ID,
            secretAccessKey: e.S3_SECRET_ACCESS_KEY,
            keyPrefix: e.S3_PREFIX === undefined ? undefined : e.S3_PREFIX.replace(/\/?$/, '/'),
          }
        : null,
      sharedDataDir: e.SHARED_DATA_DIR,
    },
    logLevel: e.LOG_LEVEL,
    // Secure cookies whenever the public URL is HTTPS, unless explicitly overridden.
    sessions: { ttlDays: e.SESSION_TTL_DAYS, cookieSecure: e.COOKIE_SECURE ?? (e.PUBLIC_URL?.startsWith('https://') ?? false) },
    trustProxy: e.TRUST_PROXY,
    rateLimits: {
      loginPer15Min: e.LOGIN_RATE_LIMIT_PER_15_MIN,
      loginPerIpPer15Min: e.LOGIN_IP_RATE_LIMIT_PER_15_MIN,
      loginPerAccountPer15Min: e.LOGIN_ACCOUNT_RATE_LIMIT_PER_15_MIN,
      signupPerIpPerHour: e.SIGNUP_RATE_LIMIT_PER_HOUR,
      uploadsPerUserPerMin: e.UPLOAD_RATE_LIMIT_PER_MIN,
      uploadsPerIpPerMin: e.UPLOAD_IP_RATE_LIMIT_PER_MIN,
      generationsPerUserPerMin: e.GENERATION_RATE_LIMIT_PER_MIN,
      generationsPerIpPerMin: e.GENERATION_IP_RATE_LIMIT_PER_MIN,
      trainingsPerUserPerHour: e.TRAINING_RATE_LIMIT_PER_HOUR,
      trainingsPerIpPerHour: e.TRAINING_IP_RATE_LIMIT_PER_HOUR,
      replicateWebhooksPerIpPerMin: e.REPLICATE_WEBHOOK_RATE_LIMIT_PER_MIN,
      apiPerMinute: e.API_RATE_LIMIT_PER_MIN,
    },
    liveEvents: { maxStreamsPerUser: e.SSE_MAX_STREAMS_PER_USER },
    quotas: { maxConcurrentTrainings: e.TRAINING_MAX_CONCURRENT, storageBytesPerUser: Math.round(e.USER_STORAGE_LIMIT_MB * 2 ** 20) },
    jsonBodyLimitBytes: Math.round(e.JSON_BODY_LIMIT_KB * 1024),
    timeouts: { requestMs: e.REQUEST_TIMEOUT_SECONDS * 1000, idleMs: e.IDLE_TIMEOUT_SECONDS * 1000 },
    signupEnabled: e.SIGNUP_ENABLED,
    jobs: { concurrency: e.JOB_CONCURRENCY, leaseMs: Math.round(e.JOB_LEASE_SECONDS * 1000) },
    replicate: {
      token: e.REPLICATE_API_TOKEN ?? null,
      baseUrl: e.REPLICATE_BASE_URL.replace(/\/+$/, ''),
      destination: e.REPLICATE_DESTINATION ?? null,
      destinationHardware: e.REPLICATE_DESTINATION_HARDWARE,
      timeoutMs: Math.round(e.REPLICATE_TIMEOUT_SECONDS * 1000),
      webhookUrl: webhooks ? `${e.PUBLIC_URL!.replace(/\/+$/, '')}/api/webhooks/replicate` : null,
    },
    trainings: { costTableFile: resolve(e.TRAINING_COST_TABLE), pollIntervalMs: Math.round(e.TRAINING_POLL_SECONDS * 1000) },
    generations: { maxConcurrent: e.GENERATION_MAX_CONCURRENT, maxPerHour: e.GENERATION_MAX_PER_HOUR },
    userWebhooks: { allowPrivate: e.USER_WEBHOOK_ALLOW_PRIVATE },
    datasets: {
      maxConcurrentDecodes: e.IMAGE_DECODE_CONCURRENCY,
      maxImageBytes: Math.round(e.MAX_IMAGE_MB * 2 ** 20),
      maxImagePixels: Math.round(e.MAX_IMAGE_MEGAPIXELS * 1e6),
      maxZipBytes: Math.round(e.MAX_ZIP_MB * 2 ** 20),
      maxFilesPerUpload: e.MAX_UPLOAD_FILES,
      maxImages: e.MAX_DATASET_IMAGES,
      tmpDir: resolve(dataDir, 'tmp'),
    },
    webDistDir: resolve(import.meta.dirname, '..', 'web', 'dist'),
  };
}
