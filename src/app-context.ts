import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from './config.ts';
import { openDatabase, type Db } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { AccountRepository } from './accounts/account-repository.ts';
import { AccountService } from './accounts/account-service.ts';
import { ModelRepository } from './models/model-repository.ts';
import { ModelService } from './models/model-service.ts';
import type { BlobStorage } from './storage/storage.ts';
import { LocalBlobStorage } from './storage/local-storage.ts';
import { S3BlobStorage } from './storage/s3-storage.ts';
import { InProcessEventBus, type EventBus } from './events/event-bus.ts';
import { PgEventBus } from './events/pg-event-bus.ts';
import { RateLimitRepository } from './rate-limits/rate-limit-repository.ts';
import { MemoryWindowCounter, slidingWindowStore, type RateLimitStoreClass } from './rate-limits/sliding-window.ts';
import type { JobQueue } from './jobs/jobs.ts';
import { InProcessJobQueue } from './jobs/in-process-queue.ts';
import { PgBossJobQueue } from './jobs/pg-boss-queue.ts';
import { ReplicateClient, MAX_FILE_BYTES } from './providers/replicate/client.ts';
import { DATASET_URL_TTL_SECONDS, ReplicateTrainingProvider } from './providers/replicate/replicate-training-provider.ts';
import { TrainingRepository } from './trainings/training-repository.ts';
import { TrainingService } from './trainings/training-service.ts';
import { trainingJobDefinitions } from './trainings/training-jobs.ts';
import { loadCostTable } from './trainings/estimate.ts';
import { UserWebhookService } from './notifications/user-webhook-service.ts';
import { GenerationRepository } from './generations/generation-repository.ts';
import { GenerationService } from './generations/generation-service.ts';
import { generationJobDefinitions } from './generations/generation-jobs.ts';
import { GenerationLinksRepository } from './generations/generation-links-repository.ts';
import { GenerationLinkService } from './generations/generation-links-service.ts';
import { ReplicateGenerationProvider } from './providers/replicate/replicate-generation-provider.ts';
import { DatasetRepository } from './datasets/dataset-repository.ts';
import { DatasetService } from './datasets/dataset-service.ts';
import { OrphanBlobSweep } from './storage/orphan-sweep.ts';
import { ORPHAN_SWEEP_KEY, orphanSweepJob, orphanSweepJobDefinition, sweepCrashLeftovers } from './storage/orphan-sweep-job.ts';
import { importLegacyJobs } from './jobs/legacy-jobs-import.ts';
import { StorageQuota } from './quotas/storage-quota.ts';
import { StorageUsageRepository } from './quotas/storage-usage-repository.ts';
import { AdminRepository } from './admin/admin-repository.ts';
import { AdminService } from './admin/admin-service.ts';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/** The composition root: the one place that chooses adapters and wires services together. */
export interface AppContext {
  config: Config;
  version: string;
  /** The one logger (pino, JSON); the HTTP server logs through it too. */
  logger: Logger;
  db: Db;
  accounts: AccountService;
  models: ModelService;
  storage: BlobStorage;
  events: EventBus;
  jobs: JobQueue;
  datasets: DatasetService;
  trainings: TrainingService;
  userWebhooks: UserWebhookService;
  generations: GenerationService;
  /** Public share links to single generations (`/s/<token>`). */
  generationLinks: GenerationLinkService;
  /** The per-user storage cap, checked before uploads are accepted. */
  storageQuota: StorageQuota;
  /** The operator's view across users (admins only): overview, jobs, retries. */
  admin: AdminService;
  /** The store behind every rate limit: sliding windows counted in the database every web process shares (PostgreSQL), or in memory (embedded). */
  rateLimitStore: RateLimitStoreClass;
  /** The Replicate client, or null when no token is configured (training and generation unavailable). */
  replicate: ReplicateClient | null;
  checkDatabase(): Promise<void>;
  /** Runs jobs in this process (roles `serve` and `worker`) and resumes unfinished work. */
  startWorker(): Promise<void>;
  close(): Promise<void>;
}

export interface AppContextOptions {
  migrate?: boolean;
  /** Tests shorten the job lease and poll interval. */
  jobs?: { leaseMs?: number; pollIntervalMs?: number };
  /** Tests shorten the wait before re-creating a training whose create call had an unknown outcome. */
  reconcileGraceMs?: number;
  /**
   * Largest training zip sent through Replicate's Files API; a bigger one is handed over as a
   * presigned URL (S3 storage) or fails the training (local storage). Default MAX_FILE_BYTES (100 MiB);
   * tests lower it instead of building a zip that big.
   */
  replicateMaxUploadBytes?: number;
  /** Where log lines go instead of standard output (tests collect them in files to scan for secrets). */
  logDestination?: DestinationStream;
}

export async function createAppContext(config: Config, options: AppContextOptions = {}): Promise<AppContext> {
  const db = openDatabase({ databaseUrl: config.database.url, sqliteFile: config.database.sqliteFile, poolSize: config.database.poolSize });
  if (options.migrate ?? true) await migrateToLatest(db);
  const accounts = new AccountService(new AccountRepository(db.kysely), { sessionTtlDays: config.sessions.ttlDays });
  const models = new ModelService(new ModelRepository(db.kysely));
  const loggerOptions = { level: config.logLevel, redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' }, serializers: { req: serializeRequest } };
  const logger = options.logDestination ? pino(loggerOptions, options.logDestination) : pino(loggerOptions);
  const storage = await openStorage(config);
  // On PostgreSQL other processes may be web or worker processes: events travel through LISTEN/NOTIFY.
  const pgEvents = config.database.url ? new PgEventBus({ connectionString: config.database.url, logger: logger.child({ component: 'events' }) }) : null;
  await pgEvents?.start();
  const events: EventBus = pgEvents ?? new InProcessEventBus();
  const jobs: JobQueue = config.database.url
    ? new PgBossJobQueue({
        connectionString: config.database.url,
        leaseMs: options.jobs?.leaseMs ?? config.jobs.leaseMs,
        // Enqueues wake workers through NOTIFY; polling only picks up delayed reruns and retries.
        ...(options.jobs?.pollIntervalMs ? { pollIntervalMs: Math.max(200, options.jobs.pollIntervalMs) } : {}),
        logger: logger.child({ component: 'jobs' }),
      })
    : // On SQLite only `serve` runs jobs (web/worker need PostgreSQL), so a restart takes back its dead run's jobs at once.
      new InProcessJobQueue(db.kysely, { leaseMs: config.jobs.leaseMs, soleWorker: true, ...options.jobs, logger: logger.child({ component: 'jobs' }) });
  const replicate = config.replicate.token
    ? new ReplicateClient({ token: config.replicate.token, baseUrl: config.replicate.baseUrl, timeoutMs: config.replicate.timeoutMs, userAgent: `theway/${VERSION}`, logger: logger.child({ component: 'replicate' }) })
    : null;
  const storageUsage = new StorageUsageRepository(db.kysely);
  const storageQuota = new StorageQuota({ usage: storageUsage, limitBytes: config.quotas.storageBytesPerUser });
  const datasets = new DatasetService({
    repo: new DatasetRepository(db.kysely),
    models,
    storage,
    quota: storageQuota,
    limits: {
      maxConcurrentDecodes: config.datasets.maxConcurrentDecodes,
      maxImageBytes: config.datasets.maxImageBytes,
      maxImagePixels: config.datasets.maxImagePixels,
      maxImages: config.datasets.maxImages,
      maxZipEntries: config.datasets.maxImages * 4 + 50,
      maxZipInflatedBytes: config.datasets.maxImages * config.datasets.maxImageBytes,
    },
  });
  models.addDeletionHook((modelId) => datasets.deleteModelFiles(modelId));
  const trainings = new TrainingService({
    repo: new TrainingRepository(db.kysely),
    models,
    datasets,
    storage,
    jobs,
    events,
    provider: replicate && config.replicate.destination
      ? new ReplicateTrainingProvider(replicate, {
          destination: config.replicate.destination,
          destinationHardware: config.replicate.destinationHardware,
          maxUploadBytes: options.replicateMaxUploadBytes ?? MAX_FILE_BYTES,
          presignDataset: (key) => storage.presignedGetUrl(key, DATASET_URL_TTL_SECONDS),
        })
      : null,
    options: {
      costTable: loadCostTable(config.trainings.costTableFile),
      webhookUrl: config.replicate.webhookUrl ?? undefined,
      pollIntervalMs: { active: config.trainings.pollIntervalMs, max: 5 * 60_000 },
      reconcileGraceMs: options.reconcileGraceMs ?? 30_000,
      maxConcurrentPerUser: config.quotas.maxConcurrentTrainings,
    },
  });
  jobs.register(...trainingJobDefinitions(trainings));
  models.addDeletionPreparer((modelId) => trainings.prepareModelDeletion(modelId));
  const userWebhooks = new UserWebhookService(db.kysely, jobs, { allowPrivate: config.userWebhooks.allowPrivate });
  jobs.register(...userWebhooks.jobDefinitions());
  trainings.addEndedListener((trainingId) => userWebhooks.trainingEnded(trainingId));
  const generationRepo = new GenerationRepository(db.kysely);
  const generationLinks = new GenerationLinkService({ repo: new GenerationLinksRepository(db.kysely), generations: generationRepo, storage, publicUrl: config.publicUrl });
  const generations = new GenerationService({
    repo: generationRepo,
    models,
    storage,
    jobs,
    events,
    provider: replicate ? new ReplicateGenerationProvider(replicate) : null,
    limits: { ...config.generations, pollIntervalMs: Math.min(2_000, config.trainings.pollIntervalMs) },
    quota: storageQuota,
    links: generationLinks,
  });
  jobs.register(...generationJobDefinitions(generations));
  models.addDeletionHook((modelId) => generations.deleteModelFiles(modelId));
  const rateLimits = db.dialect === 'postgres' ? new RateLimitRepository(db.kysely) : null;
  let maintenanceTimer: NodeJS.Timeout | undefined;
  /** Housekeeping one worker's worth of processes can run repeatedly without harm. */
  const maintain = async () => {
    await trainings.pruneWebhookDeliveries(24 * 3600_000);
    await trainings.resumeUnfinished();
    await generations.resumeUnfinished();
    // A counter still matters for one window after its own ended (the sliding window looks back); the longest window is an hour.
    await rateLimits?.deleteExpired(Date.now() - 3600_000);
  };
  const orphans = new OrphanBlobSweep(db.kysely, storage);
  const sweepLeftovers = storage instanceof LocalBlobStorage ? (maxAgeMs: number) => storage.sweepLeftovers(maxAgeMs) : undefined;
  jobs.register(orphanSweepJobDefinition({ sweep: orphans, sweepLeftovers, graceMs: ORPHAN_GRACE_MS, everyMs: ORPHAN_SWEEP_EVERY_MS, logger }));
  /**
   * Removes files a crash left without their row (see OrphanBlobSweep). On SQLite this process is
   * the only one using the data and nothing is in flight yet (the worker starts before the server
   * listens), so they go at once, before any job runs. On PostgreSQL one worker of the deployment
   * sweeps in the background, daily, with a grace period (orphan-sweep-job.ts).
   */
  const sweepOrphans = async () => {
    if (db.dialect !== 'sqlite') {
      await jobs.enqueue(orphanSweepJob, {}, { singletonKey: ORPHAN_SWEEP_KEY });
      return;
    }
    await sweepCrashLeftovers({ sweep: orphans, sweepLeftovers, logger }, 0);
  };
  const admin = new AdminService({ repo: new AdminRepository(db.kysely), jobs, storageUsage, logger: logger.child({ component: 'admin' }) });
  return {
    config,
    version: VERSION,
    logger,
    db,
    accounts,
    models,
    storage,
    events,
    jobs,
    datasets,
    trainings,
    userWebhooks,
    generations,
    generationLinks,
    rateLimitStore: slidingWindowStore(rateLimits ?? new MemoryWindowCounter()),
    storageQuota,
    admin,
    replicate,
    checkDatabase: async () => {
      await sql`select 1`.execute(db.kysely);
    },
    startWorker: async () => {
      await sweepOrphans().catch((err: unknown) => logger.warn({ err }, 'could not sweep orphan files'));
      if (jobs instanceof PgBossJobQueue) {
        const imported = await importLegacyJobs(db.kysely, jobs, logger.child({ component: 'jobs' }));
        if (imported.moved + imported.refused > 0) logger.info(imported, 'moved the previous job queue\'s unfinished jobs to pg-boss');
      }
      await jobs.start({ concurrency: config.jobs.concurrency });
      await trainings.resumeUnfinished();
      await generations.resumeUnfinished();
      maintenanceTimer = setInterval(() => void maintain().catch((err: unknown) => logger.warn({ err }, 'housekeeping failed')), MAINTENANCE_INTERVAL_MS);
      maintenanceTimer.unref();
    },
    close: async () => {
      clearInterval(maintenanceTimer);
      // Stopped even when this process never ran jobs: an enqueue starts pg-boss's timers.
      await jobs.stop({ timeoutMs: 10_000 });
      if (jobs instanceof PgBossJobQueue) await jobs.close();
      await pgEvents?.close();
      if (storage instanceof S3BlobStorage) storage.close();
      await db.close();
    },
  };
}

const MAINTENANCE_INTERVAL_MS = 10 * 60_000;

/** How long a file without a row may be in the middle of an upload in another process. */
const ORPHAN_GRACE_MS = 15 * 60_000;
const ORPHAN_SWEEP_EVERY_MS = 24 * 3600_000;

/** Local directory by default; an S3-compatible bucket with S3_BUCKET, checked before anything starts. */
async function openStorage(config: Config): Promise<BlobStorage> {
  if (!config.storage.s3) return new LocalBlobStorage(config.storage.localDir);
  const s3 = new S3BlobStorage(config.storage.s3);
  await s3.checkBucket();
  return s3;
}

/**
 * Paths that carry a credential in the URL itself: a public share link's token (`/s/<token>`, and
 * the API and image routes behind it). The token is the whole capability, so it is cut out of
 * every logged URL, also from a query string (e.g. `?next=%2Fs%2F…`); the rest stays for debugging.
 */
const SECRET_URL_PATHS = /((?:\/|%2F)(?:s|api(?:\/|%2F)shared)(?:\/|%2F))[^/?#&%]+/gi;

export function redactUrl(url: string): string {
  return url.replace(SECRET_URL_PATHS, '$1[redacted]');
}

/**
 * Fastify's request serializer (method, url, host, remote address), with secrets cut out of the
 * URL. Passed to pino, it replaces Fastify's own for "incoming request" and every line that logs `req`.
 */
function serializeRequest(req: { method?: string; url?: string; host?: string; ip?: string; headers?: Record<string, unknown>; socket?: { remotePort?: number } }) {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? redactUrl(req.url) : req.url,
    version: req.headers?.['accept-version'],
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** Headers whose values are credentials: never written to a log. */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'req.headers["webhook-signature"]',
  'res.headers["set-cookie"]',
];
