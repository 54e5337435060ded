/**
 * The trigger word is the token a prompt uses to call up the trained subject ("a photo of REXDOG
 * on a beach"). It must be rare: a real word already means something to the base model and the
 * training fights that meaning.
 */

/** Words a model name carries that say nothing about the subject. */
const FILLER_WORDS = new Set(['the', 'a', 'an', 'of', 'my', 'our', 'your', 'his', 'her', 'their', 'and', 'in', 'on', 'for', 'with', 'to', 'by', 'at', 'from', 'model', 'lora', 'v1', 'v2', 'v3']);

/**
 * Everyday words the base model already knows well: the function words, and the nouns and
 * adjectives people name their subjects with. Not a dictionary: a guard against the obvious
 * mistakes ("dog", "style", "portrait"), compared case-insensitively.
 */
const COMMON_WORDS = new Set(
  `the and for are but not you all any can had her was one our out day get has him his how man new now old see two way who
  boy did its let put say she too use that with have this will your from they know want been good much some time very when come
  here just like long make many more only over such take than them well were what where which while about after again also back
  because before being both could down each even first give into last most must never next other people really same should still
  their there these thing think those through under until what would year yes yet you
  dog dogs puppy cat cats kitten bird fish horse cow pig sheep lion tiger bear wolf fox rabbit mouse duck chicken animal pet
  man men woman women person people boy girl child children kid baby family friend mother father mom dad son daughter brother
  sister wife husband lady guy king queen prince princess hero character doctor teacher student artist
  face head hair eye eyes nose mouth hand hands body skin smile portrait selfie
  photo photos photograph picture pictures image images style art artwork painting drawing sketch illustration cartoon anime
  comic manga render watercolor oil pencil digital pixel vector logo icon design pattern texture poster photography
  car cars truck bike bicycle boat ship plane train bus house home room building city street road tree trees flower flowers
  garden forest mountain beach sea ocean river lake sky sun moon star stars cloud rain snow fire water stone rock wood
  cup mug glass bottle shoe shoes bag hat shirt dress jacket watch ring chair table bed lamp book phone computer toy doll robot
  food cake bread pizza coffee tea fruit apple
  red blue green yellow orange purple pink brown black white gray grey gold silver
  big small little large tiny tall short young old new happy sad cute pretty beautiful ugly dark light bright cool hot warm cold
  best nice great love life world night morning summer winter spring autumn fall
  test sample example default untitled name word trigger token subject object thing stuff`.split(/\s+/).filter(Boolean),
);

export const TRIGGER_WORD_RULE =
  'Use 3–40 letters, digits or underscores, starting with a letter, and not an everyday word (e.g. "REXDOG", "ZXQ_STYLE").';

const TOKEN_MAX_DERIVED = 16;

/**
 * "Rex the dog" → "REXDOG": accents dropped, split on anything but letters and digits, filler
 * words ("the", "my", "model"…) left out, the first two remaining words joined and upper-cased
 * (at most 16 characters). Made valid when that is not enough: a leading digit gets "TOK" in
 * front, and a too-short or everyday result gets "TOK" appended ("Dog" → "DOGTOK").
 */
export function deriveTriggerWord(modelName: string): string {
  const words = modelName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w && !FILLER_WORDS.has(w.toLowerCase()));
  let token = words.slice(0, 2).join('').toUpperCase().slice(0, TOKEN_MAX_DERIVED);
  if (!/^[A-Z]/.test(token)) token = `TOK${token}`.slice(0, TOKEN_MAX_DERIVED);
  if (token.length < 3 || COMMON_WORDS.has(token.toLowerCase())) token = `${token}TOK`.slice(0, TOKEN_MAX_DERIVED);
  return token;
}

/** Null when valid, else the reason (written for the person choosing it). */
export function triggerWordProblem(word: string): string | null {
  if (!/^[A-Za-z][A-Za-z0-9_]{2,39}$/.test(word)) return TRIGGER_WORD_RULE;
  if (COMMON_WORDS.has(word.toLowerCase())) return `"${word}" is an everyday word the base model already knows. ${TRIGGER_WORD_RULE}`;
  return null;
}

/**
 * The caption sent to the trainer: the prefix, then the caption, with the trigger word in front
 * where the text lacks it. Blank stays blank: the trainer then writes its own caption (and adds
 * the trigger word itself). The lookup ignores case, as the text encoders mostly do.
 */
export function trainingCaption(caption: string, triggerWord: string, prefix: string): string {
  const withPrefix = [prefix.trim(), caption.trim()].filter(Boolean).join(' ');
  if (!withPrefix) return '';
  const hasTrigger = new RegExp(`(^|[^A-Za-z0-9_])${triggerWord}([^A-Za-z0-9_]|$)`, 'i').test(withPrefix);
  return hasTrigger ? withPrefix : `${triggerWord}, ${withPrefix}`;
}
