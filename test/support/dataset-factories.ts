import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppContext } from '../../src/app-context.ts';
import type { UploadResult } from '../../src/datasets/dataset-service.ts';
import { photoJpeg } from './images.ts';

/** Builds a multipart/form-data body by hand, as a browser or curl would send it. */
export function multipartBody(files: Array<{ name: string; data: Buffer; type?: string }>, boundary = `----theway${Date.now().toString(16)}`) {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${f.name}"\r\nContent-Type: ${f.type ?? 'application/octet-stream'}\r\n\r\n`));
    parts.push(f.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/**
 * Adds `count` distinct photo-like images to a model's dataset through the real service (real
 * decoding, real storage rows), the way an upload would.
 */
export async function addDatasetImages(ctx: AppContext, owner: { id: string }, modelId: string, count: number, firstSeed = 100, side = 1024): Promise<UploadResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'theway-ds-'));
  try {
    const viewer = { id: owner.id, email: '', displayName: '', role: 'user' as const, createdAt: '' };
    const files = [];
    for (let i = 0; i < count; i++) {
      const path = join(dir, `photo-${i}.jpg`);
      writeFileSync(path, await photoJpeg({ width: side, height: side, seed: firstSeed + i }));
      files.push({ filename: `photo-${i}.jpg`, path, truncated: false });
    }
    return await ctx.datasets.addUploads(viewer, modelId, (async function* () { yield* files; })());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
