import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { SqliteDialect } from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Kysely has no `node:sqlite` dialect, but its SqliteDialect accepts anything shaped
 * like better-sqlite3. Wrapping the built-in driver avoids a node-gyp addon, which
 * would be compiled for the machine's Node 20 instead of the pinned Node 24.
 */
export function openSqlite(file: string): DatabaseSync {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA foreign_keys = ON');
  db.exec('PRAGMA busy_timeout = 5000');
  // NORMAL is durable across process crashes in WAL mode; only an OS crash can lose the last commit.
  db.exec('PRAGMA synchronous = NORMAL');
  return db;
}

const STATEMENT_CACHE_SIZE = 500;

type Param = null | number | bigint | string | Uint8Array;

export function sqliteDialect(file: string): SqliteDialect {
  return new SqliteDialect({
    database: async () => {
      const db = openSqlite(file);
      // Kysely re-sends the same SQL text for the same query shape; preparing costs more than running a small query.
      const statements = new Map<string, { stmt: StatementSync; reader: boolean }>();
      const prepared = (sql: string) => {
        let entry = statements.get(sql);
        if (!entry) {
          const stmt = db.prepare(sql);
          entry = { stmt, reader: stmt.columns().length > 0 };
          if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
          statements.set(sql, entry);
        }
        return entry;
      };
      return {
        close: () => db.close(),
        prepare: (sql: string) => {
          const { stmt, reader } = prepared(sql);
          return {
            reader,
            all: (p: ReadonlyArray<unknown>) => stmt.all(...(p as Param[])),
            run: (p: ReadonlyArray<unknown>) => stmt.run(...(p as Param[])),
            iterate: (p: ReadonlyArray<unknown>) => stmt.iterate(...(p as Param[])),
          };
        },
      };
    },
  });
}
