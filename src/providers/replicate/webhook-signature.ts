import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Replicate signs webhooks with the Standard Webhooks scheme. We verify it ourselves because the
 * npm client's `validateWebhook` has no timestamp check and no constant-time comparison.
 */

export type WebhookHeaders =
  | Headers
  | Record<string, string | string[] | undefined>;

export type WebhookVerifyFailureReason =
  | 'missing_headers'
  | 'malformed_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_in_future'
  | 'malformed_secret'
  | 'no_valid_signature';

export type WebhookVerifyResult =
  | { ok: true; webhookId: string; timestamp: number }
  | { ok: false; reason: WebhookVerifyFailureReason };

export interface VerifyWebhookOptions {
  /** `whsec_…` as returned by `GET /v1/webhooks/default/secret`. */
  secret: string;
  headers: WebhookHeaders;
  /** The raw request body exactly as received: re-serialized JSON would not match. */
  rawBody: string | Buffer | Uint8Array;
  /** Allowed clock skew in either direction, in seconds. Default 300 (5 minutes). */
  toleranceSeconds?: number;
  /** Current time in ms; injectable for tests. */
  now?: () => number;
}

export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

function headerValue(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') {
    return (headers as Headers).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  if (key === undefined) return undefined;
  const value = record[key];
  return Array.isArray(value) ? value.join(' ') : value;
}

/** Decodes the HMAC key from `whsec_<base64>`; returns null when it is not usable. */
export function decodeWebhookSecret(secret: string): Buffer | null {
  const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  if (encoded.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return null;
  const key = Buffer.from(encoded, 'base64');
  return key.length === 0 ? null : key;
}

function computeSignature(key: Buffer, id: string, timestamp: string, rawBody: string | Buffer | Uint8Array): Buffer {
  const hmac = createHmac('sha256', key);
  hmac.update(`${id}.${timestamp}.`);
  hmac.update(typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody);
  return hmac.digest();
}

export function verifyWebhook(options: VerifyWebhookOptions): WebhookVerifyResult {
  const id = headerValue(options.headers, 'webhook-id');
  const timestampText = headerValue(options.headers, 'webhook-timestamp');
  const signatureHeader = headerValue(options.headers, 'webhook-signature');
  if (!id || !timestampText || !signatureHeader) return { ok: false, reason: 'missing_headers' };

  if (!/^\d{1,12}$/.test(timestampText.trim())) return { ok: false, reason: 'malformed_timestamp' };
  const timestamp = Number(timestampText.trim());
  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  const nowSeconds = Math.floor((options.now ?? Date.now)() / 1000);
  if (timestamp < nowSeconds - tolerance) return { ok: false, reason: 'timestamp_too_old' };
  if (timestamp > nowSeconds + tolerance) return { ok: false, reason: 'timestamp_in_future' };

  const key = decodeWebhookSecret(options.secret);
  if (key === null) return { ok: false, reason: 'malformed_secret' };
  const expected = computeSignature(key, id, timestampText.trim(), options.rawBody);

  // Several signatures may be listed (key rotation); any v1 match is enough. Every candidate is
  // compared so the time taken does not reveal which one matched.
  let matched = false;
  for (const part of signatureHeader.split(' ')) {
    const comma = part.indexOf(',');
    if (comma < 0 || part.slice(0, comma) !== 'v1') continue;
    const candidate = Buffer.from(part.slice(comma + 1), 'base64');
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
  }
  return matched ? { ok: true, webhookId: id, timestamp } : { ok: false, reason: 'no_valid_signature' };
}

// A type alias (not an interface) so it can be passed where a header record is expected.
export type SignedWebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** Produces the headers Replicate would send; used by the emulator and by tests. */
export function signWebhook(options: {
  secret: string;
  webhookId: string;
  timestampSeconds: number;
  rawBody: string | Buffer;
}): SignedWebhookHeaders {
  const key = decodeWebhookSecret(options.secret);
  if (key === null) throw new Error('Webhook secret is malformed.');
  const timestamp = String(options.timestampSeconds);
  const signature = computeSignature(key, options.webhookId, timestamp, options.rawBody).toString('base64');
  return { 'webhook-id': options.webhookId, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
