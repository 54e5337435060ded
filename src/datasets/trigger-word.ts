/**
 * The trigger word is the token a prompt uses to call up the trained subject ("a photo of REXDOG
 * on a beach"). It must be rare: a real word already means something to the base model and the
 * training fights that meaning.
 */
const STOP_WORDS = new Set(['the', 'a', 'an', 'of', 'my', 'our', 'and', 'in', 'on', 'for', 'with', 'to', 'by', 'at', 'from', 'model', 'lora', 'style']);

/** Words too common to be a trigger (the base model already knows them). */
const COMMON_WORDS = new Set([
  'dog', 'cat', 'man', 'woman', 'person', 'people', 'boy', 'girl', 'child', 'photo', 'picture', 'image', 'style', 'art',
  'painting', 'portrait', 'face', 'car', 'house', 'tree', 'flower', 'red', 'blue', 'green', 'black', 'white', 'the', 'and',
  'woman', 'baby', 'bird', 'horse', 'cup', 'mug', 'shoe', 'bag', 'watch', 'logo', 'anime', 'cartoon', 'sketch', 'drawing',
]);

export const TRIGGER_WORD_RULE = 'Use 3–40 letters, digits or underscores, starting with a letter, and not an everyday word (e.g. "REXDOG", "ZXQ_STYLE").';

/** "Rex the dog" → "REXDOG": the first two meaningful words, joined, upper-cased, at most 16 characters. */
export function deriveTriggerWord(modelName: string): string {
  const words = modelName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w && !STOP_WORDS.has(w.toLowerCase()));
  let token = words.slice(0, 2).join('').toUpperCase().slice(0, 16);
  if (!/^[A-Z]/.test(token)) token = `TOK${token}`.slice(0, 16);
  if (token.length < 3 || COMMON_WORDS.has(token.toLowerCase())) token = `${token}TOK`.slice(0, 16);
  return token;
}

/** Null when valid, else the reason. */
export function triggerWordProblem(word: string): string | null {
  if (!/^[A-Za-z][A-Za-z0-9_]{2,39}$/.test(word)) return TRIGGER_WORD_RULE;
  if (COMMON_WORDS.has(word.toLowerCase())) return `"${word}" is an everyday word the base model already knows. ${TRIGGER_WORD_RULE}`;
  return null;
}

/** The caption sent to the trainer: the prefix, and the trigger word where the caption lacks it. */
export function trainingCaption(caption: string, triggerWord: string, prefix: string): string {
  const body = caption.trim();
  const withPrefix = [prefix.trim(), body].filter(Boolean).join(' ');
  if (!withPrefix) return '';
  const hasTrigger = new RegExp(`(^|[^A-Za-z0-9_])${triggerWord}([^A-Za-z0-9_]|$)`).test(withPrefix);
  return hasTrigger ? withPrefix : `${triggerWord}, ${withPrefix}`;
}
