import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import multipart from '@fastify/multipart';
import { z } from 'zod';
import type { DatasetService } from '../../datasets/dataset-service.ts';
import { TRIGGER_WORD_RULE } from '../../datasets/trigger-word.ts';
import { AppError } from '../../shared/errors.ts';
import { requireUser } from '../auth.ts';
import { spoolUploads, sweepStaleSpools } from '../multipart-uploads.ts';
import { commonErrors, errorResponse, idParams, noContent } from '../schemas/common.ts';
import { datasetImage, datasetResponse, datasetSettings, uploadResult } from '../schemas/datasets.ts';

const imageParams = z.object({
  id: z.uuid('The model id must be a UUID, as returned by this API.'),
  imageId: z.uuid('The image id must be a UUID, as returned by this API.'),
});

export interface DatasetRouteOptions {
  tmpDir: string;
  maxFileBytes: number;
  maxFilesPerRequest: number;
}

export const datasetRoutes = (datasets: DatasetService, opts: DatasetRouteOptions): FastifyPluginAsyncZod => async (app) => {
  await app.register(multipart, { limits: { fileSize: opts.maxFileBytes, files: opts.maxFilesPerRequest, fields: 10, parts: opts.maxFilesPerRequest + 10 } });
  // Spool files of a process that crashed mid-upload; a day is far longer than any upload takes.
  app.addHook('onReady', async () => {
    sweepStaleSpools(opts.tmpDir, 24 * 3600_000).then(
      (removed) => removed > 0 && app.log.info({ removed }, 'removed stale upload spool files'),
      (err: unknown) => app.log.warn({ err }, 'could not sweep the upload spool directory'),
    );
  });

  app.post(
    '/api/models/:id/images',
    {
      bodyLimit: opts.maxFileBytes * opts.maxFilesPerRequest,
      schema: {
        tags: ['datasets'],
        summary: 'Upload training images (multipart, many files; JPEG, PNG, WebP, AVIF, or a .zip of images with same-name .txt captions)',
        params: idParams,
        consumes: ['multipart/form-data'],
        response: { 200: z.object({ results: z.array(uploadResult) }), 413: errorResponse, 415: errorResponse, 422: errorResponse, ...commonErrors },
      },
    },
    async (request, reply) => {
      const viewer = requireUser(request);
      if (!request.isMultipart()) throw new AppError('unsupported_media_type', 'Upload images as multipart/form-data (one "file" part per image).');
      const results = await datasets.addUploads(viewer, request.params.id, spoolUploads(request, opts.tmpDir, { fileSize: opts.maxFileBytes, files: opts.maxFilesPerRequest }));
      if (results.length === 0) throw new AppError('validation_failed', 'No files were uploaded. Attach one or more images (or a .zip of images).');
      if (results.every((r) => r.status === 'rejected' || r.status === 'skipped')) {
        const first = results.find((r) => r.status === 'rejected');
        return reply.code(422).send({
          error: {
            code: 'validation_failed',
            message: `None of the files could be added.${first && 'error' in first ? ` ${first.error.message}` : ''}`,
            details: results,
          },
        });
      }
      return { results };
    },
  );

  app.get(
    '/api/models/:id/dataset',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Review the training images: per-image checks, near-duplicates, readiness verdict and top fixes',
        params: idParams,
        querystring: z.object({ resolution: z.coerce.number().pipe(z.union([z.literal(512), z.literal(768), z.literal(1024)])).default(1024) }),
        response: { 200: datasetResponse, ...commonErrors },
      },
    },
    async (request) => datasets.report(requireUser(request), request.params.id, request.query.resolution),
  );

  app.patch(
    '/api/models/:id/dataset',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Set the trigger word and the caption prefix applied to every caption',
        params: idParams,
        body: z.object({
          triggerWord: z.string().trim().max(40, TRIGGER_WORD_RULE).nullable().optional().describe('null restores the default derived from the model name'),
          captionPrefix: z.string().max(200, 'The caption prefix is at most 200 characters.').optional(),
        }).refine((v) => v.triggerWord !== undefined || v.captionPrefix !== undefined, 'Send triggerWord and/or captionPrefix.'),
        response: { 200: datasetSettings, ...commonErrors },
      },
    },
    async (request) => datasets.updateSettings(requireUser(request), request.params.id, request.body),
  );

  for (const variant of ['thumbnail', 'file'] as const) {
    app.get(
      `/api/models/:id/images/:imageId/${variant}`,
      {
        schema: {
          tags: ['datasets'],
          summary: variant === 'thumbnail' ? 'Thumbnail (WebP) of a training image' : 'A training image, large (JPEG, metadata stripped)',
          params: imageParams,
          querystring: z.object({ download: z.enum(['1']).optional() }),
          response: { 200: z.unknown().describe('image bytes'), ...commonErrors },
        },
      },
      async (request, reply) => {
        const file = await datasets.openImage(requireUser(request), request.params.id, request.params.imageId, variant);
        reply.type(file.contentType).header('content-length', file.size).header('cache-control', 'private, max-age=86400, immutable');
        if (request.query.download) reply.header('content-disposition', `attachment; filename="${file.filename.replace(/"/g, '')}"`);
        return reply.send(file.stream);
      },
    );
  }

  app.patch(
    '/api/models/:id/images/:imageId',
    {
      schema: {
        tags: ['datasets'],
        summary: "Edit an image's caption",
        params: imageParams,
        body: z.object({ caption: z.string().max(2000, 'Captions are at most 2,000 characters.') }),
        response: { 200: z.object({ image: datasetImage }), ...commonErrors },
      },
    },
    async (request) => ({ image: await datasets.setCaption(requireUser(request), request.params.id, request.params.imageId, request.body.caption) }),
  );

  app.delete(
    '/api/models/:id/images/:imageId',
    { schema: { tags: ['datasets'], summary: 'Remove an image from the training set', params: imageParams, response: { ...noContent, ...commonErrors } } },
    async (request, reply) => {
      await datasets.deleteImage(requireUser(request), request.params.id, request.params.imageId);
      return reply.code(204).send(null);
    },
  );
};
