import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import type { UploadedFile } from '../datasets/dataset-service.ts';

/**
 * Streams each uploaded file to a temporary file (never whole in memory), hands it to the
 * consumer, and removes it once the consumer moves on, also when it throws or the client aborts.
 */
export async function* spoolUploads(request: FastifyRequest, tmpDir: string, limits: { fileSize: number; files: number }): AsyncGenerator<UploadedFile> {
  await mkdir(tmpDir, { recursive: true });
  for await (const part of request.files({ limits: { fileSize: limits.fileSize, files: limits.files }, throwFileSizeLimit: false })) {
    const path = join(tmpDir, `upload-${randomUUID()}`);
    try {
      await pipeline(part.file, createWriteStream(path, { flags: 'wx' }));
      yield { filename: part.filename || 'unnamed', path, truncated: part.file.truncated };
    } finally {
      await rm(path, { force: true });
    }
  }
}
