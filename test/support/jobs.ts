import { existsSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { sql } from 'kysely';
import pg from 'pg';
import type { AppContext } from '../../src/app-context.ts';
import type { JobInfo } from '../../src/jobs/jobs.ts';
import { PgBossJobQueue } from '../../src/jobs/pg-boss-queue.ts';

/**
 * Every job the app's queue holds (optionally of one name), oldest first, as the port describes
 * them — whichever adapter runs: the in-process queue's `jobs` table or pg-boss's `pgboss.job`.
 */
export async function listJobs(ctx: AppContext, name?: string): Promise<JobInfo[]> {
  // pg-boss creates its schema on the first start or enqueue; before that there are no jobs.
  if (ctx.jobs instanceof PgBossJobQueue && (await sql<{ t: string | null }>`select to_regclass('pgboss.job') as t`.execute(ctx.db.kysely)).rows[0]?.t === null) return [];
  const ids =
    ctx.jobs instanceof PgBossJobQueue
      ? (await sql<{ id: string }>`select id from pgboss.job ${name === undefined ? sql`` : sql`where name = ${name}`} order by created_on, id`.execute(ctx.db.kysely)).rows.map((r) => r.id)
      : (await ctx.db.kysely.selectFrom('jobs').select('id').$if(name !== undefined, (q) => q.where('name', '=', name!)).orderBy('created_at').orderBy('id').execute()).map((r) => r.id);
  const jobs = await Promise.all(ids.map((id) => ctx.jobs.getJob(id)));
  return jobs.filter((j): j is JobInfo => j !== null);
}

/** A job row as a server process stored it: its payload and its last error, unparsed beyond JSON. */
export interface StoredJob {
  id: string;
  name: string;
  payload: unknown;
  /** The in-process queue's `last_error`; pg-boss's whole `output` (where its errors go). */
  lastError: unknown;
}

/**
 * Every job a server process left in its database, read behind its back (it is another process,
 * so there is no AppContext to ask): the `jobs` table of its SQLite file, or on PostgreSQL
 * pg-boss's `pgboss.job` and the `jobs` table of a deployment from before pg-boss. A database or
 * table that does not exist yet holds no jobs.
 */
export async function readStoredJobs(source: { sqliteFile: string } | { databaseUrl: string }): Promise<StoredJob[]> {
  if ('sqliteFile' in source) {
    if (!existsSync(source.sqliteFile)) return [];
    const db = new DatabaseSync(source.sqliteFile, { readOnly: true });
    try {
      if (!db.prepare("select 1 from sqlite_master where type = 'table' and name = 'jobs'").get()) return [];
      const rows = db.prepare('select id, name, payload, last_error from jobs order by created_at, id').all() as Array<{ id: string; name: string; payload: string; last_error: string | null }>;
      return rows.map((r) => ({ id: r.id, name: r.name, payload: parseJson(r.payload), lastError: r.last_error }));
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: source.databaseUrl, application_name: 'theway-test-job-scan' });
  await client.connect();
  try {
    const { rows: [tables] } = await client.query<{ boss: string | null; legacy: string | null }>("select to_regclass('pgboss.job')::text as boss, to_regclass('public.jobs')::text as legacy");
    const jobs: StoredJob[] = [];
    if (tables?.boss) {
      const { rows } = await client.query<{ id: string; name: string; data: unknown; output: unknown }>('select id::text as id, name, data, output from pgboss.job order by created_on, id');
      jobs.push(...rows.map((r) => ({ id: r.id, name: r.name, payload: r.data, lastError: r.output })));
    }
    if (tables?.legacy) {
      const { rows } = await client.query<{ id: string; name: string; payload: string; last_error: string | null }>('select id, name, payload, last_error from public.jobs order by created_at, id');
      jobs.push(...rows.map((r) => ({ id: r.id, name: r.name, payload: parseJson(r.payload), lastError: r.last_error })));
    }
    return jobs;
  } finally {
    await client.end();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
