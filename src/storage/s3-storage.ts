import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  assertValidKey,
  assertValidPrefix,
  BlobNotFoundError,
  type BlobStat,
  type BlobStorage,
  type PutOptions,
  type PutResult,
} from './storage.ts';

export interface S3BlobStorageOptions {
  bucket: string;
  region: string;
  /** An S3-compatible server's address (MinIO, R2, Ceph…); unset for AWS itself. */
  endpoint?: string | undefined;
  /** `http://host/bucket/key` instead of `http://bucket.host/key`; most self-hosted servers need it. */
  forcePathStyle?: boolean | undefined;
  /** Both or neither; neither uses the AWS SDK's default credential chain (env, profile, instance role). */
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** Prepended to every key, so several installations (or tests) can share one bucket. */
  keyPrefix?: string | undefined;
  /**
   * The address outsiders (Replicate downloading a training zip) reach the store at, when the
   * platform talks to it at a private one (e.g. `http://s3:9000` inside a compose network).
   * Presigned URLs are signed for this host; unset: the same as `endpoint`.
   */
  publicEndpoint?: string | undefined;
  /** Multipart part size for streamed bodies (at least 5 MiB, S3's minimum). */
  partSizeBytes?: number | undefined;
}

/** Boot-time problems with the bucket settings; the message names the variables to check. */
export class StorageConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageConfigError';
  }
}

const MIN_PART_BYTES = 5 * 1024 * 1024;
/** SigV4 presigned URLs live at most 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
/** DeleteObjects takes at most 1,000 keys per call. */
const DELETE_BATCH = 1000;

/**
 * Blobs as objects in an S3-compatible bucket, under `keyPrefix`. S3 makes a PUT (and a completed
 * multipart upload) visible only when it is whole, which gives the port's atomic replace for free;
 * a failed stream aborts the multipart upload so no parts linger (and bill) in the bucket.
 */
export class S3BlobStorage implements BlobStorage {
  readonly bucket: string;
  readonly keyPrefix: string;
  readonly #client: S3Client;
  /** Signs presigned URLs; a second client only when the public endpoint differs (SigV4 signs the host). */
  readonly #presigner: S3Client;
  readonly #endpoint: string | undefined;
  readonly #partSize: number;

  constructor(options: S3BlobStorageOptions) {
    if ((options.accessKeyId === undefined) !== (options.secretAccessKey === undefined)) {
      throw new StorageConfigError('S3 credentials go together: set both the access key id and the secret access key, or neither.');
    }
    const prefix = options.keyPrefix ?? '';
    assertValidPrefix(prefix);
    // A prefix is a folder: "theway" must not also match "theway-staging/…".
    this.keyPrefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.bucket = options.bucket;
    this.#endpoint = options.endpoint === undefined ? undefined : withoutUserinfo(options.endpoint);
    this.#partSize = Math.max(MIN_PART_BYTES, options.partSizeBytes ?? 8 * 1024 * 1024);
    const config: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle ?? false,
      // Recent SDKs add CRC32 checksums to every request and validate them on responses, which
      // several S3-compatible servers reject or do not send; only send them where S3 requires one.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 10_000 },
    };
    if (options.endpoint !== undefined) config.endpoint = options.endpoint;
    if (options.accessKeyId !== undefined && options.secretAccessKey !== undefined) {
      config.credentials = { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey };
    }
    this.#client = new S3Client(config);
    this.#presigner = options.publicEndpoint && options.publicEndpoint !== options.endpoint ? new S3Client({ ...config, endpoint: options.publicEndpoint }) : this.#client;
    this.#client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { body?: unknown; headers?: Record<string, string> };
        if (context.commandName === 'DeleteObjectsCommand' && request.headers && (typeof request.body === 'string' || request.body instanceof Uint8Array)) {
          // S3 documents Content-MD5 as required here and several S3-compatible servers refuse the
          // request without it; recent SDKs send only a CRC32. Added before signing, so it is signed.
          request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
        }
        return next(args);
      },
      { step: 'build', name: 'theway-content-md5-for-delete-objects' },
    );
  }

  /**
   * Checks at boot that the bucket exists and the credentials may use it, so a typo fails the
   * start with the variable to fix instead of the first upload. Never echoes the secret.
   */
  async checkBucket(): Promise<void> {
    const where = `S3 bucket "${this.bucket}"${this.#endpoint ? ` at ${this.#endpoint}` : ''}`;
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      const status = httpStatus(error);
      const name = (error as Error | null)?.name ?? '';
      if (status === 404 || name === 'NotFound' || name === 'NoSuchBucket') {
        throw new StorageConfigError(`${where} does not exist. Check S3_BUCKET (and S3_ENDPOINT), or create the bucket.`, { cause: error });
      }
      if (status === 403 || status === 401) {
        throw new StorageConfigError(`${where} refused our credentials (HTTP ${status}). Check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, and that the key may read and write this bucket.`, { cause: error });
      }
      if (status === 301 || name === 'PermanentRedirect') {
        throw new StorageConfigError(`${where} lives in another region. Check S3_REGION.`, { cause: error });
      }
      if (name === 'CredentialsProviderError') {
        throw new StorageConfigError(`No credentials for ${where}: set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or give the process AWS credentials (environment, profile or instance role).`, { cause: error });
      }
      if (status === undefined) {
        throw new StorageConfigError(`Could not reach ${where}: ${safeMessage(error)}. Check S3_ENDPOINT and the network.`, { cause: error });
      }
      throw new StorageConfigError(`${where} answered HTTP ${status} (${name}). Check S3_BUCKET, S3_ENDPOINT and S3_REGION.`, { cause: error });
    }
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<PutResult> {
    assertValidKey(key);
    const target = { Bucket: this.bucket, Key: this.keyPrefix + key, ContentType: options.contentType };
    if (Buffer.isBuffer(body)) {
      await this.#client.send(new PutObjectCommand({ ...target, Body: body, ContentLength: body.length }));
      return { key, size: body.length, sha256: createHash('sha256').update(body).digest('hex') };
    }
    // Length unknown: lib-storage sends one PUT when the body fits in a part, else a multipart
    // upload (which it aborts on failure). Bytes are hashed on their way through.
    const hash = createHash('sha256');
    let size = 0;
    let sourceError: unknown;
    async function* hashing(): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of body as AsyncIterable<Buffer | string>) {
          const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          hash.update(bytes);
          size += bytes.length;
          yield bytes;
        }
      } catch (error) {
        sourceError = error;
        throw error;
      }
    }
    const upload = new Upload({ client: this.#client, params: { ...target, Body: Readable.from(hashing(), { objectMode: false }) }, partSize: this.#partSize, queueSize: 2 });
    try {
      await upload.done();
    } catch (error) {
      (body as Readable).destroy();
      // When aborting the multipart upload fails too, lib-storage throws that failure instead:
      // the caller needs the original reason (e.g. the client went away).
      throw sourceError ?? error;
    }
    return { key, size, sha256: hash.digest('hex') };
  }

  async get(key: string): Promise<Readable> {
    assertValidKey(key);
    try {
      const res = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }));
      if (!(res.Body instanceof Readable)) throw new Error('S3 returned no readable body');
      return res.Body;
    } catch (error) {
      if (isMissing(error)) throw new BlobNotFoundError(key);
      throw error;
    }
  }

  async stat(key: string): Promise<BlobStat | null> {
    assertValidKey(key);
    try {
      const res = await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }));
      return { size: res.ContentLength ?? 0, contentType: res.ContentType };
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    // S3 answers 204 for a missing key too, so this is idempotent as the port wants.
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }));
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertValidPrefix(prefix);
    if (prefix === '') throw new Error('deletePrefix needs a non-empty prefix; refusing to delete every blob.');
    let batch: string[] = [];
    for await (const fullKey of this.#listFullKeys(this.keyPrefix + prefix)) {
      batch.push(fullKey);
      if (batch.length === DELETE_BATCH) {
        await this.#deleteBatch(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await this.#deleteBatch(batch);
  }

  async *list(prefix: string): AsyncIterable<string> {
    assertValidPrefix(prefix);
    for await (const fullKey of this.#listFullKeys(this.keyPrefix + prefix)) {
      yield fullKey.slice(this.keyPrefix.length);
    }
  }

  async presignedGetUrl(key: string, ttlSeconds: number): Promise<string | null> {
    assertValidKey(key);
    const expiresIn = Math.min(MAX_PRESIGN_SECONDS, Math.max(1, Math.floor(ttlSeconds)));
    return getSignedUrl(this.#presigner, new GetObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key }), { expiresIn });
  }

  /** Closes the SDK's sockets (tests and shutdown). */
  close(): void {
    this.#client.destroy();
    if (this.#presigner !== this.#client) this.#presigner.destroy();
  }

  async *#listFullKeys(fullPrefix: string): AsyncGenerator<string> {
    let token: string | undefined;
    do {
      const page = await this.#client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: fullPrefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined && object.Key.startsWith(fullPrefix)) yield object.Key;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async #deleteBatch(fullKeys: string[]): Promise<void> {
    const res = await this.#client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: fullKeys.map((Key) => ({ Key })), Quiet: true } }));
    const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (failed.length > 0) {
      throw new Error(`S3 refused to delete ${failed.length} of ${fullKeys.length} objects (first: ${failed[0]?.Code ?? 'unknown'} ${failed[0]?.Key ?? ''}).`);
    }
  }
}

/** The endpoint as shown in messages: a `user:password@` part never reaches a log. */
function withoutUserinfo(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(invalid endpoint)';
  }
}

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

function isMissing(error: unknown): boolean {
  const name = (error as Error | null)?.name;
  // HEAD answers carry no body, so a missing key is only a bare 404 there.
  return name === 'NoSuchKey' || (httpStatus(error) === 404 && name !== 'NoSuchBucket');
}

/** The error's own words, cut short; SDK messages never carry the secret, but keep them brief. */
function safeMessage(error: unknown): string {
  const e = error as { message?: unknown; code?: unknown } | null;
  const text = typeof e?.message === 'string' && e.message !== '' ? e.message : String(e?.code ?? error);
  return text.slice(0, 200);
}
