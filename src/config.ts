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

const envSchema = z.object({
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
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SESSION_TTL_DAYS: positiveInt.max(365).default(30),
  COOKIE_SECURE: bool.optional(),
  TRUST_PROXY: bool.default(false),
  LOGIN_RATE_LIMIT_PER_15_MIN: positiveInt.default(10),
  API_RATE_LIMIT_PER_MIN: positiveInt.default(600),
  SIGNUP_ENABLED: bool.default(true),
  JOB_CONCURRENCY: positiveInt.max(64).default(4),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env['NODE_ENV'];
  host: string;
  port: number;
  publicUrl: string | undefined;
  dataDir: string;
  database: { url: string | undefined; sqliteFile: string; poolSize: number };
  storage: { localDir: string };
  logLevel: Env['LOG_LEVEL'];
  sessions: { ttlDays: number; cookieSecure: boolean };
  trustProxy: boolean;
  rateLimits: { loginPer15Min: number; apiPerMinute: number };
  signupEnabled: boolean;
  jobs: { concurrency: number };
  webDistDir: string;
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
      parsed.error.issues.map((i) => `${i.path.join('.')}=${JSON.stringify(cleaned[String(i.path[0])] ?? '')}: ${i.message}`),
    );
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    dataDir,
    database: { url: e.DATABASE_URL, sqliteFile: resolve(dataDir, 'theway.db'), poolSize: e.DATABASE_POOL_SIZE },
    storage: { localDir: resolve(dataDir, 'blobs') },
    logLevel: e.LOG_LEVEL,
    // Secure cookies whenever the public URL is HTTPS, unless explicitly overridden.
    sessions: { ttlDays: e.SESSION_TTL_DAYS, cookieSecure: e.COOKIE_SECURE ?? (e.PUBLIC_URL?.startsWith('https://') ?? false) },
    trustProxy: e.TRUST_PROXY,
    rateLimits: { loginPer15Min: e.LOGIN_RATE_LIMIT_PER_15_MIN, apiPerMinute: e.API_RATE_LIMIT_PER_MIN },
    signupEnabled: e.SIGNUP_ENABLED,
    jobs: { concurrency: e.JOB_CONCURRENCY },
    webDistDir: resolve(import.meta.dirname, '..', 'web', 'dist'),
  };
}
