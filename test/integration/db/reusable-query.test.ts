import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, DIALECTS, type TestDb } from '../../support/databases.ts';
import { reusableQuery } from '../../../src/db/reusable-query.ts';
import { insertUser, insertModel } from '../../support/factories.ts';

describe.each(DIALECTS)('reusable compiled queries (%s)', (dialect) => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb(dialect);
  });
  afterAll(() => db.drop());

  it('binds each call\'s arguments in the right places, also when one is used twice', async () => {
    const a = await insertUser(db.kysely);
    const b = await insertUser(db.kysely);
    await insertModel(db.kysely, a.id, { name: 'A1', visibility: 'public' });
    await insertModel(db.kysely, b.id, { name: 'B1', visibility: 'private' });
    const q = reusableQuery(
      (k, x: { owner: string; vis: string }) =>
        k.selectFrom('models').select('name').where('visibility', '=', x.vis).where((eb) => eb.or([eb('owner_id', '=', x.owner), eb('name', '=', x.owner)])).where('status', '=', 'draft'),
      ['owner', 'vis'],
    );
    expect((await q(db.kysely, { owner: a.id, vis: 'public' })).map((r) => r.name)).toEqual(['A1']);
    expect((await q(db.kysely, { owner: b.id, vis: 'private' })).map((r) => r.name)).toEqual(['B1']);
    expect(await q(db.kysely, { owner: b.id, vis: 'public' })).toEqual([]);
  });
});
