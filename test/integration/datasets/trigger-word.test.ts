import { describe, expect, it } from 'vitest';
import { deriveTriggerWord, trainingCaption, triggerWordProblem } from '../../../src/datasets/trigger-word.ts';

describe('trigger word', () => {
  it('derives a rare, valid token from the model name', () => {
    const cases: Array<[string, string]> = [
      ['Rex the dog', 'REXDOG'],
      ['Watercolor Fox', 'WATERCOLORFOX'],
      ['My Café Style LoRA', 'CAFESTYLE'],
      ['Dog', 'DOGTOK'],
      ['2024 holiday', 'TOK2024HOLIDAY'],
      ['日本', 'TOK'],
      ['Supercalifragilistic expialidocious', 'SUPERCALIFRAGILI'],
    ];
    for (const [name, token] of cases) {
      expect(deriveTriggerWord(name), name).toBe(token);
      expect(triggerWordProblem(deriveTriggerWord(name)), name).toBeNull();
    }
  });

  it('accepts 3–40 letters, digits and underscores starting with a letter, and refuses everyday words', () => {
    for (const ok of ['REXDOG', 'zxq_style', 'Abc', 'A'.repeat(40), 'sks9']) expect(triggerWordProblem(ok), ok).toBeNull();
    for (const bad of ['ab', 'A'.repeat(41), '9lives', '_rex', 'rex dog', 'rex-dog', 'rëx', '']) expect(triggerWordProblem(bad), bad).toMatch(/3–40 letters/);
    for (const word of ['dog', 'DOG', 'Portrait', 'style', 'woman', 'the']) expect(triggerWordProblem(word), word).toMatch(/everyday word/);
  });

  it('puts the trigger word in front of captions that lack it, after the prefix, and leaves blank captions blank', () => {
    expect(trainingCaption('on a beach', 'REXDOG', '')).toBe('REXDOG, on a beach');
    expect(trainingCaption('REXDOG on a beach', 'REXDOG', '')).toBe('REXDOG on a beach');
    expect(trainingCaption('a photo of rexdog asleep', 'REXDOG', '')).toBe('a photo of rexdog asleep');
    // Part of a longer word does not count as the trigger word.
    expect(trainingCaption('REXDOGS playing', 'REXDOG', '')).toBe('REXDOG, REXDOGS playing');
    expect(trainingCaption('  on grass ', 'REXDOG', ' a photo of ')).toBe('REXDOG, a photo of on grass');
    expect(trainingCaption('', 'REXDOG', 'a photo of')).toBe('REXDOG, a photo of');
    expect(trainingCaption('   ', 'REXDOG', '')).toBe('');
  });
});
