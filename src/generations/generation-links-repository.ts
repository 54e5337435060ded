import type { Kysely, Selectable } from 'kysely';
import type { Database, GenerationLinksTable } from '../db/schema.ts';
import type { GenerationImageRow } from './generation-repository.ts';

export type GenerationLinkRow = Selectable<GenerationLinksTable>;

/** What a public link opens: the link and the few facts of its generation the public page may show. */
export interface SharedGenerationRow {
  generation_id: string;
  include_prompt: number;
  status: string;
  prompt: string;
  created_at: string;
  completed_at: string | null;
}

/** The only SQL of public share links. */
export class GenerationLinksRepository {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  forGeneration(generationId: string): Promise<GenerationLinkRow | undefined> {
    return this.#db.selectFrom('generation_links').selectAll().where('generation_id', '=', generationId).executeTakeFirst();
  }

  /** The links of these generations (the gallery shows each one's link). */
  forGenerations(generationIds: string[]): Promise<GenerationLinkRow[]> {
    if (generationIds.length === 0) return Promise.resolve([]);
    return this.#db.selectFrom('generation_links').selectAll().where('generation_id', 'in', generationIds).execute();
  }

  /** Throws a unique violation when the generation already has a link (two requests at once). */
  async insert(row: GenerationLinkRow): Promise<void> {
    await this.#db.insertInto('generation_links').values(row).execute();
  }

  async setIncludePrompt(generationId: string, includePrompt: boolean): Promise<void> {
    await this.#db.updateTable('generation_links').set({ include_prompt: includePrompt ? 1 : 0 }).where('generation_id', '=', generationId).execute();
  }

  async delete(generationId: string): Promise<void> {
    await this.#db.deleteFrom('generation_links').where('generation_id', '=', generationId).execute();
  }

  /** One indexed lookup by token, whatever the token looks like (unknown and revoked ones find nothing). */
  byToken(token: string): Promise<SharedGenerationRow | undefined> {
    return this.#db
      .selectFrom('generation_links as l')
      .innerJoin('generations as g', 'g.id', 'l.generation_id')
      .select(['l.generation_id', 'l.include_prompt', 'g.status', 'g.prompt', 'g.created_at', 'g.completed_at'])
      .where('l.token', '=', token)
      .executeTakeFirst();
  }

  images(generationId: string): Promise<GenerationImageRow[]> {
    return this.#db.selectFrom('generation_images').selectAll().where('generation_id', '=', generationId).orderBy('position').execute();
  }
}
