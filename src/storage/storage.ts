import type { Readable } from 'node:stream';
import { AppError } from '../shared/errors.ts';

/**
 * The blob storage port. Adapters: a local directory (embedded default) and, later,
 * an S3-compatible bucket. Both run the contract in test/contract/storage-contract.ts.
 */
export interface BlobStorage {
  /**
   * Stores `body` under `key`, replacing any previous blob. Atomic: readers see either the old
   * blob or the complete new one, and a failed or aborted stream leaves nothing behind.
   */
  put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<PutResult>;
  /** The blob's bytes; rejects with `BlobNotFoundError` when there is none. */
  get(key: string): Promise<Readable>;
  /** Size and content type, or null when the blob does not exist. */
  stat(key: string): Promise<BlobStat | null>;
  /** Removes the blob; removing a missing blob is not an error. */
  delete(key: string): Promise<void>;
  /** Removes every blob whose key starts with `prefix` (a plain string prefix, as in S3). */
  deletePrefix(prefix: string): Promise<void>;
  /** Keys starting with `prefix` (a plain string prefix), in no guaranteed order. */
  list(prefix: string): AsyncIterable<string>;
  /**
   * A URL a browser can fetch the blob from directly for `ttlSeconds`, or null when the
   * adapter cannot make one (local storage: the server streams the blob itself).
   */
  presignedGetUrl(key: string, ttlSeconds: number): Promise<string | null>;
}

export interface PutOptions {
  contentType?: string | undefined;
}

export interface PutResult {
  key: string;
  size: number;
  /** Hex sha256 of the stored bytes, computed while writing. */
  sha256: string;
}

export interface BlobStat {
  size: number;
  contentType?: string | undefined;
}

export class BlobNotFoundError extends AppError {
  readonly key: string;
  constructor(key: string) {
    super('not_found', 'The file was not found.');
    this.name = 'BlobNotFoundError';
    this.key = key;
  }
}

export const isBlobNotFound = (error: unknown): error is BlobNotFoundError => error instanceof BlobNotFoundError;

/** A key our own code built wrongly: a programming error, never shown to a user as a 4xx. */
export class InvalidBlobKeyError extends Error {
  readonly key: string;
  constructor(key: string, reason: string) {
    super(`Invalid storage key ${JSON.stringify(key.slice(0, 200))}: ${reason}`);
    this.name = 'InvalidBlobKeyError';
    this.key = key;
  }
}

export const MAX_KEY_LENGTH = 1024;
const KEY_CHARS = /^[a-zA-Z0-9/_.-]*$/;

/**
 * Keys are relative paths of safe characters. No segment may be empty or start with a dot, which
 * rules out `.`/`..` (so a key can never escape the root) and leaves dot-names free for an
 * adapter's own bookkeeping (temp files, metadata).
 */
export function assertValidKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidBlobKeyError(String(key), 'must not be empty');
  checkPath(key, false);
}

/** Prefixes follow the key rules, except that they may be empty or end with `/`. */
export function assertValidPrefix(prefix: string): void {
  if (typeof prefix !== 'string') throw new InvalidBlobKeyError(String(prefix), 'must be a string');
  if (prefix.length === 0) return;
  checkPath(prefix, true);
}

function checkPath(value: string, isPrefix: boolean): void {
  if (value.length > MAX_KEY_LENGTH) throw new InvalidBlobKeyError(value, `must be at most ${MAX_KEY_LENGTH} characters`);
  if (!KEY_CHARS.test(value)) throw new InvalidBlobKeyError(value, 'may contain only letters, digits, "/", "_", "." and "-"');
  if (value.startsWith('/')) throw new InvalidBlobKeyError(value, 'must be relative (no leading "/")');
  const segments = value.split('/');
  // A prefix like "models/" ends in an empty segment that stands for "everything below".
  if (isPrefix && segments.at(-1) === '') segments.pop();
  for (const segment of segments) {
    if (segment === '') throw new InvalidBlobKeyError(value, 'must not contain empty segments ("//" or a trailing "/")');
    if (segment.startsWith('.')) throw new InvalidBlobKeyError(value, 'no segment may start with "." (this also rules out "..")');
  }
}
