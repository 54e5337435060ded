import { DIALECTS, createTestDb } from '../../support/databases.ts';
import { describeJobQueueContract } from '../../contract/jobs-contract.ts';
import { InProcessJobQueue } from '../../../src/jobs/in-process-queue.ts';

for (const dialect of DIALECTS) {
  describeJobQueueContract(`in-process (${dialect})`, async () => {
    const db = await createTestDb(dialect);
    return {
      db: db.kysely,
      newQueue: () => new InProcessJobQueue(db.kysely, { leaseMs: 60_000, pollIntervalMs: 25 }),
      expireLeases: async () => {
        await db.kysely.updateTable('jobs').set({ locked_until: new Date(Date.now() - 1000).toISOString() }).where('state', '=', 'running').execute();
      },
      close: () => db.drop(),
    };
  });
}
