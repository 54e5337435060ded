import { sql } from 'kysely';
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
