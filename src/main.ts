import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline/promises';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createAppContext } from './app-context.ts';
import { buildApp } from './http/app.ts';
import { sweepStaleSpools } from './http/multipart-uploads.ts';
import { openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { signUpInput } from './accounts/schemas.ts';
import { AppError } from './shared/errors.ts';
import sharp from 'sharp';

const HELP = `The Way — train LoRA image models from your own images.

Usage: npx theway <command> [options]

Commands:
  serve                 Web server and job worker in one process (the embedded default).
  web                   Web server only (scale mode: run several behind a proxy).
  worker                Job worker only (submits and tracks trainings, runs generations).
  migrate               Apply database migrations and exit.
  create-user           Create an account: --email <e> --name <display name> [--admin]
                        The password is read from standard input (or prompted for).
  help                  Show this help.

Configuration comes from environment variables; see the README ("Configuration").
`;

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return await rl.question('Password (at least 10 characters): ');
  } finally {
    rl.close();
  }
}

async function run(config: Config, role: 'serve' | 'web' | 'worker'): Promise<void> {
  if (role !== 'serve' && !config.database.url) {
    // Separate processes meet through PostgreSQL (jobs, live events); on SQLite a web process
    // would never hear what a worker does.
    throw new Error(`"theway ${role}" runs one part of a scaled deployment and needs DATABASE_URL (PostgreSQL). For one machine, run "npx theway serve".`);
  }
  if (role !== 'serve' && !config.storage.s3 && !config.storage.sharedDataDir) {
    // Files in DATA_DIR/blobs are only this process's: a worker on another host could not read the
    // images a web process stored, and nothing would say so until trainings failed.
    throw new Error(`"theway ${role}" runs one part of a scaled deployment and needs storage every process shares: set S3_BUCKET (an S3-compatible bucket, with the other S3_* settings), or SHARED_DATA_DIR=true if every web and worker process mounts the same DATA_DIR (one machine, or a shared network volume).`);
  }
  // libvips' operation cache only holds memory for a stream of unique uploads.
  sharp.cache(false);
  const ctx = await createAppContext(config);
  const app = role === 'worker' ? null : await buildApp(ctx);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    ctx.logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await app?.close();
    await ctx.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  if (role !== 'web') await ctx.startWorker();
  // On SQLite this process is the only one using DATA_DIR: spool files there are a crashed run's.
  if (role === 'serve' && ctx.db.dialect === 'sqlite') await sweepStaleSpools(config.datasets.tmpDir, 0);
  if (app) await app.listen({ host: config.host, port: config.port });
  ctx.logger.info({ role, database: ctx.db.dialect, dataDir: config.dataDir, training: ctx.replicate ? 'replicate' : 'not configured' }, 'The Way is running');
}

async function createUser(config: Config, argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { email: { type: 'string' }, name: { type: 'string' }, admin: { type: 'boolean', default: false } },
  });
  const password = await readPassword();
  const parsed = signUpInput.safeParse({ email: values.email, displayName: values.name, password });
  if (!parsed.success) {
    throw new Error(parsed.error.issues.map((i) => `--${i.path[0] === 'displayName' ? 'name' : String(i.path[0])}: ${i.message}`).join('\n'));
  }
  const ctx = await createAppContext(config);
  try {
    const user = await ctx.accounts.createUser({ ...parsed.data, role: values.admin ? 'admin' : 'user' });
    console.log(`Created ${user.role} ${user.email} (${user.id}).`);
  } finally {
    await ctx.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command = 'help', ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h' || rest.includes('--help')) {
    process.stdout.write(HELP);
    return;
  }
  const config = loadConfig();
  switch (command) {
    case 'serve':
    case 'web':
    case 'worker':
      return run(config, command);
    case 'migrate': {
      const db = openDatabase({ databaseUrl: config.database.url, sqliteFile: config.database.sqliteFile });
      try {
        const result = await migrateToLatest(db);
        const applied = result.results?.map((r) => r.migrationName) ?? [];
        console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'The database is up to date.');
      } finally {
        await db.close();
      }
      return;
    }
    case 'create-user':
      return createUser(config, rest);
    default:
      throw new Error(`Unknown command "${command}". Run "npx theway help" for the list of commands.`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof AppError || error instanceof Error) {
    console.error(error instanceof ConfigError ? `${error.message}\nSee the README, section "Configuration".` : `Error: ${error.message}`);
  } else {
    console.error(error);
  }
  process.exit(1);
});
