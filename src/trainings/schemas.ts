import { z } from 'zod';
import { BASE_MODELS } from './base-models.ts';
import { PRESETS, RESOLUTIONS, MAX_EPOCHS } from './presets.ts';

const override = z.union([z.number().finite(), z.string().max(100), z.boolean()]);

/** Step 4 of the guide: the training parameters. */
export const trainingSettingsInput = z.object({
  baseModel: z.enum(BASE_MODELS, { error: 'Choose a base model: "flux-dev", "sdxl", "sd15" or "sd21".' }),
  preset: z.enum(PRESETS, { error: 'Choose a preset: "beginner", "standard" or "expert".' }),
  resolution: z.union([z.literal(512), z.literal(768), z.literal(1024)], { error: `Choose a resolution: ${RESOLUTIONS.join(', ')}.` }),
  epochs: z.number().int('Epochs are whole numbers.').min(1, 'Train at least 1 epoch.').max(MAX_EPOCHS, `At most ${MAX_EPOCHS} epochs.`).optional(),
  /** Expert preset only: trainer inputs to set by hand (see GET …/training-options for the names). */
  overrides: z.record(z.string().max(60), override).optional(),
  /** The training whose settings this one reuses ("Retrain with changes"). */
  retrainOf: z.uuid().optional(),
});

export type TrainingSettingsInput = z.infer<typeof trainingSettingsInput>;
