import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import type { Config } from './config.ts';
import { openDatabase, type Db } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { AccountRepository } from './accounts/account-repository.ts';
import { AccountService } from './accounts/account-service.ts';
import { ModelRepository } from './models/model-repository.ts';
import { ModelService } from './models/model-service.ts';
import type { BlobStorage } from './storage/storage.ts';
import { LocalBlobStorage } from './storage/local-storage.ts';
import { InProcessEventBus, type EventBus } from './events/event-bus.ts';

export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/** The composition root: the one place that chooses adapters and wires services together. */
export interface AppContext {
  config: Config;
  version: string;
  db: Db;
  accounts: AccountService;
  models: ModelService;
  storage: BlobStorage;
  events: EventBus;
  checkDatabase(): Promise<void>;
  close(): Promise<void>;
}

export async function createAppContext(config: Config, options: { migrate?: boolean } = {}): Promise<AppContext> {
  const db = openDatabase({ databaseUrl: config.database.url, sqliteFile: config.database.sqliteFile, poolSize: config.database.poolSize });
  if (options.migrate ?? true) await migrateToLatest(db);
  const accounts = new AccountService(new AccountRepository(db.kysely), { sessionTtlDays: config.sessions.ttlDays });
  const models = new ModelService(new ModelRepository(db.kysely));
  const storage: BlobStorage = new LocalBlobStorage(config.storage.localDir);
  const events: EventBus = new InProcessEventBus();
  return {
    config,
    version: VERSION,
    db,
    accounts,
    models,
    storage,
    events,
    checkDatabase: async () => {
      await sql`select 1`.execute(db.kysely);
    },
    close: () => db.close(),
  };
}
