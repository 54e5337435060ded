import { appendFileSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every secret value the suite uses or mints (passwords, API tokens, session ids, webhook signing
 * secrets, the Replicate token), so the end of the run can prove none of them reached a log.
 *
 * Test workers run in separate processes: entries are appended as JSON lines to the file named by
 * THEWAY_TEST_SECRETS_FILE (set by global-setup.ts), which the global teardown reads. Outside a
 * vitest run (no such variable) they are only kept in memory.
 */

export const SECRETS_FILE_ENV = 'THEWAY_TEST_SECRETS_FILE';
export const LOG_DIR_ENV = 'THEWAY_TEST_LOG_DIR';
/** Where test apps record every API answer and job they held, for the same end-of-run scan. */
export const ANSWERS_DIR_ENV = 'THEWAY_TEST_ANSWERS_DIR';

/**
 * Kinds an answer carries by design: the CSRF token the browser must echo, and a share link's token
 * in its owner's gallery (the link is the capability). Every other registered secret, and every
 * credential shape, is a finding in an answer or a job.
 */
const EXPECTED_IN_ANSWERS = new Set(['CSRF token', 'share link token']);
/** Enough of a body to hold any echoed field; file downloads are not recorded. */
const MAX_RECORDED_CHARS = 64 * 1024;

/**
 * Records an API answer (or a job's payload and last error) to be scanned after the run. The
 * response that mints a credential (`secret`: a new API token or webhook signing secret) is the one
 * place it may appear, so that field is left out.
 */
export function recordAnswer(where: string, text: string): void {
  const dir = process.env[ANSWERS_DIR_ENV];
  if (!dir) return;
  let recorded = text;
  try {
    const body: unknown = JSON.parse(text);
    if (body && typeof body === 'object' && !Array.isArray(body) && 'secret' in body) recorded = JSON.stringify({ ...body, secret: '[minted]' });
  } catch {
    // Not JSON: recorded as it is.
  }
  appendFileSync(join(dir, `answers-${process.pid}.jsonl`), `${JSON.stringify({ where, text: recorded.slice(0, MAX_RECORDED_CHARS) })}\n`);
}

/** Scans every answer recorded in the run (see recordAnswer). */
export function scanAnswers(dir: string, secrets: RegisteredSecret[] = registeredSecrets()): { answers: number; findings: SecretFinding[] } {
  const scanner = new SecretScanner(secrets.filter((s) => !EXPECTED_IN_ANSWERS.has(s.kind)));
  const findings: SecretFinding[] = [];
  let answers = 0;
  for (const { text: file } of filesIn(dir)) {
    for (const line of file.split('\n')) {
      if (!line) continue;
      const { where, text } = JSON.parse(line) as { where: string; text: string };
      answers++;
      findings.push(...scanner.scan(text, where));
    }
  }
  return { answers, findings };
}

export interface RegisteredSecret {
  /** What it is ("api token", "session id", …), for the failure message. */
  kind: string;
  value: string;
}

/** Shorter values would match by accident (and no secret of ours is that short). */
const MIN_LENGTH = 8;
const seen = new Set<string>();
const local: RegisteredSecret[] = [];

export function registerSecret(kind: string, value: string | null | undefined): void {
  // Placeholders such as "xxxxxxxx" (a deliberately wrong token) are not secrets and would match padding.
  if (typeof value !== 'string' || value.length < MIN_LENGTH || new Set(value).size < 5 || seen.has(value)) return;
  seen.add(value);
  local.push({ kind, value });
  const file = process.env[SECRETS_FILE_ENV];
  // One short line per append: O_APPEND keeps lines from different workers whole.
  if (file) appendFileSync(file, `${JSON.stringify({ kind, value })}\n`);
}

/** Every secret registered in this run (all workers), or in this process when there is no run file. */
export function registeredSecrets(): RegisteredSecret[] {
  const file = process.env[SECRETS_FILE_ENV];
  if (!file) return [...local];
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [...local];
  }
  const byValue = new Map<string, RegisteredSecret>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const entry = JSON.parse(line) as RegisteredSecret;
      if (typeof entry.value === 'string' && entry.value.length >= MIN_LENGTH) byValue.set(entry.value, entry);
    } catch {
      // A torn line can only come from a crashed worker; its secret is simply not checked.
    }
  }
  for (const entry of local) byValue.set(entry.value, entry);
  return [...byValue.values()];
}

/** Credential shapes that must never appear in a log, whether or not the suite registered them. */
export const SECRET_PATTERNS: Array<{ kind: string; pattern: RegExp }> = [
  { kind: 'Replicate API token', pattern: /\br8_[A-Za-z0-9]{10,}/g },
  { kind: 'bearer credential', pattern: /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/g },
  { kind: 'API token of ours', pattern: /\btw_[A-Za-z0-9_-]{20,}/g },
  { kind: 'webhook signing secret', pattern: /\bwhsec_[A-Za-z0-9+/=]{16,}/g },
  // A session id is 32 random bytes in base64url (src/accounts: newSecret(32)), exactly 43 characters,
  // with no prefix of its own: as a bare string it looks like a share-link token or a base64url
  // digest, so only its two carriers are a shape — the cookie (src/http/auth.ts SESSION_COOKIE) and
  // the session grant's field. A bare session id is found because every one the suite sees is registered.
  { kind: 'session cookie', pattern: /\btheway_session=[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g },
  { kind: 'session id field', pattern: /"sessionToken"\s*:\s*"[A-Za-z0-9_-]{43}"/g },
];

export interface SecretFinding {
  /** Where: a file (and line), or a label such as "GET /api/models response body". */
  where: string;
  kind: string;
  /** The secret's first characters only: the report must not repeat it. */
  preview: string;
}

const preview = (value: string) => `${value.slice(0, 6)}…(${value.length} chars)`;

/**
 * Word-like secrets at least this long are random strings (tokens, session ids, keys): they are also
 * found inside a longer run of url-safe characters (glued into a URL path, a file name or another
 * token without a separator). Shorter ones, such as a password without spaces, are matched as whole
 * words only, so that they cannot hit by accident inside an unrelated word.
 */
export const SUBSTRING_MIN_LENGTH = 20;
/** Polynomial rolling hash over SUBSTRING_MIN_LENGTH characters (int32 arithmetic). */
const HASH_BASE = 257;
const HASH_TOP = (() => {
  let p = 1;
  for (let i = 1; i < SUBSTRING_MIN_LENGTH; i++) p = Math.imul(p, HASH_BASE);
  return p;
})();
const windowHash = (text: string, from: number): number => {
  let h = 0;
  for (let i = from; i < from + SUBSTRING_MIN_LENGTH; i++) h = (Math.imul(h, HASH_BASE) + text.charCodeAt(i)) | 0;
  return h;
};

/**
 * Registered secrets made of url-safe characters are found by looking up every such run of
 * characters in a set (linear in the text, however many secrets), and the long ones also anywhere
 * inside a longer run, by a rolling hash of their first SUBSTRING_MIN_LENGTH characters (linear
 * too); the others (passwords with spaces, base64 with "+/=") by substring search.
 */
export class SecretScanner {
  readonly #wordLike = new Map<string, RegisteredSecret>();
  /** Long word-like secrets by the hash of their first SUBSTRING_MIN_LENGTH characters. */
  readonly #byPrefixHash = new Map<number, RegisteredSecret[]>();
  readonly #other: RegisteredSecret[] = [];
  readonly #patterns: typeof SECRET_PATTERNS;

  constructor(secrets: RegisteredSecret[], patterns = SECRET_PATTERNS) {
    for (const s of secrets) {
      if (/^[A-Za-z0-9_-]+$/.test(s.value)) {
        this.#wordLike.set(s.value, s);
        if (s.value.length >= SUBSTRING_MIN_LENGTH) {
          const h = windowHash(s.value, 0);
          const bucket = this.#byPrefixHash.get(h);
          if (bucket) bucket.push(s);
          else this.#byPrefixHash.set(h, [s]);
        }
      } else this.#other.push(s);
    }
    this.#patterns = patterns;
  }

  scan(text: string, where: string): SecretFinding[] {
    const findings: SecretFinding[] = [];
    const lines = text.includes('\n') ? text.split('\n') : [text];
    lines.forEach((line, i) => {
      const at = lines.length > 1 ? `${where}:${i + 1}` : where;
      if (this.#wordLike.size > 0) {
        for (const [run] of line.matchAll(/[A-Za-z0-9_-]{8,}/g)) {
          const hit = this.#wordLike.get(run);
          if (hit) findings.push({ where: at, kind: hit.kind, preview: preview(hit.value) });
          if (run.length > SUBSTRING_MIN_LENGTH && this.#byPrefixHash.size > 0) {
            for (const embedded of this.#embedded(run)) if (embedded !== hit) findings.push({ where: at, kind: embedded.kind, preview: preview(embedded.value) });
          }
        }
      }
      for (const s of this.#other) if (line.includes(s.value)) findings.push({ where: at, kind: s.kind, preview: preview(s.value) });
      for (const { kind, pattern } of this.#patterns) {
        for (const [match] of line.matchAll(pattern)) findings.push({ where: at, kind, preview: preview(match) });
      }
    });
    return findings;
  }

  /** The long secrets that occur anywhere in `run` (each once). */
  #embedded(run: string): Set<RegisteredSecret> {
    const found = new Set<RegisteredSecret>();
    let h = windowHash(run, 0);
    for (let at = 0; ; at++) {
      const bucket = this.#byPrefixHash.get(h);
      if (bucket) for (const s of bucket) if (run.startsWith(s.value, at)) found.add(s);
      const next = at + SUBSTRING_MIN_LENGTH;
      if (next >= run.length) return found;
      h = (Math.imul((h - Math.imul(run.charCodeAt(at), HASH_TOP)) | 0, HASH_BASE) + run.charCodeAt(next)) | 0;
    }
  }
}

/** Scans every file under `dir` (the run's log directory). */
export function scanLogDirectory(dir: string, secrets: RegisteredSecret[] = registeredSecrets()): { files: number; bytes: number; findings: SecretFinding[] } {
  const scanner = new SecretScanner(secrets);
  const findings: SecretFinding[] = [];
  let files = 0;
  let bytes = 0;
  for (const { path, text } of filesIn(dir)) {
    files++;
    bytes += text.length;
    findings.push(...scanner.scan(text, path));
  }
  return { files, bytes, findings };
}

export function describeFindings(findings: SecretFinding[], limit = 40): string {
  const shown = findings.slice(0, limit).map((f) => `  ${f.where}: ${f.kind} ${f.preview}`);
  if (findings.length > limit) shown.push(`  … and ${findings.length - limit} more`);
  return shown.join('\n');
}

/** The files directly in `dir` (none when it does not exist), in name order. */
function* filesIn(dir: string): Generator<{ path: string; text: string }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names.sort()) {
    const path = join(dir, name);
    if (statSync(path).isFile()) yield { path, text: readFileSync(path, 'utf8') };
  }
}
