import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';
import { reusableQuery } from './reusable-query.ts';

/** Call inside the transaction that changes the collection, so the bump and the change commit together. */
export async function bumpRevisions(db: Kysely<Database>, keys: string[]): Promise<void> {
  for (const key of new Set(keys)) {
    await db
      .insertInto('collection_revisions')
      .values({ key, rev: 1 })
      .onConflict((oc) => oc.column('key').doUpdateSet({ rev: sql`collection_revisions.rev + 1` }))
      .execute();
  }
}

// Read on every list request, hence compiled once.
const revisionLookup = reusableQuery(
  (db: Kysely<Database>, a: { key: string }) => db.selectFrom('collection_revisions').select('rev').where('key', '=', a.key),
  ['key'],
);

export async function readRevision(db: Kysely<Database>, key: string): Promise<number> {
  const [row] = await revisionLookup(db, { key });
  return row ? Number(row.rev) : 0;
}
