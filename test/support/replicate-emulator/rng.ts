import { createHash } from 'node:crypto';

/** Small seeded PRNG (mulberry32) so emulator behaviour and generated logs are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Stable 64-hex id, the shape of Replicate version ids. */
export function hex64(...parts: Array<string | number>): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex');
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Replicate job ids look like `ufawqhfynnddngldkgtslldrkq` (26 lowercase alphanumerics). */
export function jobId(random: () => number): string {
  let id = '';
  for (let i = 0; i < 26; i++) id += ALPHABET[Math.floor(random() * ALPHABET.length)];
  return id;
}

export function seedFromString(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32LE(0);
}
