import { z } from 'zod';

export const MODEL_TYPES = ['person', 'style', 'object'] as const;
export const VISIBILITIES = ['public', 'private'] as const;

const name = z
  .string()
  .trim()
  .min(1, 'Give your model a name.')
  .max(80, 'Model names are at most 80 characters.')
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'Model names cannot contain control characters.');
const description = z.string().trim().max(2000, 'Descriptions are at most 2,000 characters.');
const visibility = z.enum(VISIBILITIES, { error: 'Choose "public" or "private".' });
const modelType = z.enum(MODEL_TYPES, { error: 'Choose a model type: "person", "style" or "object".' });

export const createModelInput = z.object({
  name,
  description: description.default(''),
  visibility: visibility.default('private'),
  modelType,
});

export const updateModelInput = z
  .object({ name, description, visibility, modelType })
  .partial()
  .refine((v) => Object.keys(v).length > 0, 'Send at least one field to change: name, description, visibility or modelType.');

export const listModelsQuery = z.object({
  scope: z.enum(['mine', 'public']).default('mine'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

export type CreateModelInput = z.infer<typeof createModelInput>;
export type UpdateModelInput = z.infer<typeof updateModelInput>;
export type ListModelsQuery = z.infer<typeof listModelsQuery>;
