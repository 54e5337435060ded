import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import {
  assertValidKey,
  assertValidPrefix,
  BlobNotFoundError,
  type BlobStat,
  type BlobStorage,
  type PutOptions,
  type PutResult,
} from './storage.ts';

/**
 * Blobs as plain files under one directory: `<root>/<key>`. Content types live in small
 * sidecar files under `<root>/.meta/<key>.json`; valid keys never start a segment with a dot,
 * so neither the metadata tree nor in-flight temp files (`.tmp-*`) can collide with a key.
 */
export class LocalBlobStorage implements BlobStorage {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<PutResult> {
    assertValidKey(key);
    const target = this.blobPath(key);
    // The temp file sits beside the target so the final rename stays on one filesystem (atomic).
    const tmp = join(dirname(target), `.tmp-${randomBytes(8).toString('hex')}`);
    // The content-type sidecar is written (and fsynced) to its own temp file while the blob is:
    // each waits for a disk flush, and one after the other they made every upload wait twice.
    // Neither is renamed until both are durable, so a failed put still changes nothing.
    const [blob, meta] = await Promise.allSettled([writeTemp(tmp, body), this.prepareMeta(key, options.contentType)]);
    if (blob.status === 'rejected' || meta.status === 'rejected') {
      if (blob.status === 'fulfilled') await unlink(tmp).catch(() => {});
      if (meta.status === 'fulfilled' && meta.value) await unlink(meta.value).catch(() => {});
      throw blob.status === 'rejected' ? blob.reason : (meta as PromiseRejectedResult).reason;
    }
    try {
      // Metadata first: a reader that sees the new blob also sees its content type.
      await this.commitMeta(key, meta.value);
      await rename(tmp, target);
    } catch (error) {
      await unlink(tmp).catch(() => {});
      throw error;
    }
    await fsyncDir(dirname(target));
    return { key, size: blob.value.size, sha256: blob.value.sha256 };
  }

  async get(key: string): Promise<Readable> {
    assertValidKey(key);
    let handle: FileHandle;
    try {
      handle = await open(this.blobPath(key), 'r');
    } catch (error) {
      if (isMissing(error)) throw new BlobNotFoundError(key);
      throw error;
    }
    // Opening before returning turns "missing" into a rejection here instead of a stream error later;
    // the open handle keeps reading the same bytes even if the blob is replaced meanwhile.
    const info = await handle.stat();
    if (!info.isFile()) {
      await handle.close();
      throw new BlobNotFoundError(key);
    }
    return handle.createReadStream({ autoClose: true });
  }

  async stat(key: string): Promise<BlobStat | null> {
    assertValidKey(key);
    let info;
    try {
      info = await stat(this.blobPath(key));
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    if (!info.isFile()) return null;
    return { size: info.size, contentType: await this.readMeta(key) };
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await unlinkIfPresent(this.blobPath(key));
    await unlinkIfPresent(this.metaPath(key));
    await this.pruneEmptyDirs(dirname(this.blobPath(key)), this.root);
    await this.pruneEmptyDirs(dirname(this.metaPath(key)), join(this.root, '.meta'));
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertValidPrefix(prefix);
    if (prefix === '') throw new Error('deletePrefix needs a non-empty prefix; refusing to delete every blob.');
    const keys: string[] = [];
    for await (const key of this.list(prefix)) keys.push(key);
    for (const key of keys) await this.delete(key);
  }

  async *list(prefix: string): AsyncIterable<string> {
    assertValidPrefix(prefix);
    // Only the directory holding the prefix's last complete segment can contain matches.
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash === -1 ? '' : prefix.slice(0, slash);
    yield* this.walk(baseKey, prefix);
  }

  /**
   * Removes what a crash in the middle of `put` leaves: temp files (`.tmp-*`, blob or sidecar) and
   * content-type sidecars whose blob never arrived, when older than `maxAgeMs` (a younger one may
   * belong to a write still in progress in another process). Returns how many files went.
   */
  async sweepLeftovers(maxAgeMs: number, now = Date.now()): Promise<number> {
    const metaRoot = join(this.root, '.meta');
    let removed = 0;
    const visit = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isMissing(error)) return;
        throw error;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          await visit(path);
          continue;
        }
        const isTemp = entry.name.startsWith('.tmp-');
        const inMeta = path.startsWith(metaRoot + sep);
        // A sidecar `.meta/<key>.json` is left over when `<root>/<key>` is not a file.
        const strayMeta = inMeta && !isTemp && entry.name.endsWith('.json') && !(await stat(join(this.root, path.slice(metaRoot.length + 1, -'.json'.length))).then((s) => s.isFile(), () => false));
        if (!isTemp && !strayMeta) continue;
        if (maxAgeMs > 0) {
          const info = await stat(path).catch(() => null);
          if (!info || now - info.mtimeMs < maxAgeMs) continue;
        }
        await unlinkIfPresent(path);
        removed++;
      }
    };
    await visit(this.root);
    return removed;
  }

  async presignedGetUrl(key: string, _ttlSeconds: number): Promise<string | null> {
    assertValidKey(key);
    return null;
  }

  private async *walk(dirKey: string, prefix: string): AsyncGenerator<string> {
    let entries;
    try {
      entries = await readdir(dirKey === '' ? this.root : this.blobPath(dirKey), { withFileTypes: true });
    } catch (error) {
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw error;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue; // temp files and the metadata tree
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
      if (entry.isDirectory()) {
        // Descend only where a match is still possible.
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        yield key;
      }
    }
  }

  private blobPath(key: string): string {
    const path = join(this.root, key);
    // Key validation already forbids escaping; this is the belt to those braces.
    if (!path.startsWith(this.root + sep)) throw new Error('storage key resolved outside the storage root');
    return path;
  }

  private metaPath(key: string): string {
    return join(this.root, '.meta', `${key}.json`);
  }

  /** Writes the sidecar's new content to a durable temp file and returns its path (null: no content type). */
  private async prepareMeta(key: string, contentType: string | undefined): Promise<string | null> {
    if (contentType === undefined) return null;
    const tmp = join(dirname(this.metaPath(key)), `.tmp-${randomBytes(8).toString('hex')}`);
    await writeTemp(tmp, Buffer.from(JSON.stringify({ contentType })));
    return tmp;
  }

  /** Puts the prepared sidecar in place, or removes the old one when the new blob has no content type. */
  private async commitMeta(key: string, tmp: string | null): Promise<void> {
    const path = this.metaPath(key);
    if (tmp === null) {
      await unlinkIfPresent(path);
      return;
    }
    try {
      await rename(tmp, path);
    } catch (error) {
      await unlink(tmp).catch(() => {});
      throw error;
    }
  }

  private async readMeta(key: string): Promise<string | undefined> {
    try {
      const meta = JSON.parse(await readFile(this.metaPath(key), 'utf8')) as { contentType?: unknown };
      return typeof meta.contentType === 'string' ? meta.contentType : undefined;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** Removes directories left empty by a delete, up to (not including) `stopAt`. Best effort. */
  private async pruneEmptyDirs(dir: string, stopAt: string): Promise<void> {
    while (dir.startsWith(stopAt + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone): a concurrent put may be using it
      }
      dir = dirname(dir);
    }
  }
}

/** Writes `body` to a new file at `path` and fsyncs it; on failure nothing is left at `path`. */
async function writeTemp(path: string, body: Buffer | Readable): Promise<{ size: number; sha256: string }> {
  const handle = await openCreatingParents(path);
  try {
    const written = await writeAll(handle, body);
    await handle.sync();
    await handle.close();
    return written;
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw error;
  }
}

async function writeAll(handle: FileHandle, body: Buffer | Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  if (Buffer.isBuffer(body)) {
    await handle.writeFile(body);
    hash.update(body);
    size = body.length;
  } else {
    for await (const chunk of body as AsyncIterable<Buffer | string>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      hash.update(bytes);
      size += bytes.length;
      await handle.write(bytes);
    }
  }
  return { size, sha256: hash.digest('hex') };
}

/**
 * Opens a new file, creating its directory when it is missing. The directory usually exists, so
 * the open is tried first (a mkdir per write is one more trip through the thread pool). Retries
 * when a concurrent delete pruned the freshly made (still empty) directory between mkdir and open.
 */
async function openCreatingParents(path: string): Promise<FileHandle> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await open(path, 'wx', 0o644);
    } catch (error) {
      if (!isMissing(error) || attempt >= 4) throw error;
    }
    await mkdir(dirname(path), { recursive: true });
  }
}

/** Makes a rename durable across power loss, not just process crashes. */
async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename itself is still atomic.
  } finally {
    await handle.close();
  }
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    // EISDIR: the key names a "folder" of other keys, so there is no blob to remove.
    if (!isMissing(error) && (error as NodeJS.ErrnoException).code !== 'EISDIR') throw error;
  }
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}
