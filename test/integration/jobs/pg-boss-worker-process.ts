/**
 * A worker process for the "killed with SIGKILL" test: claims the job given in argv, reports
 * "claimed <id>" on stdout, then hangs in the handler until it is killed.
 */
import { z } from 'zod';
import { PgBossJobQueue } from '../../../src/jobs/pg-boss-queue.ts';
import { defineJob } from '../../../src/jobs/jobs.ts';

const [connectionString, leaseMs] = process.argv.slice(2);
const queue = new PgBossJobQueue({ connectionString: connectionString!, leaseMs: Number(leaseMs), pollIntervalMs: 25, superviseIntervalMs: 1_000 });
queue.register(defineJob({
  name: 'test.long',
  payload: z.object({}),
  handler: async (_payload, ctx) => {
    process.stdout.write(`claimed ${ctx.jobId}\n`);
    await new Promise(() => undefined);
  },
}));
await queue.start();
process.stdout.write('ready\n');
