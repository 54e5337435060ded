import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { openDatabase, type Db, type Dialect } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { TEST_PG_ADMIN_URL } from './services.ts';

export const DIALECTS: Dialect[] = ['sqlite', 'postgres'];

export interface TestDb extends Db {
  /** Connection string of the throw-away database (PostgreSQL) or the SQLite file path. */
  location: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database of the given dialect, removed again by `drop()`. */
export async function createTestDb(dialect: Dialect): Promise<TestDb> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'theway-db-'));
    const file = join(dir, 'test.db');
    const db = openDatabase({ sqliteFile: file });
    await migrateToLatest(db);
    return { ...db, location: file, drop: async () => { await db.close(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const name = `theway_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(TEST_PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const db = openDatabase({ databaseUrl: url.toString(), sqliteFile: '', poolSize: 5 });
  await migrateToLatest(db);
  return {
    ...db,
    location: url.toString(),
    drop: async () => {
      await db.close();
      const c = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
