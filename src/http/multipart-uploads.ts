import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
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
        await pipeline(part.file, createWriteStream(path, { flags: 'wx' }));
        yield { filename: part.filename || 'unnamed', path, truncated: part.file.truncated, limitBytes: limits.fileSize };
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
