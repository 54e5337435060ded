import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * A real S3-compatible server on loopback for the storage tests: s3rver (an S3 server written in
 * JavaScript, storing objects on disk, installed by `npm ci`) behind a thin front that adds what
 * s3rver 3.7.1 lacks and real S3 does, so tests can fail for the right reasons:
 *  - SigV4 signatures are verified (header and presigned-query forms, with expiry) against this
 *    server's own random key pair; unsigned requests are refused as by a private bucket.
 *    s3rver itself accepts any v4 signature.
 *  - AbortMultipartUpload (s3rver answers MethodNotAllowed) removes the upload's parts.
 *  - Objects become visible only when complete (temp file + rename), and deletes in one folder
 *    do not race each other; s3rver writes in place and answers before the file is flushed.
 *  - DeleteObjects requires a correct Content-MD5, as S3 documents and as several S3-compatible
 *    servers still enforce (recent SDKs send a CRC32 instead unless the client adds it).
 */
export interface S3TestServer {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The platform's environment variables for storing its files here. */
  platformEnv(): Record<string, string>;
  /** Multipart uploads started and neither completed nor aborted. */
  pendingUploads(): Promise<number>;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);

interface S3rverApp {
  store: unknown;
  context: { store: unknown };
  logger: { close(): void };
  configureBuckets(): Promise<void>;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
}
interface S3Object {
  bucket: string;
  key: string;
  content: Buffer | NodeJS.ReadableStream;
  metadata: Record<string, string>;
}
interface FilesystemStoreBase {
  rootDirectory: string;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getBucketPath(bucket: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
}
type StoreClass = new (root: string) => FilesystemStoreBase;

const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverApp;
const FilesystemStore = require('s3rver/lib/stores/filesystem') as StoreClass;
const AWSAccount = require('s3rver/lib/models/account') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void; revokeAccessKey(id: string): void } };

/** s3rver's store with atomic object writes and race-free folder cleanup on delete. */
class AtomicFilesystemStore extends (FilesystemStore as StoreClass) {
  readonly tmpDir: string;
  constructor(root: string, tmp: string) {
    super(root);
    this.tmpDir = tmp;
  }

  async putObject(object: S3Object): Promise<{ size: number; md5: string }> {
    const target = this.getResourcePath(object.bucket, object.key, 'object');
    const tmp = join(this.tmpDir, randomBytes(8).toString('hex'));
    const md5 = createHash('md5');
    let size = 0;
    const chunks = Buffer.isBuffer(object.content) ? [object.content] : (object.content as AsyncIterable<Buffer>);
    await pipeline(
      async function* () {
        for await (const chunk of chunks) {
          md5.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(tmp),
    );
    const digest = md5.digest('hex');
    await mkdir(dirname(target), { recursive: true });
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    await rename(tmp, target);
    return { size, md5: digest };
  }

  async deleteObject(bucket: string, key: string): Promise<void> {
    for (const resource of ['object', 'object.md5', 'metadata.json']) {
      await unlink(this.getResourcePath(bucket, key, resource)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    const parts = key.split('/');
    parts.pop();
    for (; parts.length > 0; parts.pop()) {
      try {
        await rmdir(join(this.getBucketPath(bucket), ...parts));
      } catch {
        return; // not empty, or a concurrent delete removed it first
      }
    }
  }
}

export async function startS3Server(options: { bucket?: string } = {}): Promise<S3TestServer> {
  const root = await mkdtemp(join(tmpdir(), 'theway-s3-'));
  const dataDir = join(root, 'data');
  const tmpDir = join(root, 'tmp');
  await mkdir(dataDir);
  await mkdir(tmpDir);
  const bucket = options.bucket ?? `theway-test-${randomBytes(4).toString('hex')}`;
  const region = 'us-east-1';
  const accessKeyId = `AKTEST${randomBytes(7).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64url');
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);

  const s3 = new S3rver({ directory: dataDir, silent: true, vhostBuckets: false, configureBuckets: [{ name: bucket }] });
  const store = new AtomicFilesystemStore(dataDir, tmpDir);
  s3.store = store;
  s3.context.store = store;
  await s3.configureBuckets();
  const s3Handler = s3.callback();
  const uploadsDir = (b: string) => store.getResourcePath(b, undefined, 'uploads');

  const server = createServer((req, res) => {
    const refusal = verifySigV4(req, { accessKeyId, secretAccessKey, region });
    if (refusal) {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(req.method === 'HEAD' ? undefined : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refusal.code}</Code><Message>${refusal.message}</Message></Error>`);
      req.resume();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://s3.local');
    const uploadId = url.searchParams.get('uploadId');
    if (req.method === 'DELETE' && uploadId !== null) {
      // AbortMultipartUpload: the parts live in <bucket>/._S3rver_uploads/<uploadId>.
      const b = decodeURIComponent(url.pathname.split('/')[1] ?? '');
      if (!/^[a-f0-9]+$/.test(uploadId)) {
        res.writeHead(404).end();
        return;
      }
      rm(join(uploadsDir(b), uploadId), { recursive: true, force: true }).then(
        () => res.writeHead(204).end(),
        () => res.writeHead(500).end(),
      );
      return;
    }
    if (req.method === 'POST' && url.searchParams.has('delete')) {
      void forwardDeleteObjects(req, res, s3Handler);
      return;
    }
    s3Handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region,
    accessKeyId,
    secretAccessKey,
    platformEnv: () => ({
      S3_BUCKET: bucket,
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_REGION: region,
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: accessKeyId,
      S3_SECRET_ACCESS_KEY: secretAccessKey,
    }),
    async pendingUploads() {
      const entries = await readdir(uploadsDir(bucket)).catch(() => [] as string[]);
      return entries.length;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      s3.logger.close();
      AWSAccount.DUMMY_ACCOUNT.revokeAccessKey(accessKeyId);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Reads the (small) DeleteObjects body, checks its Content-MD5, and replays it to s3rver. */
async function forwardDeleteObjects(req: IncomingMessage, res: ServerResponse, s3Handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const given = req.headers['content-md5'];
  const refuse = (code: string, message: string) => {
    res.writeHead(400, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
  };
  if (typeof given !== 'string') return refuse('InvalidRequest', 'Missing required header for this request: Content-MD5');
  if (given !== createHash('md5').update(body).digest('base64')) return refuse('BadDigest', 'The Content-MD5 you specified did not match what we received.');
  const replay = Object.assign(Readable.from([body]), {
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    socket: req.socket,
    connection: req.socket,
  });
  s3Handler(replay as unknown as IncomingMessage, res);
}

// ─── SigV4 verification (header and presigned query) ─────────────────────────────────────────

interface Refusal {
  code: string;
  message: string;
}

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

/** null when the request is signed by our key pair and still valid; otherwise S3's error. */
export function verifySigV4(req: IncomingMessage, creds: Credentials, now = Date.now()): Refusal | null {
  const rawUrl = req.url ?? '/';
  const q = rawUrl.indexOf('?');
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const query = parseQuery(q === -1 ? '' : rawUrl.slice(q + 1));
  const auth = req.headers.authorization;
  let credential: string;
  let signedHeaders: string[];
  let signature: string;
  let amzDate: string;
  let payloadHash: string;
  let canonicalQuery: [string, string][];
  if (auth) {
    const m = /^AWS4-HMAC-SHA256 Credential=([^,]+),\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return { code: 'AccessDenied', message: 'Only AWS4-HMAC-SHA256 signatures are accepted.' };
    [, credential, , signature] = m as unknown as [string, string, string, string];
    signedHeaders = m[2]!.split(';');
    amzDate = String(req.headers['x-amz-date'] ?? '');
    payloadHash = String(req.headers['x-amz-content-sha256'] ?? '');
    if (!payloadHash) return { code: 'InvalidRequest', message: 'Missing x-amz-content-sha256.' };
    canonicalQuery = query;
  } else if (query.some(([k]) => k === 'X-Amz-Signature')) {
    const get = (name: string) => query.find(([k]) => k === name)?.[1] ?? '';
    if (get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return { code: 'AccessDenied', message: 'Only AWS4-HMAC-SHA256 signatures are accepted.' };
    credential = get('X-Amz-Credential');
    signedHeaders = get('X-Amz-SignedHeaders').split(';');
    signature = get('X-Amz-Signature');
    amzDate = get('X-Amz-Date');
    payloadHash = 'UNSIGNED-PAYLOAD';
    const expires = Number(get('X-Amz-Expires'));
    const signedAt = parseAmzDate(amzDate);
    if (!Number.isFinite(expires) || signedAt === null || now > signedAt + expires * 1000) {
      return { code: 'AccessDenied', message: 'Request has expired' };
    }
    canonicalQuery = query.filter(([k]) => k !== 'X-Amz-Signature');
  } else {
    return { code: 'AccessDenied', message: 'Access Denied' };
  }
  const [keyId, date, region, service, terminator] = credential.split('/');
  if (keyId !== creds.accessKeyId) return { code: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.' };
  if (region !== creds.region || service !== 's3' || terminator !== 'aws4_request' || !date || !amzDate.startsWith(date)) {
    return { code: 'AuthorizationHeaderMalformed', message: 'The credential scope is wrong.' };
  }
  const canonicalHeaders = signedHeaders
    .map((name) => {
      const value = req.headers[name];
      const text = Array.isArray(value) ? value.join(',') : (value ?? '');
      return `${name}:${text.trim().replace(/\s+/g, ' ')}\n`;
    })
    .join('');
  const canonicalRequest = [
    req.method ?? 'GET',
    rawPath,
    canonicalQuery
      .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
      .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join('&'),
    canonicalHeaders,
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${creds.secretAccessKey}`, date);
  key = hmac(key, region);
  key = hmac(key, 's3');
  key = hmac(key, 'aws4_request');
  const expected = Buffer.from(createHmac('sha256', key).update(stringToSign).digest('hex'));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.' };
  }
  return null;
}

function parseQuery(raw: string): [string, string][] {
  if (raw === '') return [];
  return raw.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, '%20'));
    return eq === -1 ? [decode(pair), ''] : [decode(pair.slice(0, eq)), decode(pair.slice(eq + 1))];
  });
}

function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function parseAmzDate(value: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) : null;
}

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
