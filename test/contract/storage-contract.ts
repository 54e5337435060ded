import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobNotFoundError, InvalidBlobKeyError, isBlobNotFound, type BlobStorage } from '../../src/storage/storage.ts';

/**
 * The behaviour every BlobStorage adapter must have. An adapter's test file calls
 * `describeStorageContract('s3', async () => ({ storage, dispose }))`.
 * One storage serves the whole suite; each test works under its own key prefix, so an
 * adapter backed by a shared bucket needs no per-test setup.
 */
export interface StorageFixture {
  storage: BlobStorage;
  dispose(): Promise<void>;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function listAll(storage: BlobStorage, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of storage.list(prefix)) keys.push(key);
  return keys.sort();
}

/** A stream that sends some bytes and then fails, like an upload whose client disconnects. */
function failingStream(bytesBeforeFailure: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(bytesBeforeFailure);
      } else {
        this.destroy(new Error('client went away'));
      }
    },
  });
}

export function describeStorageContract(name: string, makeStorage: () => Promise<StorageFixture>): void {
  describe(`BlobStorage contract: ${name}`, () => {
    let fixture: StorageFixture;
    let storage: BlobStorage;
    let counter = 0;
    const run = randomBytes(4).toString('hex');
    /** A key namespace no other test touches. */
    const ns = () => `contract-${run}-${++counter}/`;

    beforeAll(async () => {
      fixture = await makeStorage();
      storage = fixture.storage;
    });
    afterAll(async () => {
      await fixture?.dispose();
    });

    it('stores a buffer and returns its size and sha256, and reads it back', async () => {
      const key = `${ns()}image.jpg`;
      const bytes = randomBytes(10_000);
      const result = await storage.put(key, bytes, { contentType: 'image/jpeg' });
      expect(result).toEqual({ key, size: bytes.length, sha256: sha256(bytes) });
      expect(await readAll(await storage.get(key))).toEqual(bytes);
      expect(await storage.stat(key)).toEqual({ size: bytes.length, contentType: 'image/jpeg' });
    });

    it('stores a multi-chunk stream', async () => {
      const key = `${ns()}deep/er/blob.bin`;
      const chunks = [randomBytes(70_000), randomBytes(1), randomBytes(300_000)];
      const all = Buffer.concat(chunks);
      const result = await storage.put(key, Readable.from(chunks));
      expect(result).toEqual({ key, size: all.length, sha256: sha256(all) });
      expect(await readAll(await storage.get(key))).toEqual(all);
      expect((await storage.stat(key))?.size).toBe(all.length);
    });

    it('stores an empty blob', async () => {
      const key = `${ns()}empty`;
      const result = await storage.put(key, Buffer.alloc(0));
      expect(result.size).toBe(0);
      expect(result.sha256).toBe(sha256(Buffer.alloc(0)));
      expect((await readAll(await storage.get(key))).length).toBe(0);
      expect((await storage.stat(key))?.size).toBe(0);
    });

    it('replaces a blob and its content type on a second put', async () => {
      const key = `${ns()}file`;
      await storage.put(key, Buffer.from('first version'), { contentType: 'text/plain' });
      await storage.put(key, Buffer.from('second'), { contentType: 'application/json' });
      expect((await readAll(await storage.get(key))).toString()).toBe('second');
      expect(await storage.stat(key)).toEqual({ size: 6, contentType: 'application/json' });
    });

    it('rejects get of a missing blob with a typed not-found error, and stat returns null', async () => {
      const key = `${ns()}missing.png`;
      const error = await storage.get(key).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BlobNotFoundError);
      expect(isBlobNotFound(error)).toBe(true);
      expect(await storage.stat(key)).toBeNull();
    });

    it('treats a "folder" of keys as no blob', async () => {
      const base = ns();
      await storage.put(`${base}folder/inner`, Buffer.from('x'));
      expect(await storage.stat(`${base}folder`)).toBeNull();
      expect(isBlobNotFound(await storage.get(`${base}folder`).catch((e: unknown) => e))).toBe(true);
      await storage.delete(`${base}folder`); // nothing to delete: no error, inner blob untouched
      expect(await storage.stat(`${base}folder/inner`)).not.toBeNull();
    });

    it('deletes idempotently', async () => {
      const key = `${ns()}a/b/c.txt`;
      await storage.put(key, Buffer.from('bye'));
      await storage.delete(key);
      await storage.delete(key);
      expect(await storage.stat(key)).toBeNull();
      expect(isBlobNotFound(await storage.get(key).catch((e: unknown) => e))).toBe(true);
      // The key can be written again after its folders were cleaned up.
      await storage.put(key, Buffer.from('again'));
      expect((await readAll(await storage.get(key))).toString()).toBe('again');
    });

    it('lists keys by plain string prefix, including partial segments', async () => {
      const base = ns();
      const keys = [`${base}models/abc/1.png`, `${base}models/abc/2.png`, `${base}models/ab.png`, `${base}models/x/1.png`, `${base}other`];
      for (const key of keys) await storage.put(key, Buffer.from(key));
      expect(await listAll(storage, `${base}models/abc/`)).toEqual([`${base}models/abc/1.png`, `${base}models/abc/2.png`]);
      expect(await listAll(storage, `${base}models/ab`)).toEqual([`${base}models/ab.png`, `${base}models/abc/1.png`, `${base}models/abc/2.png`]);
      expect(await listAll(storage, base)).toEqual([...keys].sort());
      expect(await listAll(storage, `${base}nothing/`)).toEqual([]);
      const everything = await listAll(storage, '');
      for (const key of keys) expect(everything).toContain(key);
    });

    it('deletes by prefix and leaves other keys alone', async () => {
      const base = ns();
      const doomed = [`${base}m/1/a`, `${base}m/1/b/c`, `${base}m/12`];
      const kept = [`${base}m/2/a`, `${base}n`];
      for (const key of [...doomed, ...kept]) await storage.put(key, Buffer.from('x'));
      await storage.deletePrefix(`${base}m/1`);
      expect(await listAll(storage, base)).toEqual(kept.sort());
      for (const key of doomed) expect(await storage.stat(key)).toBeNull();
      await storage.deletePrefix(`${base}m/1`); // again: nothing left, no error
    });

    it('refuses to delete with an empty prefix', async () => {
      const key = `${ns()}survivor`;
      await storage.put(key, Buffer.from('x'));
      await expect(storage.deletePrefix('')).rejects.toThrow();
      expect(await storage.stat(key)).not.toBeNull();
    });

    it('leaves nothing behind when the body stream fails', async () => {
      const base = ns();
      const key = `${base}upload.jpg`;
      await expect(storage.put(key, failingStream(randomBytes(50_000)))).rejects.toThrow('client went away');
      expect(await storage.stat(key)).toBeNull();
      expect(await listAll(storage, base)).toEqual([]);
    });

    it('keeps the previous blob intact when a replacing stream fails', async () => {
      const key = `${ns()}avatar`;
      const original = randomBytes(2_000);
      await storage.put(key, original, { contentType: 'image/png' });
      await expect(storage.put(key, failingStream(randomBytes(5_000)))).rejects.toThrow('client went away');
      expect(await readAll(await storage.get(key))).toEqual(original);
      expect(await storage.stat(key)).toEqual({ size: original.length, contentType: 'image/png' });
    });

    it('never shows readers a half-written blob', async () => {
      const key = `${ns()}big.bin`;
      const original = Buffer.from('old content');
      await storage.put(key, original);
      const body = new PassThrough();
      const writing = storage.put(key, body);
      const firstHalf = randomBytes(100_000);
      body.write(firstHalf);
      // Let the adapter consume and flush what it has; the blob must still be the old one.
      for (let i = 0; i < 200 && body.readableLength > 0; i++) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 20));
      expect(await readAll(await storage.get(key))).toEqual(original);
      expect((await storage.stat(key))?.size).toBe(original.length);
      const secondHalf = randomBytes(100_000);
      body.end(secondHalf);
      await writing;
      expect(await readAll(await storage.get(key))).toEqual(Buffer.concat([firstHalf, secondHalf]));
    });

    it('rejects keys that could escape the root or are malformed, on every method', async () => {
      const bad = ['', '/etc/passwd', '../x', 'a/../../b', 'a/./b', 'a//b', 'a/', '.hidden', 'a/.meta', 'a\\b', 'a b', 'naïve', 'x'.repeat(1025)];
      for (const key of bad) {
        await expect(storage.put(key, Buffer.from('x')), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
        await expect(storage.get(key), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
        await expect(storage.stat(key), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
        await expect(storage.delete(key), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
        await expect(storage.presignedGetUrl(key, 60), key).rejects.toBeInstanceOf(InvalidBlobKeyError);
      }
      for (const prefix of ['../', '/abs', 'a/../', '.meta/', 'a//']) {
        await expect(listAll(storage, prefix), prefix).rejects.toBeInstanceOf(InvalidBlobKeyError);
        await expect(storage.deletePrefix(prefix), prefix).rejects.toBeInstanceOf(InvalidBlobKeyError);
      }
    });

    it('accepts every allowed character', async () => {
      const key = `${ns()}Az09_.-/x.y-z_W`;
      await storage.put(key, Buffer.from('ok'));
      expect((await readAll(await storage.get(key))).toString()).toBe('ok');
    });

    it('gives a presigned URL as a string or null', async () => {
      const key = `${ns()}p.jpg`;
      await storage.put(key, Buffer.from('x'));
      const url = await storage.presignedGetUrl(key, 60);
      if (url !== null) expect(() => new URL(url)).not.toThrow();
    });
  });
}
