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
      // A closed pool's sockets may still be saying goodbye; terminating them then surfaces as an
      // unhandled 57P01 error in the test process, so give them a moment to leave on their own.
      for (let i = 0; i < 100; i++) {
        const { rows } = await c.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = $1', [name]);
        if (rows[0]!.n === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
