import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';

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

export async function readRevision(db: Kysely<Database>, key: string): Promise<number> {
  const row = await db.selectFrom('collection_revisions').select('rev').where('key', '=', key).executeTakeFirst();
  return row ? Number(row.rev) : 0;
}
