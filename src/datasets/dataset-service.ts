import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import type { User } from '../accounts/types.ts';
import type { ModelService } from '../models/model-service.ts';
import { isBlobNotFound, type BlobStorage } from '../storage/storage.ts';
import { AppError, notFound, validation } from '../shared/errors.ts';
import { newId } from '../shared/ids.ts';
import type { DatasetReadiness, TrainingDatasets, TrainingPackage } from '../trainings/dataset-port.ts';
import { processImage, type ImageMetrics } from './image/process-image.ts';
import { Semaphore } from '../shared/semaphore.ts';
import { ImageRejectedError, ZipRejectedError } from './image/errors.ts';
import { sniff } from './image/sniff.ts';
import { readImageZip } from './image/zip-import.ts';
import { assessDataset, checkImage, type Badge, type DatasetReport } from './image/checks.ts';
import { writeTrainingPackage } from './image/training-package.ts';
import type { TrainingResolution } from './image/thresholds.ts';
import type { DatasetImageRow, DatasetRepository } from './dataset-repository.ts';
import type { StorageQuota } from '../quotas/storage-quota.ts';
import { deriveTriggerWord, trainingCaption, triggerWordProblem } from './trigger-word.ts';

/**
 * One uploaded file, already streamed to a temporary file by the HTTP layer, or a file the HTTP
 * layer refused before storing it (e.g. past the per-request file limit).
 */
export type UploadedFile =
  | {
      filename: string;
      path: string;
      /** The file's first bytes, when the HTTP layer kept them while spooling (saves opening the file to tell its type). */
      head?: Uint8Array;
      /** The upload was cut off at the size limit. */
      truncated: boolean;
      /** The per-file limit the HTTP layer cut at (a zip may be larger than one image). */
      limitBytes?: number;
    }
  | { filename: string; refused: { code: string; message: string } };

export type UploadResult =
  | { filename: string; status: 'added' | 'duplicate'; image: DatasetImageView }
  | { filename: string; status: 'rejected'; error: { code: string; message: string } }
  | { filename: string; status: 'skipped'; reason: string };

export interface DatasetImageView {
  id: string;
  filename: string;
  width: number;
  height: number;
  format: string;
  bytes: number;
  caption: string;
  badges: Badge[];
  thumbnailUrl: string;
  fileUrl: string;
  createdAt: string;
}

export interface DatasetLimits {
  /** Images decoded at once in this process; bounds memory (one decode near the pixel limit holds ~120 MB). Default 2. */
  maxConcurrentDecodes?: number;
  maxImageBytes: number;
  maxImagePixels: number;
  maxImages: number;
  maxZipEntries: number;
  maxZipInflatedBytes: number;
}

export const MIN_IMAGES_TO_TRAIN = 10;
const DEFAULT_RESOLUTION: TrainingResolution = 1024;
/** Bump when the package builder's output changes, so packages built before are not reused. */
const PACKAGE_FORMAT_VERSION = 1;

const safeName = (name: string) => name.replace(/[\u0000-\u001f\u007f/\\]+/g, '_').slice(-200) || 'image';

export class DatasetService implements TrainingDatasets {
  readonly #repo: DatasetRepository;
  readonly #models: ModelService;
  readonly #storage: BlobStorage;
  readonly #limits: DatasetLimits;
  readonly #quota: Pick<StorageQuota, 'refusalWithin'>;
  readonly #decodes: Semaphore;
  readonly #now: () => Date;

  constructor(deps: { repo: DatasetRepository; models: ModelService; storage: BlobStorage; limits: DatasetLimits; quota: Pick<StorageQuota, 'refusalWithin'>; now?: () => Date }) {
    this.#repo = deps.repo;
    this.#quota = deps.quota;
    this.#models = deps.models;
    this.#storage = deps.storage;
    this.#limits = deps.limits;
    this.#decodes = new Semaphore(deps.limits.maxConcurrentDecodes ?? 2);
    this.#now = deps.now ?? (() => new Date());
  }

  /** Step 3: every file gets its own verdict; one bad file never loses the good ones. */
  async addUploads(viewer: User, modelId: string, files: AsyncIterable<UploadedFile>): Promise<UploadResult[]> {
    await this.#ownedModel(viewer, modelId);
    const results: UploadResult[] = [];
    for await (const file of files) {
      const name = safeName(file.filename);
      if ('refused' in file) {
        results.push({ filename: name, status: 'rejected', error: file.refused });
        continue;
      }
      if (file.truncated) {
        const limit = file.limitBytes ?? this.#limits.maxImageBytes;
        results.push({ filename: name, status: 'rejected', error: { code: 'too_large_bytes', message: `"${name}": the file is larger than the ${megabytes(limit)} limit per file.` } });
        continue;
      }
      const head = file.head ?? (await readHead(file.path));
      const kind = sniff(head);
      if (kind.kind === 'zip') results.push(...(await this.#addZip(viewer.id, modelId, name, file.path)));
      else results.push(await this.#addImage(viewer.id, modelId, name, file.path));
    }
    return results;
  }

  async #addZip(ownerId: string, modelId: string, archive: string, path: string): Promise<UploadResult[]> {
    const results: UploadResult[] = [];
    try {
      for await (const item of readImageZip(path, { name: archive, limits: { maxEntries: this.#limits.maxZipEntries, maxTotalInflatedBytes: this.#limits.maxZipInflatedBytes, maxEntryBytes: this.#limits.maxImageBytes } })) {
        if (item.kind === 'skipped') results.push({ filename: `${archive}/${item.path}`, status: 'skipped', reason: item.reason });
        else results.push(await this.#addImage(ownerId, modelId, safeName(item.name), item.data, item.caption));
      }
    } catch (error) {
      if (!(error instanceof ZipRejectedError)) throw error;
      results.push({ filename: archive, status: 'rejected', error: { code: error.reason, message: error.message } });
    }
    // An archive of only folders and hidden files yields nothing: without this it got no verdict at all.
    if (results.length === 0) {
      results.push({
        filename: archive,
        status: 'rejected',
        error: { code: 'no_images', message: `"${archive}": the archive holds no images to add (hidden files, folders and __MACOSX are ignored). Zip the JPEG, PNG, WebP or AVIF files themselves.` },
      });
    }
    return results;
  }

  async #addImage(ownerId: string, modelId: string, name: string, source: string | Buffer, caption?: string): Promise<UploadResult> {
    let processed;
    try {
      processed = await this.#decodes.run(() => processImage(source, { name, maxBytes: this.#limits.maxImageBytes, maxPixels: this.#limits.maxImagePixels }));
    } catch (error) {
      if (error instanceof ImageRejectedError) return { filename: name, status: 'rejected', error: { code: error.reason, message: error.message } };
      throw error;
    }
    const existing = await this.#repo.findBySha(modelId, processed.sha256);
    if (existing) return { filename: name, status: 'duplicate', image: this.#view(existing) };
    const tooMany = { filename: name, status: 'rejected', error: { code: 'too_many_images', message: `"${name}": this model already has ${this.#limits.maxImages} images, the most a dataset may hold. The guide recommends 15–20; remove some first.` } } as const;
    if ((await this.#repo.countImages(modelId)) >= this.#limits.maxImages) return tooMany;
    // Content-addressed keys: a retried upload writes the same keys, so nothing is left twice.
    const imageKey = `models/${modelId}/images/${processed.sha256}.jpg`;
    const thumbKey = `models/${modelId}/thumbs/${processed.sha256}.webp`;
    // Side by side: each put waits for its own fsyncs, which is most of an upload's fixed cost.
    await Promise.all([
      this.#storage.put(imageKey, processed.normalized, { contentType: 'image/jpeg' }),
      this.#storage.put(thumbKey, processed.thumbnail, { contentType: 'image/webp' }),
    ]);
    const { perceptualHash, ...metrics } = processed.metrics;
    const row: DatasetImageRow = {
      id: newId(),
      model_id: modelId,
      sha256: processed.sha256,
      original_name: name,
      image_key: imageKey,
      thumb_key: thumbKey,
      width: processed.width,
      height: processed.height,
      format: processed.format,
      bytes: processed.bytes,
      had_alpha: processed.hadAlpha ? 1 : 0,
      metrics: JSON.stringify(metrics),
      perceptual_hash: perceptualHash,
      caption: caption?.slice(0, 2000) ?? '',
      created_at: this.#now().toISOString(),
    };
    const dropBlobsUnlessUsed = async () => {
      if (!(await this.#repo.isKeyUsed(modelId, processed.sha256).catch(() => true))) {
        await this.#storage.delete(imageKey);
        await this.#storage.delete(thumbKey);
      }
    };
    let outcome;
    try {
      // Uploads running side by side each passed the checks above; here they are decided one at a time.
      outcome = await this.#repo.insertOrFind(row, async (trx) => {
        if ((await this.#repo.countImages(modelId, trx)) >= this.#limits.maxImages) return tooMany.error.message;
        return this.#quota.refusalWithin(trx, ownerId, processed.bytes, `"${name}"`);
      });
    } catch (error) {
      // The row never landed (e.g. the model was deleted meanwhile): leave no blob behind.
      await dropBlobsUnlessUsed();
      throw error;
    }
    if ('refused' in outcome) {
      await dropBlobsUnlessUsed();
      const code = outcome.refused === tooMany.error.message ? 'too_many_images' : 'storage_full';
      return { filename: name, status: 'rejected', error: { code, message: outcome.refused } };
    }
    return { filename: name, status: outcome.created ? 'added' : 'duplicate', image: this.#view(outcome.row) };
  }

  /** Step 3's review: every image with its badges, and the dataset's readiness verdict. */
  async report(viewer: User, modelId: string, resolution: TrainingResolution = DEFAULT_RESOLUTION) {
    await this.#ownedModel(viewer, modelId);
    const rows = await this.#repo.listImages(modelId);
    const assessed = this.#assess(rows, resolution);
    const badgesById = new Map(assessed.images.map((i) => [i.id, i.badges]));
    const settings = await this.#settings(modelId);
    return {
      resolution,
      settings,
      images: rows.map((r) => ({ ...this.#view(r), badges: badgesById.get(r.id) ?? [] })),
      summary: {
        count: assessed.count,
        recommended: { min: 15, max: 20 },
        minimumToTrain: MIN_IMAGES_TO_TRAIN,
        duplicateRatio: assessed.duplicateRatio,
        nearDuplicateGroups: assessed.nearDuplicateGroups,
        badges: assessed.badges,
        readiness: assessed.readiness,
      },
    };
  }

  async openImage(viewer: User, modelId: string, imageId: string, variant: 'thumbnail' | 'file'): Promise<{ stream: Readable; contentType: string; size: number; filename: string }> {
    await this.#models.get(viewer, modelId); // own, or public: 404 otherwise
    const row = await this.#repo.findImage(modelId, imageId);
    if (!row) throw notFound('Image');
    const key = variant === 'thumbnail' ? row.thumb_key : row.image_key;
    const stat = await this.#storage.stat(key);
    if (!stat) throw notFound('Image');
    const base = row.original_name.replace(/\.[^.]+$/, '');
    return { stream: await this.#storage.get(key), contentType: variant === 'thumbnail' ? 'image/webp' : 'image/jpeg', size: stat.size, filename: `${base}.${variant === 'thumbnail' ? 'webp' : 'jpg'}` };
  }

  async deleteImage(viewer: User, modelId: string, imageId: string): Promise<void> {
    await this.#ownedModel(viewer, modelId);
    const row = await this.#repo.findImage(modelId, imageId);
    if (!row || !(await this.#repo.deleteImage(modelId, imageId))) throw notFound('Image');
    await this.#storage.delete(row.image_key);
    await this.#storage.delete(row.thumb_key);
  }

  async setCaption(viewer: User, modelId: string, imageId: string, caption: string): Promise<DatasetImageView> {
    await this.#ownedModel(viewer, modelId);
    if (!(await this.#repo.setCaption(modelId, imageId, caption.trim()))) throw notFound('Image');
    return this.#view((await this.#repo.findImage(modelId, imageId))!);
  }

  async updateSettings(viewer: User, modelId: string, input: { triggerWord?: string | null | undefined; captionPrefix?: string | undefined }) {
    await this.#ownedModel(viewer, modelId);
    const current = await this.#repo.getSettings(modelId);
    if (input.triggerWord) {
      const problem = triggerWordProblem(input.triggerWord);
      if (problem) throw validation(problem, [{ path: ['triggerWord'], message: problem }]);
    }
    await this.#repo.putSettings({
      model_id: modelId,
      trigger_word: input.triggerWord === undefined ? (current?.trigger_word ?? null) : input.triggerWord || null,
      caption_prefix: input.captionPrefix === undefined ? (current?.caption_prefix ?? '') : input.captionPrefix.trim(),
      updated_at: this.#now().toISOString(),
    });
    return this.#settings(modelId);
  }

  /** Removes the blobs of a deleted model (its rows went with it by cascade). */
  async deleteModelFiles(modelId: string): Promise<void> {
    await this.#storage.deletePrefix(`models/${modelId}/`);
  }

  // ─── TrainingDatasets port ────────────────────────────────────────────────────────────────

  async readiness(modelId: string): Promise<DatasetReadiness> {
    const rows = await this.#repo.listImages(modelId);
    const assessed = this.#assess(rows, DEFAULT_RESOLUTION);
    const reasons: string[] = [];
    if (rows.length < MIN_IMAGES_TO_TRAIN) {
      reasons.push(`Upload at least ${MIN_IMAGES_TO_TRAIN} images (you have ${rows.length}); 15–20 varied, sharp images give the best results.`);
    } else if (!assessed.readiness.canTrain) {
      reasons.push(...assessed.readiness.topFixes);
    }
    return { imageCount: rows.length, canTrain: reasons.length === 0, reasons, triggerWord: (await this.#settings(modelId)).triggerWord };
  }

  /**
   * Deterministic, so a rebuild gives the same bytes; a sidecar manifest (the fingerprint of what
   * went in) lets a retried build reuse the zip already at `key` instead of re-encoding every image.
   */
  async buildPackage(modelId: string, resolution: number, key: string): Promise<TrainingPackage> {
    const rows = await this.#repo.listImages(modelId);
    if (rows.length === 0) throw new AppError('conflict', 'The model has no training images.');
    const { triggerWord, captionPrefix } = await this.#settings(modelId);
    const items = rows.map((r) => ({ key: `${r.created_at}|${r.id}`, row: r, caption: trainingCaption(r.caption, triggerWord, captionPrefix) }));
    const fingerprint = createHash('sha256')
      .update(JSON.stringify({ format: PACKAGE_FORMAT_VERSION, resolution, items: items.map((i) => [i.key, i.row.sha256, i.caption]) }))
      .digest('hex');
    const manifestKey = `${key}.manifest.json`;

    const previous = await this.#readManifest(manifestKey);
    if (previous?.fingerprint === fingerprint && previous.key === key && (await this.#storage.stat(key))?.size === previous.size) {
      return { key, size: previous.size, sha256: previous.sha256, imageCount: previous.imageCount };
    }

    const out = new PassThrough();
    const stored = this.#storage.put(key, out, { contentType: 'application/zip' });
    const written = writeTrainingPackage(
      items.map((i) => ({ key: i.key, loadImage: async () => streamToBuffer(await this.#storage.get(i.row.image_key)), caption: i.caption })),
      { resolution: resolution as TrainingResolution },
      out,
    );
    const [result] = await Promise.all([stored, written]);
    const pkg: TrainingPackage = { key, size: result.size, sha256: result.sha256, imageCount: rows.length };
    await this.#storage.put(manifestKey, Buffer.from(JSON.stringify({ ...pkg, fingerprint })), { contentType: 'application/json' });
    return pkg;
  }

  async #readManifest(key: string): Promise<(TrainingPackage & { fingerprint: string }) | null> {
    try {
      return JSON.parse((await streamToBuffer(await this.#storage.get(key))).toString('utf8')) as TrainingPackage & { fingerprint: string };
    } catch (error) {
      if (isBlobNotFound(error) || error instanceof SyntaxError) return null;
      throw error;
    }
  }

  // ─── internals ────────────────────────────────────────────────────────────────────────────

  #assess(rows: DatasetImageRow[], resolution: TrainingResolution): DatasetReport {
    return assessDataset(
      rows.map((r) => ({
        id: r.id,
        label: r.original_name,
        width: Number(r.width),
        height: Number(r.height),
        hadAlpha: Number(r.had_alpha) === 1,
        perceptualHash: r.perceptual_hash,
        metrics: JSON.parse(r.metrics) as Omit<ImageMetrics, 'perceptualHash'>,
      })),
      resolution,
    );
  }

  async #settings(modelId: string): Promise<{ triggerWord: string; triggerWordIsDefault: boolean; captionPrefix: string }> {
    const s = await this.#repo.getSettings(modelId);
    if (s?.trigger_word) return { triggerWord: s.trigger_word, triggerWordIsDefault: false, captionPrefix: s.caption_prefix };
    const model = await this.#models.getForSystem(modelId);
    return { triggerWord: deriveTriggerWord(model?.name ?? 'model'), triggerWordIsDefault: true, captionPrefix: s?.caption_prefix ?? '' };
  }

  #view(r: DatasetImageRow): DatasetImageView {
    return {
      id: r.id,
      filename: r.original_name,
      width: Number(r.width),
      height: Number(r.height),
      format: r.format,
      bytes: Number(r.bytes),
      caption: r.caption,
      badges: checkImage({ width: Number(r.width), height: Number(r.height), hadAlpha: Number(r.had_alpha) === 1, metrics: JSON.parse(r.metrics) }, DEFAULT_RESOLUTION),
      thumbnailUrl: `/api/models/${r.model_id}/images/${r.id}/thumbnail`,
      fileUrl: `/api/models/${r.model_id}/images/${r.id}/file`,
      createdAt: r.created_at,
    };
  }

  async #ownedModel(viewer: User, modelId: string) {
    const model = await this.#models.get(viewer, modelId);
    if (!model.isOwner) throw notFound('Model');
    return model;
  }
}

const megabytes = (bytes: number) => `${Number((bytes / 2 ** 20).toFixed(1))} MB`;

async function readHead(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(64);
    const { bytesRead } = await handle.read(buffer, 0, 64, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function streamToBuffer(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
