import { describe, expect, it } from 'vitest';
import { mentionsTriggerWord, resolveParams } from '../../../src/generations/controls.ts';
import { checkAgainstVersionSchema } from '../../../src/generations/version-schema.ts';
import { FLUX_VERSION_INPUT, SDXL_VERSION_INPUT } from '../../support/replicate-emulator/index.ts';

const fluxSchema = { properties: FLUX_VERSION_INPUT.properties, required: FLUX_VERSION_INPUT.required };
const sdxlSchema = { properties: SDXL_VERSION_INPUT.properties, required: SDXL_VERSION_INPUT.required };

describe('generation controls per base model', () => {
  it('fills Flux defaults, keeps the given seed and puts the trigger word in front once', () => {
    const { params, input, problems } = resolveParams('flux-dev', { prompt: 'on a beach' }, 'REXDOG', 42);
    expect(problems).toEqual([]);
    expect(params).toEqual({ prompt: 'REXDOG on a beach', negativePrompt: null, loraScale: 1, guidanceScale: 3, steps: 28, seed: 42, aspectRatio: '1:1', numOutputs: 1, outputFormat: 'png' });
    expect(input).toMatchObject({ prompt: 'REXDOG on a beach', lora_scale: 1, guidance_scale: 3, num_inference_steps: 28, seed: 42, aspect_ratio: '1:1', output_format: 'png' });
    expect(input).not.toHaveProperty('negative_prompt');
    expect(resolveParams('flux-dev', { prompt: 'a photo of rexdog, smiling' }, 'REXDOG', 1).params.prompt).toBe('a photo of rexdog, smiling');
    expect(resolveParams('flux-dev', { prompt: 'a dog', insertTriggerWord: false }, 'REXDOG', 1).params.prompt).toBe('a dog');
  });

  it('treats the trigger word as a whole word, even with regex characters in it', () => {
    expect(mentionsTriggerWord('REXDOGS playing', 'REXDOG')).toBe(false);
    expect(mentionsTriggerWord('(REXDOG) playing', 'REXDOG')).toBe(true);
    expect(mentionsTriggerWord('a c++ dog', 'c++')).toBe(true);
  });

  it('refuses a negative prompt on Flux with the reason, and out-of-range values with the range', () => {
    const { problems } = resolveParams('flux-dev', { prompt: 'x', negativePrompt: 'blurry', loraScale: 3.5, guidanceScale: 11, steps: 51, numOutputs: 5 }, 'T', 1);
    expect(problems.map((p) => p.path[0])).toEqual(['negativePrompt', 'loraScale', 'guidanceScale', 'steps', 'numOutputs']);
    expect(problems[0]!.message).toMatch(/FLUX.1 has no negative prompt/);
    expect(problems[1]!.message).toBe('LoRA scale must be between -1 and 3 for FLUX.1 (got 3.5).');
    expect(problems[2]!.message).toMatch(/between 0 and 10/);
  });

  it('maps SDXL: negative prompt kept, pixel sizes from the aspect ratio, its own ranges', () => {
    const { params, input, problems } = resolveParams('sdxl', { prompt: 'REXDOG in snow', negativePrompt: 'blurry', aspectRatio: '16:9' }, 'REXDOG', 9);
    expect(problems).toEqual([]);
    expect(params).toMatchObject({ loraScale: 0.6, guidanceScale: 7.5, steps: 50, negativePrompt: 'blurry' });
    expect(input).toMatchObject({ negative_prompt: 'blurry', width: 1344, height: 768, lora_scale: 0.6 });
    expect(input).not.toHaveProperty('aspect_ratio');
    expect(resolveParams('sdxl', { prompt: 'x', loraScale: 1.2 }, 'T', 1).problems[0]!.message).toMatch(/between 0 and 1 for SDXL/);
    expect(resolveParams('sdxl', { prompt: 'x', outputFormat: 'webp' }, 'T', 1).problems[0]).toMatchObject({ path: ['outputFormat'] });
  });
});

describe("checking the input against the trained version's schema", () => {
  it('accepts what our controls produce for each base model', () => {
    expect(checkAgainstVersionSchema(resolveParams('flux-dev', { prompt: 'x', outputFormat: 'webp' }, 'T', 1).input, fluxSchema)).toEqual([]);
    expect(checkAgainstVersionSchema(resolveParams('sdxl', { prompt: 'x', negativePrompt: 'y' }, 'T', 1).input, sdxlSchema)).toEqual([]);
  });

  it('refuses values outside minimum/maximum, enums, wrong types, unknown and missing fields, naming our fields', () => {
    const strict = { properties: { ...fluxSchema.properties, lora_scale: { type: 'number', minimum: 0, maximum: 2 }, num_inference_steps: { type: 'integer', maximum: 30 } }, required: ['prompt', 'seed'] };
    const problems = checkAgainstVersionSchema({ prompt: 'x', lora_scale: 2.5, num_inference_steps: 40, aspect_ratio: '7:1', num_outputs: 1.5, negative_prompt: 'no' }, strict);
    expect(problems).toEqual([
      { path: ['loraScale'], message: 'The trained version accepts lora_scale between 0 and 2 (got 2.5).' },
      { path: ['steps'], message: 'The trained version accepts num_inference_steps at most 30 (got 40).' },
      { path: ['aspectRatio'], message: expect.stringMatching(/one of 1:1, 16:9/) },
      { path: ['numOutputs'], message: 'The trained version expects num_outputs to be a whole number.' },
      { path: ['negativePrompt'], message: 'This model\'s trained version does not accept "negative_prompt".' },
      { path: ['seed'], message: 'The trained version requires "seed".' },
    ]);
  });

  it('takes a version without a published schema on trust', () => {
    expect(checkAgainstVersionSchema({ prompt: 'x', anything: 1 }, { properties: {}, required: [] })).toEqual([]);
  });
});
