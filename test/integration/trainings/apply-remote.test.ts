import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../support/test-app.ts';
import { insertModel, insertTraining } from '../../support/factories.ts';
import type { RemoteTraining } from '../../../src/providers/training-provider.ts';
import type { PlatformEvent } from '../../../src/events/event-bus.ts';

/** What one status poll (or webhook) does to a training row, whichever way it arrived. */
describe('applying a remote snapshot', () => {
  let t: TestApp;
  let owner: { id: string };
  beforeAll(async () => {
    t = await startTestApp('sqlite');
    owner = await t.newUser();
  });
  afterAll(() => t.close());

  const remote = (logs: string): RemoteTraining => ({
    id: 'r-1', status: 'processing', logs, error: null, input: {}, output: null,
    createdAt: '2026-11-25T10:00:00.000Z', startedAt: '2026-11-25T10:00:05.000Z', completedAt: null, predictSeconds: null,
  });

  it('writes and announces what changed, and nothing when a poll learns nothing new', async () => {
    const model = await insertModel(t.ctx.db.kysely, owner.id, { status: 'training' });
    const training = await insertTraining(t.ctx.db.kysely, owner.id, model.id, {
      status: 'processing', remote_id: 'r-1', remote_status: 'processing', weights_key: null, output_version: null, log_state: null, progress_step: null, stage: 'booting', completed_at: null,
    });
    const events: PlatformEvent[] = [];
    const unsubscribe = t.ctx.events.subscribe((e) => events.push(e));
    try {
      const logs = 'flux_train_replicate:  10%|█         | 100/1000 [00:50<07:30,  2.00it/s, lr: 1.0e-04 loss: 4.321e-01]\n';
      const first = await t.ctx.trainings.applyRemote(training.id, remote(logs));
      expect(first?.progress_step).toBe(100);
      expect(events).toHaveLength(1);
      const stored = await t.ctx.db.kysely.selectFrom('trainings').selectAll().where('id', '=', training.id).executeTakeFirstOrThrow();

      await new Promise((r) => setTimeout(r, 5)); // a later clock reading, so a write would show
      await t.ctx.trainings.applyRemote(training.id, remote(logs));
      const again = await t.ctx.db.kysely.selectFrom('trainings').selectAll().where('id', '=', training.id).executeTakeFirstOrThrow();
      expect(again.updated_at).toBe(stored.updated_at);
      expect(again.last_event_at).toBe(stored.last_event_at);
      expect(events).toHaveLength(1);

      const more = `${logs}flux_train_replicate:  20%|██        | 200/1000 [01:40<06:40,  2.00it/s, lr: 1.0e-04 loss: 3.900e-01]\n`;
      const moved = await t.ctx.trainings.applyRemote(training.id, remote(more));
      expect(moved?.progress_step).toBe(200);
      expect(events).toHaveLength(2);

      // An older snapshot arriving late changes nothing: no step back, no lost loss points.
      const lossBefore = await t.ctx.db.kysely.selectFrom('training_loss').select('step').where('training_id', '=', training.id).execute();
      const late = await t.ctx.trainings.applyRemote(training.id, remote(logs));
      expect(late?.progress_step).toBe(200);
      expect(await t.ctx.db.kysely.selectFrom('training_loss').select('step').where('training_id', '=', training.id).execute()).toEqual(lossBefore);
      expect(events).toHaveLength(2);

      // Two snapshots applied at once end at the newer one, whichever writes last.
      const newest = `${more}flux_train_replicate:  30%|███       | 300/1000 [02:30<05:50,  2.00it/s, lr: 1.0e-04 loss: 3.500e-01]\n`;
      await Promise.all([t.ctx.trainings.applyRemote(training.id, remote(newest)), t.ctx.trainings.applyRemote(training.id, remote(more))]);
      const after = await t.ctx.db.kysely.selectFrom('trainings').select(['progress_step']).where('id', '=', training.id).executeTakeFirstOrThrow();
      expect(after.progress_step).toBe(300);
    } finally {
      unsubscribe();
    }
  });
});
