import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from '../../../src/providers/replicate/webhook-signature.ts';

// The Standard Webhooks test vector quoted in docs/replicate-contract.md.
const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const timestamp = 1614265330;
const body = '{"test": 2432232314}';
const expected = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
const at = (seconds: number) => () => seconds * 1000;

const headers = (signature: string, ts: string | number = timestamp, webhookId = id) => ({
  'webhook-id': webhookId,
  'webhook-timestamp': String(ts),
  'webhook-signature': signature,
});

describe('webhook signatures (Standard Webhooks)', () => {
  it('signs the test vector exactly', () => {
    expect(signWebhook({ secret, webhookId: id, timestampSeconds: timestamp, rawBody: body })['webhook-signature']).toBe(expected);
  });

  it('accepts the test vector, from a Headers object or a plain record, string or bytes', () => {
    expect(verifyWebhook({ secret, headers: headers(expected), rawBody: body, now: at(timestamp) })).toEqual({ ok: true, webhookId: id, timestamp });
    const h = new Headers(headers(expected));
    expect(verifyWebhook({ secret, headers: h, rawBody: Buffer.from(body), now: at(timestamp + 10) }).ok).toBe(true);
    const upper = { 'Webhook-Id': id, 'Webhook-Timestamp': String(timestamp), 'Webhook-Signature': expected };
    expect(verifyWebhook({ secret, headers: upper, rawBody: body, now: at(timestamp) }).ok).toBe(true);
  });

  it('rejects a forged signature and a signature made with another secret', () => {
    const forged = 'v1,' + Buffer.alloc(32, 1).toString('base64');
    expect(verifyWebhook({ secret, headers: headers(forged), rawBody: body, now: at(timestamp) })).toEqual({ ok: false, reason: 'no_valid_signature' });
    const other = signWebhook({ secret: 'whsec_' + Buffer.alloc(24, 7).toString('base64'), webhookId: id, timestampSeconds: timestamp, rawBody: body });
    expect(verifyWebhook({ secret, headers: other, rawBody: body, now: at(timestamp) }).ok).toBe(false);
  });

  it('rejects a tampered body, id or timestamp', () => {
    expect(verifyWebhook({ secret, headers: headers(expected), rawBody: '{"test": 2432232315}', now: at(timestamp) }).ok).toBe(false);
    // Re-serialized JSON is not the raw body.
    expect(verifyWebhook({ secret, headers: headers(expected), rawBody: JSON.stringify(JSON.parse(body)), now: at(timestamp) }).ok).toBe(false);
    expect(verifyWebhook({ secret, headers: headers(expected, timestamp, 'msg_other'), rawBody: body, now: at(timestamp) }).ok).toBe(false);
    expect(verifyWebhook({ secret, headers: headers(expected, timestamp + 1), rawBody: body, now: at(timestamp) }).ok).toBe(false);
  });

  it('rejects stale and future timestamps beyond the tolerance, both ways, and the tolerance is configurable', () => {
    expect(verifyWebhook({ secret, headers: headers(expected), rawBody: body, now: at(timestamp + 301) })).toEqual({ ok: false, reason: 'timestamp_too_old' });
    expect(verifyWebhook({ secret, headers: headers(expected), rawBody: body, now: at(timestamp - 301) })).toEqual({ ok: false, reason: 'timestamp_in_future' });
    expect(verifyWebhook({ secret, headers: headers(expected), rawBody: body, now: at(timestamp + 300) }).ok).toBe(true);
    expect(verifyWebhook({ secret, headers: headers(expected), rawBody: body, now: at(timestamp + 61), toleranceSeconds: 60 }).ok).toBe(false);
    expect(verifyWebhook({ secret, headers: headers(expected), rawBody: body, now: at(timestamp + 3600), toleranceSeconds: 7200 }).ok).toBe(true);
  });

  it('accepts when any of several listed signatures matches (key rotation), ignoring unknown versions', () => {
    const list = `v1,${Buffer.alloc(32, 9).toString('base64')} v2,whatever ${expected}`;
    expect(verifyWebhook({ secret, headers: headers(list), rawBody: body, now: at(timestamp) }).ok).toBe(true);
    expect(verifyWebhook({ secret, headers: headers(`v2,${expected.slice(3)}`), rawBody: body, now: at(timestamp) }).ok).toBe(false);
  });

  it('rejects missing and malformed headers and secrets without throwing', () => {
    const now = at(timestamp);
    expect(verifyWebhook({ secret, headers: {}, rawBody: body, now })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verifyWebhook({ secret, headers: { 'webhook-id': id, 'webhook-timestamp': String(timestamp) }, rawBody: body, now })).toEqual({ ok: false, reason: 'missing_headers' });
    expect(verifyWebhook({ secret, headers: headers(expected, 'yesterday'), rawBody: body, now })).toEqual({ ok: false, reason: 'malformed_timestamp' });
    expect(verifyWebhook({ secret, headers: headers(expected, '1614265330.5'), rawBody: body, now }).ok).toBe(false);
    for (const garbage of ['v1', 'v1,', 'g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=', 'v1,not base64!!', ',,,', ' ']) {
      expect(verifyWebhook({ secret, headers: headers(garbage), rawBody: body, now })).toEqual({ ok: false, reason: 'no_valid_signature' });
    }
    expect(verifyWebhook({ secret: 'whsec_', headers: headers(expected), rawBody: body, now })).toEqual({ ok: false, reason: 'malformed_secret' });
    expect(verifyWebhook({ secret: 'whsec_***', headers: headers(expected), rawBody: body, now })).toEqual({ ok: false, reason: 'malformed_secret' });
  });
});
