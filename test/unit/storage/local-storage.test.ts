import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBlobStorage } from '../../../src/storage/local-storage.ts';
import { describeStorageContract, readAll } from '../../contract/storage-contract.ts';

describeStorageContract('local directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'theway-blobs-'));
  return { storage: new LocalBlobStorage(dir), dispose: async () => rmSync(dir, { recursive: true, force: true }) };
});

/** Every file under `dir`, dot-files included, as paths relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('LocalBlobStorage specifics', () => {
  const dirs: string[] = [];
  const newRoot = () => {
    const dir = mkdtempSync(join(tmpdir(), 'theway-blobs-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('writes the blob at <root>/<key> and the content type in a sidecar', async () => {
    const root = newRoot();
    await new LocalBlobStorage(root).put('models/m1/a.jpg', Buffer.from('jpeg'), { contentType: 'image/jpeg' });
    await new LocalBlobStorage(root).put('models/m1/b.bin', Buffer.from('raw'));
    expect(filesUnder(root)).toEqual(['.meta/models/m1/a.jpg.json', 'models/m1/a.jpg', 'models/m1/b.bin']);
    // A fresh instance (as after a restart) still knows the content type.
    expect(await new LocalBlobStorage(root).stat('models/m1/a.jpg')).toEqual({ size: 4, contentType: 'image/jpeg' });
  });

  it('drops the old content type when a blob is replaced without one', async () => {
    const storage = new LocalBlobStorage(newRoot());
    await storage.put('k', Buffer.from('1'), { contentType: 'text/plain' });
    await storage.put('k', Buffer.from('2'));
    expect(await storage.stat('k')).toEqual({ size: 1, contentType: undefined });
  });

  it('leaves no temp file after a failed stream', async () => {
    const root = newRoot();
    const storage = new LocalBlobStorage(root);
    await storage.put('keep/me', Buffer.from('x'));
    const broken = new Readable({
      read() {
        this.push(Buffer.alloc(1000));
        this.destroy(new Error('boom'));
      },
    });
    await expect(storage.put('keep/other', broken)).rejects.toThrow('boom');
    expect(filesUnder(root)).toEqual(['keep/me']);
  });

  it('removes emptied folders on delete, including the sidecar tree', async () => {
    const root = newRoot();
    const storage = new LocalBlobStorage(root);
    await storage.put('a/b/c/d.txt', Buffer.from('x'), { contentType: 'text/plain' });
    await storage.put('a/keep.txt', Buffer.from('y'));
    await storage.deletePrefix('a/b/');
    expect(readdirSync(root, { recursive: true }).sort()).toEqual(['.meta', 'a', 'a/keep.txt']);
  });

  it('ignores stray dot-files and unrelated folders when listing', async () => {
    const root = newRoot();
    const storage = new LocalBlobStorage(root);
    await storage.put('x/1', Buffer.from('x'));
    writeFileSync(join(root, 'x', '.tmp-leftover'), 'half');
    const keys: string[] = [];
    for await (const key of storage.list('')) keys.push(key);
    expect(keys).toEqual(['x/1']);
    expect((await readAll(await storage.get('x/1'))).toString()).toBe('x');
  });

  it('returns no presigned URL: the server streams local blobs itself', async () => {
    const storage = new LocalBlobStorage(newRoot());
    await storage.put('p', Buffer.from('x'));
    expect(await storage.presignedGetUrl('p', 60)).toBeNull();
  });
});
