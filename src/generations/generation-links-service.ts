import type { Readable } from 'node:stream';
import type { User } from '../accounts/types.ts';
import type { BlobStorage } from '../storage/storage.ts';
import { isUniqueViolation } from '../db/database.ts';
import { AppError, conflict, notFound } from '../shared/errors.ts';
import { newSecret } from '../shared/ids.ts';
import type { GenerationRepository } from './generation-repository.ts';
import type { GenerationLinkRow, GenerationLinksRepository } from './generation-links-repository.ts';

/** What the owner sees of a link: the address to copy and how it was made. */
export interface ShareLinkView {
  /** `${PUBLIC_URL or the request's origin}/s/<token>`; a path when neither is known (see viewsFor). */
  url: string;
  includePrompt: boolean;
  createdAt: string;
}

/**
 * What anyone holding the link sees. Deliberately little: no owner, no model (its id, name or
 * trigger word), no seed or settings, nothing about other generations; the prompt only when the
 * owner chose to show it, because prompts often name the private subject.
 */
export interface SharedGenerationView {
  /** When the images were made. */
  madeAt: string;
  prompt: string | null;
  images: Array<{ position: number; url: string; downloadUrl: string; width: number; height: number; contentType: string }>;
}

/** One answer for every token that opens nothing: unknown, turned off, or malformed. */
const DEAD_LINK = 'This link was turned off or never existed.';
const deadLink = () => new AppError('not_found', DEAD_LINK);

/** The token in the URL: 32 random bytes, base64url (43 characters). */
export const SHARE_TOKEN_BYTES = 32;

/** Where the public page lives; the web app answers it (`/s/:token`). */
export const sharePath = (token: string) => `/s/${token}`;

/**
 * Public share links: an unguessable URL to ONE finished generation, which its owner can turn off
 * at any time. A link is a capability: whoever has the URL sees the images, signed in or not.
 */
export class GenerationLinkService {
  readonly #repo: GenerationLinksRepository;
  readonly #generations: Pick<GenerationRepository, 'findById'>;
  readonly #storage: BlobStorage;
  readonly #publicUrl: string | undefined;
  readonly #now: () => Date;

  constructor(deps: { repo: GenerationLinksRepository; generations: Pick<GenerationRepository, 'findById'>; storage: BlobStorage; publicUrl: string | undefined; now?: () => Date }) {
    this.#repo = deps.repo;
    this.#generations = deps.generations;
    this.#storage = deps.storage;
    this.#publicUrl = deps.publicUrl;
    this.#now = deps.now ?? (() => new Date());
  }

  /**
   * The generation's link, made on the first request. Asking again returns the same link; an
   * explicit `includePrompt` then changes what the same URL shows.
   */
  async create(viewer: User, generationId: string, input: { includePrompt?: boolean | undefined }, origin: string): Promise<{ link: ShareLinkView; created: boolean }> {
    const generation = await this.#generations.findById(generationId);
    // Generations are private to their author: anyone else's looks like a missing one.
    if (!generation || generation.owner_id !== viewer.id) throw notFound('Generation');
    if (generation.status !== 'succeeded') {
      throw conflict(
        generation.status === 'failed' || generation.status === 'canceled'
          ? `This generation ${generation.status === 'failed' ? 'failed' : 'was canceled'} and has no images to share. Share a finished one instead.`
          : 'This generation has not finished yet. A public link can be made once its images are ready.',
      );
    }
    if ((await this.#repo.images(generationId)).length === 0) throw conflict('This generation has no images to share.');

    const existing = await this.#repo.forGeneration(generationId);
    if (existing) return { link: await this.#keep(existing, input.includePrompt, origin), created: false };
    const row: GenerationLinkRow = { generation_id: generationId, token: newSecret(SHARE_TOKEN_BYTES), include_prompt: input.includePrompt ? 1 : 0, created_at: this.#now().toISOString() };
    try {
      await this.#repo.insert(row);
    } catch (error) {
      // Two requests at once: the other one made the link; both answer with it.
      if (!isUniqueViolation(error)) throw error;
      const winner = await this.#repo.forGeneration(generationId);
      if (!winner) throw error;
      return { link: await this.#keep(winner, input.includePrompt, origin), created: false };
    }
    return { link: this.#view(row, origin), created: true };
  }

  async #keep(row: GenerationLinkRow, includePrompt: boolean | undefined, origin: string): Promise<ShareLinkView> {
    if (includePrompt === undefined || includePrompt === (row.include_prompt === 1)) return this.#view(row, origin);
    await this.#repo.setIncludePrompt(row.generation_id, includePrompt);
    return this.#view({ ...row, include_prompt: includePrompt ? 1 : 0 }, origin);
  }

  /** Turns the link off: its URL answers 404 from now on, and a new link gets a new token. */
  async revoke(viewer: User, generationId: string): Promise<void> {
    const generation = await this.#generations.findById(generationId);
    if (!generation || generation.owner_id !== viewer.id) throw notFound('Generation');
    await this.#repo.delete(generationId);
  }

  /**
   * The owner's links of these generations, for the gallery. Without PUBLIC_URL and without a
   * request origin, the URL is a path the web app resolves against the address it was loaded from.
   */
  async viewsFor(generationIds: string[], origin?: string): Promise<Map<string, ShareLinkView>> {
    const rows = await this.#repo.forGenerations(generationIds);
    return new Map(rows.map((r) => [r.generation_id, this.#view(r, origin)]));
  }

  #view(row: GenerationLinkRow, origin: string | undefined): ShareLinkView {
    return { url: `${this.#publicUrl ?? origin ?? ''}${sharePath(row.token)}`, includePrompt: row.include_prompt === 1, createdAt: row.created_at };
  }

  /** The public page's content. Every token that opens nothing gets the same 404 after the same one lookup. */
  async open(token: string): Promise<SharedGenerationView> {
    const shared = await this.#repo.byToken(token);
    if (!shared || shared.status !== 'succeeded') throw deadLink();
    const images = await this.#repo.images(shared.generation_id);
    const base = `/api/shared/${encodeURIComponent(token)}/images`;
    return {
      madeAt: shared.completed_at ?? shared.created_at,
      prompt: shared.include_prompt === 1 ? shared.prompt : null,
      images: images.map((i) => ({
        position: Number(i.position),
        url: `${base}/${i.position}`,
        downloadUrl: `${base}/${i.position}?download=1`,
        width: Number(i.width),
        height: Number(i.height),
        contentType: i.content_type,
      })),
    };
  }

  /** One image of a shared generation, streamed from storage. `position` is whatever the URL held. */
  async openImage(token: string, position: string): Promise<{ stream: Readable; contentType: string; size: number; filename: string }> {
    const shared = await this.#repo.byToken(token);
    if (!shared || shared.status !== 'succeeded') throw deadLink();
    const image = /^[0-9]{1,2}$/.test(position) ? (await this.#repo.images(shared.generation_id)).find((i) => Number(i.position) === Number(position)) : undefined;
    if (!image) throw notFound('Image');
    const ext = image.content_type === 'image/jpeg' ? 'jpg' : (image.content_type.split('/')[1] ?? 'bin');
    // The file name names neither the generation nor the token: downloads get passed around.
    return { stream: await this.#storage.get(image.blob_key), contentType: image.content_type, size: Number(image.bytes), filename: `the-way-${Number(image.position) + 1}.${ext}` };
  }
}
