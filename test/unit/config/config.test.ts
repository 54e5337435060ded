import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ConfigError, envSchema, loadConfig } from '../../../src/config.ts';

describe('configuration', () => {
  it('starts on embedded defaults with nothing set', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.database.url).toBeUndefined();
    expect(c.database.sqliteFile).toMatch(/data\/theway\.db$/);
    expect(c.storage.localDir).toMatch(/data\/blobs$/);
    expect(c.sessions.cookieSecure).toBe(false);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).port).toBe(3000);
  });

  it('names every invalid variable and what is wrong with it', () => {
    try {
      loadConfig({ PORT: '70000', DATABASE_URL: 'mysql://db', LOG_LEVEL: 'loud', COOKIE_SECURE: 'maybe' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'COOKIE_SECURE']) expect(message).toContain(name);
      expect(message).toContain('postgres://');
    }
  });

  it('derives Secure cookies from an https PUBLIC_URL, unless overridden', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://x.example/' }).sessions.cookieSecure).toBe(true);
    expect(loadConfig({ PUBLIC_URL: 'https://x.example/' }).publicUrl).toBe('https://x.example');
    expect(loadConfig({ PUBLIC_URL: 'https://x.example', COOKIE_SECURE: 'false' }).sessions.cookieSecure).toBe(false);
    expect(loadConfig({ PUBLIC_URL: 'http://x.example' }).sessions.cookieSecure).toBe(false);
  });

  it('reads TRUST_PROXY as no proxy, one proxy (true), a count, or the proxies\' addresses', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, loopback,::1' }).trustProxy).toEqual(['10.0.0.0/8', 'loopback', '::1']);
    expect(() => loadConfig({ TRUST_PROXY: 'everyone' })).toThrow(/TRUST_PROXY.*comma-separated list of proxy addresses/);
  });

  it('selects S3 storage from S3_BUCKET, with credentials as a pair', () => {
    expect(loadConfig({}).storage.s3).toBeNull();
    const s3 = loadConfig({ S3_BUCKET: 'theway-files', S3_ENDPOINT: 'http://127.0.0.1:9000/', S3_FORCE_PATH_STYLE: 'true', S3_PREFIX: 'prod', S3_ACCESS_KEY_ID: 'AKIA1', S3_SECRET_ACCESS_KEY: 'very-secret-key' }).storage.s3;
    expect(s3).toEqual({ bucket: 'theway-files', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', publicEndpoint: undefined, forcePathStyle: true, accessKeyId: 'AKIA1', secretAccessKey: 'very-secret-key', keyPrefix: 'prod/' });
    expect(() => loadConfig({ S3_BUCKET: 'theway-files', S3_ACCESS_KEY_ID: 'AKIA1' })).toThrow(/S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together/);
    expect(() => loadConfig({ S3_ENDPOINT: 'http://127.0.0.1:9000' })).toThrow(/S3_ENDPOINT set without S3_BUCKET/);
    expect(() => loadConfig({ S3_BUCKET: 'Bad_Bucket' })).toThrow(/S3_BUCKET="Bad_Bucket": must be an S3 bucket name/);
    expect(() => loadConfig({ S3_BUCKET: 'theway-files', S3_PREFIX: '../up' })).toThrow(/S3_PREFIX/);
  });

  it('reads SHARED_DATA_DIR (the operator says every process mounts the same DATA_DIR), off by default', () => {
    expect(loadConfig({}).storage.sharedDataDir).toBe(false);
    expect(loadConfig({ SHARED_DATA_DIR: 'true' }).storage.sharedDataDir).toBe(true);
    expect(loadConfig({ SHARED_DATA_DIR: 'false' }).storage.sharedDataDir).toBe(false);
    expect(() => loadConfig({ SHARED_DATA_DIR: 'sometimes' })).toThrow(/SHARED_DATA_DIR/);
  });

  it('selects PostgreSQL from DATABASE_URL', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h/db' }).database.url).toBe('postgres://u@h/db');
  });

  it('configures Replicate: destination required with a token, webhooks from PUBLIC_URL', () => {
    expect(loadConfig({}).replicate.token).toBeNull();
    expect(() => loadConfig({ REPLICATE_API_TOKEN: 'r8_abcdefghijklmnop' })).toThrow(/REPLICATE_DESTINATION is required/);
    const c = loadConfig({ REPLICATE_API_TOKEN: 'r8_abcdefghijklmnop', REPLICATE_DESTINATION: 'me/theway-loras', PUBLIC_URL: 'https://way.example/' });
    expect(c.replicate.webhookUrl).toBe('https://way.example/api/webhooks/replicate');
    expect(loadConfig({ PUBLIC_URL: 'https://way.example', REPLICATE_WEBHOOKS: 'false' }).replicate.webhookUrl).toBeNull();
    expect(() => loadConfig({ REPLICATE_WEBHOOKS: 'true' })).toThrow(/needs PUBLIC_URL/);
    expect(() => loadConfig({ REPLICATE_API_TOKEN: 'x', REPLICATE_DESTINATION: 'Bad Name' })).toThrow(/owner\/model-name/);
  });

  it('refuses placeholder secrets and never echoes a secret value', () => {
    for (const env of [{ REPLICATE_API_TOKEN: 'r8_your_token_here_please' }, { DATABASE_URL: 'mysql://user:hunter2hunter2@db/x' }]) {
      try {
        loadConfig(env);
        expect.unreachable();
      } catch (error) {
        const message = (error as Error).message;
        expect(message).not.toContain('your_token_here');
        expect(message).not.toContain('hunter2');
      }
    }
    expect(() => loadConfig({ REPLICATE_API_TOKEN: 'r8_your_token_here_please', REPLICATE_DESTINATION: 'a/b' })).toThrow(/placeholder/);
  });

  it('documents every variable in the README', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const undocumented = Object.keys(envSchema.shape).filter((name) => !readme.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });
});
