import { CompiledQuery, type Compilable, type Kysely } from 'kysely';

/**
 * A query compiled once and re-run with new arguments. Building and compiling a Kysely query
 * costs several times more than running a small indexed SQLite lookup, which matters on the
 * per-request hot path (authentication, list revisions). The query is compiled with marker values;
 * each call swaps the markers for the real arguments, position by position.
 */
export function reusableQuery<A extends Record<string, unknown>, R>(
  build: (db: Kysely<any>, args: A) => Compilable<R>,
  argNames: ReadonlyArray<keyof A & string>,
): (db: Kysely<any>, args: A) => Promise<R[]> {
  const compiledFor = new WeakMap<Kysely<any>, { sql: string; slots: Array<string | { value: unknown }> }>();
  const marker = (name: string) => `\u0000arg:${name}`;
  return async (db, args) => {
    let compiled = compiledFor.get(db);
    if (!compiled) {
      const markers = Object.fromEntries(argNames.map((n) => [n, marker(n)])) as A;
      const q = build(db, markers).compile();
      compiled = {
        sql: q.sql,
        slots: q.parameters.map((p) => {
          const name = argNames.find((n) => p === marker(n));
          return name ?? { value: p };
        }),
      };
      compiledFor.set(db, compiled);
    }
    const parameters = compiled.slots.map((s) => (typeof s === 'string' ? args[s] : s.value));
    const result = await db.executeQuery<R>(CompiledQuery.raw(compiled.sql, parameters));
    return result.rows;
  };
}
