/**
 * Turns a provider's error text into something a person can act on. Kinds follow the guide's
 * Troubleshooting: settings the trainer refused, a problem with the images, a platform/provider
 * fault (retry as is), or a cancellation.
 */
export type FailureKind = 'input_validation' | 'dataset' | 'provider' | 'canceled';

export interface Failure {
  kind: FailureKind;
  message: string;
  nextStep: string;
}

const DATASET_PATTERNS = [/no (valid )?images/i, /found 0 images/i, /zip/i, /cannot identify image/i, /corrupt/i, /caption/i, /input_images/i];

/**
 * `notSent`: the failure came before Replicate created the training (an upload or create call was
 * refused, or the images could not be sent), so nothing ran and nothing was charged.
 */
export function classifyFailure(error: string | null | undefined, context: { canceledByUser?: boolean; notSent?: boolean } = {}): Failure {
  const text = (error ?? '').trim();
  if (context.canceledByUser) {
    return { kind: 'canceled', message: 'You canceled this training. Replicate stopped it and stopped billing.', nextStep: 'Start a new training whenever you are ready; your images and settings are kept.' };
  }
  if (/^Prediction input failed validation/i.test(text) || /input failed validation/i.test(text)) {
    const detail = text.replace(/^Prediction input failed validation:?\s*/i, '');
    return {
      kind: 'input_validation',
      message: `The trainer refused the training settings${detail ? `: ${detail}` : '.'}`,
      nextStep: 'Use "Retrain with changes" and adjust the settings the message names (Expert preset shows every input).',
    };
  }
  if (DATASET_PATTERNS.some((p) => p.test(text))) {
    return {
      kind: 'dataset',
      message: `The trainer could not use the training images${text ? `: ${text}` : '.'}`,
      nextStep: 'Check the images in Step 3 (the dataset doctor flags problems), remove or replace the bad ones, then retrain.',
    };
  }
  if (/Failed to create trained image after successful training run/i.test(text)) {
    return {
      kind: 'provider',
      message: 'Training finished, but Replicate failed to save the trained model. This is a fault on their side, not in your images.',
      nextStep: 'Retrain with the same settings; nothing needs to change.',
    };
  }
  if (context.notSent) {
    return {
      kind: 'provider',
      message: `The training could not be sent to Replicate, so nothing was charged${text ? `: ${text}` : '.'}`,
      nextStep: 'Do what the message asks (or ask the administrator if it names the platform\'s Replicate account), then start the training again.',
    };
  }
  return {
    kind: 'provider',
    message: text ? `The training failed on Replicate: ${text}` : 'The training failed on Replicate without giving a reason.',
    nextStep: 'Retrain with the same settings. If it fails again the same way, try fewer steps or a different base model, or ask the administrator to check Replicate\'s status.',
  };
}
