import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStorage, StorageConfigError, type S3BlobStorageOptions } from '../../../src/storage/s3-storage.ts';
import { describeStorageContract, readAll } from '../../contract/storage-contract.ts';
import { startS3Server, type S3TestServer } from '../../support/s3-server.ts';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const optionsFor = (server: S3TestServer, extra: Partial<S3BlobStorageOptions> = {}): S3BlobStorageOptions => ({
  bucket: server.bucket,
  region: server.region,
  endpoint: server.endpoint,
  forcePathStyle: true,
  accessKeyId: server.accessKeyId,
  secretAccessKey: server.secretAccessKey,
  ...extra,
});

describeStorageContract('S3-compatible bucket', async () => {
  const server = await startS3Server();
  const storage = new S3BlobStorage(optionsFor(server, { keyPrefix: 'contract/' }));
  return {
    storage,
    dispose: async () => {
      storage.close();
      await server.close();
    },
  };
});

describe('S3BlobStorage specifics', () => {
  let server: S3TestServer;
  const storages: S3BlobStorage[] = [];
  const make = (extra: Partial<S3BlobStorageOptions> = {}) => {
    const storage = new S3BlobStorage(optionsFor(server, extra));
    storages.push(storage);
    return storage;
  };

  beforeAll(async () => {
    server = await startS3Server();
  });
  afterAll(async () => {
    for (const storage of storages) storage.close();
    await server?.close();
  });

  it('accepts the configured bucket and credentials at boot', async () => {
    await expect(make().checkBucket()).resolves.toBeUndefined();
  });

  it('hands out a presigned GET URL that plain fetch can read without credentials', async () => {
    const storage = make({ keyPrefix: 'presign/' });
    const bytes = randomBytes(64_000);
    await storage.put('trainings/t1/dataset.zip', bytes, { contentType: 'application/zip' });
    const url = await storage.presignedGetUrl('trainings/t1/dataset.zip', 3600);
    expect(url).not.toBeNull();
    const res = await fetch(url!);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);

    // The same object without a signature, or with a tampered one, is refused: the bucket is private.
    const plain = new URL(url!);
    const unsigned = `${plain.origin}${plain.pathname}`;
    expect((await fetch(unsigned)).status).toBe(403);
    plain.searchParams.set('X-Amz-Signature', '0'.repeat(64));
    expect((await fetch(plain)).status).toBe(403);
    // A URL for another key cannot be made by editing the path.
    const otherKey = new URL(url!);
    otherKey.pathname = otherKey.pathname.replace('dataset.zip', 'other.zip');
    expect((await fetch(otherKey)).status).toBe(403);
  });

  it('signs presigned URLs for the public endpoint when the platform reaches the store at a private one', async () => {
    // "localhost" stands for the public name, 127.0.0.1 for the private one: same server, different Host.
    const publicEndpoint = server.endpoint.replace('127.0.0.1', 'localhost');
    const storage = make({ keyPrefix: 'public/', publicEndpoint });
    await storage.put('trainings/t2/dataset.zip', Buffer.from('zip bytes'));
    const url = new URL((await storage.presignedGetUrl('trainings/t2/dataset.zip', 600))!);
    expect(url.origin).toBe(new URL(publicEndpoint).origin);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('zip bytes');
    // Signed for the public host: the same query sent to the private address does not verify.
    const privateUrl = new URL(url);
    privateUrl.host = new URL(server.endpoint).host;
    expect((await fetch(privateUrl)).status).toBe(403);
  });

  it('signs presigned URLs for the asked lifetime, capped at the seven days SigV4 allows', async () => {
    const storage = make({ keyPrefix: 'expiry/' });
    const lifetime = async (ttl: number) => new URL((await storage.presignedGetUrl('k', ttl))!).searchParams.get('X-Amz-Expires');
    expect(await lifetime(24 * 3600)).toBe('86400');
    expect(await lifetime(30 * 24 * 3600)).toBe(String(7 * 24 * 3600));
  });

  it('names S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY when the secret is wrong, without echoing it', async () => {
    const wrongSecret = `wrong-${randomBytes(12).toString('hex')}`;
    const error = await make({ secretAccessKey: wrongSecret }).checkBucket().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageConfigError);
    const message = (error as Error).message;
    expect(message).toContain('S3_SECRET_ACCESS_KEY');
    expect(message).toContain(server.bucket);
    expect(message).not.toContain(wrongSecret);
    expect(message).not.toContain(server.secretAccessKey);
  });

  it('names S3_BUCKET when the bucket does not exist', async () => {
    const error = await make({ bucket: 'no-such-bucket-here' }).checkBucket().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageConfigError);
    expect((error as Error).message).toMatch(/"no-such-bucket-here".*does not exist.*S3_BUCKET/);
  });

  it('names S3_ENDPOINT when nothing answers there', async () => {
    // A port that was just free: bind, read it, release.
    const { createServer } = await import('node:net');
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const error = await make({ endpoint: `http://127.0.0.1:${port}` }).checkBucket().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageConfigError);
    expect((error as Error).message).toContain('S3_ENDPOINT');
  });

  it('keeps two key prefixes in one bucket apart', async () => {
    const a = make({ keyPrefix: 'install-a' });
    const b = make({ keyPrefix: 'install-a-staging/' });
    await a.put('models/1/x', Buffer.from('from a'));
    await b.put('models/1/x', Buffer.from('from b'));
    await b.put('models/1/only-b', Buffer.from('b'));
    expect((await readAll(await a.get('models/1/x'))).toString()).toBe('from a');
    expect((await readAll(await b.get('models/1/x'))).toString()).toBe('from b');
    const listed: string[] = [];
    for await (const key of a.list('')) listed.push(key);
    expect(listed).toEqual(['models/1/x']);
    await a.deletePrefix('models/');
    expect(await a.stat('models/1/x')).toBeNull();
    expect((await b.stat('models/1/x'))?.size).toBe(6);
  });

  it('round-trips a 20 MiB stream of unknown length through a multipart upload', async () => {
    const storage = make({ keyPrefix: 'large/', partSizeBytes: 5 * 1024 * 1024 });
    const chunks = Array.from({ length: 20 }, () => randomBytes(1024 * 1024));
    const all = Buffer.concat(chunks);
    const result = await storage.put('big.zip', Readable.from(chunks), { contentType: 'application/zip' });
    expect(result).toEqual({ key: 'big.zip', size: all.length, sha256: sha256(all) });
    expect(await storage.stat('big.zip')).toEqual({ size: all.length, contentType: 'application/zip' });
    expect(sha256(await readAll(await storage.get('big.zip')))).toBe(sha256(all));
    expect(await server.pendingUploads()).toBe(0);
  });

  it('stores an empty stream', async () => {
    const storage = make({ keyPrefix: 'empty-stream/' });
    expect(await storage.put('nothing', Readable.from([]))).toEqual({ key: 'nothing', size: 0, sha256: sha256(Buffer.alloc(0)) });
    expect(await storage.stat('nothing')).toMatchObject({ size: 0 });
  });

  it('aborts the multipart upload when a large stream fails midway, leaving no object and no parts', async () => {
    const storage = make({ keyPrefix: 'aborted/', partSizeBytes: 5 * 1024 * 1024 });
    let sent = 0;
    const body = new Readable({
      read() {
        // Two full parts reach the server before the client goes away.
        if (sent < 12) {
          sent++;
          this.push(randomBytes(1024 * 1024));
        } else {
          this.destroy(new Error('client went away'));
        }
      },
    });
    await expect(storage.put('half.zip', body)).rejects.toThrow('client went away');
    expect(await storage.stat('half.zip')).toBeNull();
    expect(await server.pendingUploads()).toBe(0);
  });

  it('deletes a folder of many keys written at once', async () => {
    const storage = make({ keyPrefix: 'many/' });
    const keys = Array.from({ length: 30 }, (_, i) => `m/${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((key) => storage.put(key, Buffer.from(key))));
    await storage.put('keep', Buffer.from('k'));
    await storage.deletePrefix('m/');
    const left: string[] = [];
    for await (const key of storage.list('')) left.push(key);
    expect(left).toEqual(['keep']);
  });
});
