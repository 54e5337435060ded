import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Serialized responses of collection reads, keyed by the collection's revision (see
 * db/collection-revisions.ts). A stale entry can never be served: a write bumps the revision,
 * so the next read misses. Bounded by total bytes, least recently used evicted first.
 */
export class RevisionCache {
  // Buffers, not strings: encoding a large string to UTF-8 on every send costs more than the rest of the request.
  private readonly entries = new Map<string, { body: Buffer; etag: string }>();
  private bytes = 0;
  private readonly maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  async reply(
    request: FastifyRequest,
    reply: FastifyReply,
    key: string,
    compute: () => Promise<unknown>,
  ): Promise<FastifyReply> {
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key); // re-insert: Map order is the recency order
      this.entries.set(key, entry);
    } else {
      const body = Buffer.from(JSON.stringify(await compute()));
      entry = { body, etag: `"${createHash('sha1').update(key).digest('base64url')}"` };
      this.store(key, entry);
    }
    reply.header('etag', entry.etag).header('cache-control', 'private, no-cache');
    if (request.headers['if-none-match'] === entry.etag) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(entry.body);
  }

  private store(key: string, entry: { body: Buffer; etag: string }): void {
    if (entry.body.length > this.maxBytes / 4) return;
    this.entries.set(key, entry);
    this.bytes += entry.body.length;
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= e.body.length;
    }
  }
}
