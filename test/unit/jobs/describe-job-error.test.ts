import { describe, expect, it } from 'vitest';
import { describeJobError, MAX_ERROR_LENGTH } from '../../../src/jobs/jobs.ts';

describe('describeJobError', () => {
  it('masks a credential after "Token", whatever its case', () => {
    expect(describeJobError(new Error('Authorization: Token r8_AbCdEfGhIjKlMnOp was refused'))).toBe('Authorization: Token [redacted] was refused');
    expect(describeJobError('header was token abc123def456')).toBe('header was token [redacted]');
    expect(describeJobError('Token abcdefghijklmnopqrstuvwxyzABCD leaked')).toBe('Token [redacted] leaked');
    expect(describeJobError('Token 9f8e7d6c5b4a3f2e1d0c,')).toBe('Token [redacted],');
  });

  it('keeps harmless phrases that merely contain the word "Token"', () => {
    expect(describeJobError(new Error('Token expired; sign in again'))).toBe('Token expired; sign in again');
    expect(describeJobError('Token invalid or revoked')).toBe('Token invalid or revoked');
    expect(describeJobError('the API Token was not accepted')).toBe('the API Token was not accepted');
    expect(describeJobError('Token refresh failed: upstream timeout')).toBe('Token refresh failed: upstream timeout');
  });

  it('still masks bearer tokens, bare Replicate keys, URL passwords and key=value secrets', () => {
    expect(describeJobError('Bearer abc.def')).toBe('Bearer [redacted]');
    expect(describeJobError('used r8_0123456789abcdef here')).toBe('used [redacted] here');
    expect(describeJobError('could not reach postgres://app:hunter2@db:5432/x')).toBe('could not reach postgres://app:[redacted]@db:5432/x');
    expect(describeJobError('GET /x?api_key=s3cr3t&y=1')).toBe('GET /x?api_key=[redacted]&y=1');
  });

  it('records the message only, on one line, truncated', () => {
    const error = new Error('first line\n  second line');
    expect(describeJobError(error)).toBe('first line second line');
    expect(describeJobError({ not: 'an error' })).toBe('Job failed with a non-Error value.');
    expect(describeJobError(new Error('x'.repeat(5_000))).length).toBe(MAX_ERROR_LENGTH);
  });
});
