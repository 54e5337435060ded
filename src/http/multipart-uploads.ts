import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { UploadedFile } from '../datasets/dataset-service.ts';
import { AppError } from '../shared/errors.ts';

const SPOOL_PREFIX = 'upload-';

const fastifyCode = (error: unknown) => (error && typeof error === 'object' && 'code' in error ? String(error.code) : '');

/**
 * The parser could not even start: the Content-Type names no boundary, or one the parser cannot
 * search for (empty, or longer than RFC 2046's 70 characters allow by far). The sender's fault.
 */
const isUnparsableForm = (error: unknown) =>
  error instanceof Error && /^(Multipart: Boundary not found|The needle cannot (be an empty|have a length bigger))/.test(error.message);

/** The body ended before its closing boundary: a dropped connection or a malformed form. */
const isCutOff = (error: unknown) =>
  fastifyCode(error) === 'FST_MP_PREMATURE_CLOSE' || (error instanceof Error && /^Unexpected end of (form|multipart data)/.test(error.message));

/**
 * Streams each uploaded file to a temporary file (never whole in memory), hands it to the
 * consumer, and removes it once the consumer moves on, also when it throws or the client aborts.
 *
 * Files past the per-request limit are reported as one refused entry (the files before it are
 * kept and answered), so a large drop is not lost as a bare 413.
 */
export async function* spoolUploads(request: FastifyRequest, tmpDir: string, limits: { fileSize: number; files: number }): AsyncGenerator<UploadedFile> {
  await mkdir(tmpDir, { recursive: true });
  try {
    for await (const part of request.files({ limits: { fileSize: limits.fileSize, files: limits.files }, throwFileSizeLimit: false })) {
      const path = join(tmpDir, `${SPOOL_PREFIX}${randomUUID()}`);
      try {
        const head = await spool(part.file, path);
        yield { filename: part.filename || 'unnamed', path, head, truncated: part.file.truncated, limitBytes: limits.fileSize };
      } finally {
        await rm(path, { force: true });
      }
    }
  } catch (error) {
    const code = fastifyCode(error);
    if (code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT') {
      yield {
        filename: '(further files)',
        refused: { code: 'too_many_files', message: `Only ${limits.files} files are read per upload; the files after them were not received. Upload them in another batch.` },
      };
      return;
    }
    if (isUnparsableForm(error)) {
      throw new AppError('validation_failed', 'The upload is not readable multipart/form-data: its Content-Type needs a boundary (of at most 70 characters) that separates the parts.');
    }
    if (isCutOff(error)) {
      throw new AppError(
        'validation_failed',
        'The upload ended before every file arrived (the connection dropped or the form data is malformed). Files received in full were kept; send the others again — repeats are not added twice.',
      );
    }
    throw error;
  }
}

/** Bytes gathered before each write: the socket delivers 64 KB pieces, each write is a trip through the thread pool. */
const SPOOL_WRITE_BYTES = 1024 * 1024;
const HEAD_BYTES = 64;

/**
 * Writes one part to `path` in writes of about 1 MB (not one per network chunk), and returns its
 * first bytes, so the file type can be told without opening the file again. Memory per upload
 * stays bounded by the write size. The file needs no fsync: it is a scratch copy, removed after
 * the request, and a stale one is swept at start-up.
 */
async function spool(file: Readable, path: string): Promise<Buffer> {
  const handle = await open(path, 'wx');
  try {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let head: Buffer | null = null;
    const firstBytes: Buffer[] = [];
    let firstLength = 0;
    for await (const chunk of file as AsyncIterable<Buffer>) {
      if (head === null) {
        firstBytes.push(chunk);
        firstLength += chunk.length;
        if (firstLength >= HEAD_BYTES) head = Buffer.concat(firstBytes).subarray(0, HEAD_BYTES);
      }
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= SPOOL_WRITE_BYTES) {
        await writeAll(handle, pending);
        pending = [];
        pendingBytes = 0;
      }
    }
    if (pendingBytes > 0) await writeAll(handle, pending);
    return head ?? Buffer.concat(firstBytes);
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, chunks: Buffer[]): Promise<void> {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  let written = (await handle.writev(chunks)).bytesWritten;
  if (written < total) {
    // writev may write less than asked (rare for regular files): write the rest.
    const all = Buffer.concat(chunks);
    while (written < total) written += (await handle.write(all, written, total - written)).bytesWritten;
  }
}

/**
 * Removes spool files a crashed process left behind. Only old ones: a file of a running upload in
 * another process is young.
 */
export async function sweepStaleSpools(tmpDir: string, maxAgeMs: number, now = Date.now()): Promise<number> {
  let names: string[];
  try {
    names = await readdir(tmpDir);
  } catch {
    return 0; // no spool directory yet: nothing to sweep
  }
  let removed = 0;
  for (const name of names) {
    if (!name.startsWith(SPOOL_PREFIX)) continue;
    const path = join(tmpDir, name);
    const info = await stat(path).catch(() => null);
    if (info?.isFile() && now - info.mtimeMs > maxAgeMs) {
      await rm(path, { force: true });
      removed++;
    }
  }
  return removed;
}
