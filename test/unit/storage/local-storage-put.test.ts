import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalBlobStorage } from '../../../src/storage/local-storage.ts';
import { readAll } from '../../contract/storage-contract.ts';

/** Every file under `dir`, dot-files included, as paths relative to it. */
const filesUnder = (dir: string) =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();

const failingStream = () =>
  new Readable({
    read() {
      this.push(Buffer.alloc(1000, 1));
      this.destroy(new Error('connection reset'));
    },
  });

/**
 * put writes the blob and its content-type sidecar at the same time; these pin down that the
 * sidecar still only changes together with the blob.
 */
describe('LocalBlobStorage.put with a content type', () => {
  const dirs: string[] = [];
  const newRoot = () => {
    const dir = mkdtempSync(join(tmpdir(), 'theway-put-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('a failed replacement keeps the old blob and its old content type, and leaves no temp file', async () => {
    const root = newRoot();
    const storage = new LocalBlobStorage(root);
    await storage.put('models/m/images/a.jpg', Buffer.from('old bytes'), { contentType: 'text/plain' });
    await expect(storage.put('models/m/images/a.jpg', failingStream(), { contentType: 'image/jpeg' })).rejects.toThrow('connection reset');
    expect(await storage.stat('models/m/images/a.jpg')).toEqual({ size: 9, contentType: 'text/plain' });
    expect((await readAll(await storage.get('models/m/images/a.jpg'))).toString()).toBe('old bytes');
    expect(filesUnder(root)).toEqual(['.meta/models/m/images/a.jpg.json', 'models/m/images/a.jpg']);
  });

  it('a failed first write leaves neither blob nor sidecar', async () => {
    const root = newRoot();
    const storage = new LocalBlobStorage(root);
    await expect(storage.put('models/m/thumbs/b.webp', failingStream(), { contentType: 'image/webp' })).rejects.toThrow('connection reset');
    expect(await storage.stat('models/m/thumbs/b.webp')).toBeNull();
    expect(filesUnder(root)).toEqual([]);
  });

  it('writes many blobs with content types side by side into new folders', async () => {
    const root = newRoot();
    const storage = new LocalBlobStorage(root);
    await Promise.all(Array.from({ length: 12 }, (_, i) => storage.put(`models/m${i % 3}/images/${i}.jpg`, Buffer.from(`image ${i}`), { contentType: 'image/jpeg' })));
    for (let i = 0; i < 12; i++) expect(await storage.stat(`models/m${i % 3}/images/${i}.jpg`)).toEqual({ size: `image ${i}`.length, contentType: 'image/jpeg' });
    expect(filesUnder(root).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});
