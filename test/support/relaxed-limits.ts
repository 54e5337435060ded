/**
 * Abuse limits high enough that no functional test meets them: every request of a test app comes
 * from one address, and suites create many models, uploads and trainings for one user. The limits
 * themselves are tested in test/integration/http/abuse-limits.test.ts, which sets low values.
 */
export const RELAXED_LIMITS: Record<string, string> = {
  LOGIN_IP_RATE_LIMIT_PER_15_MIN: '100000',
  LOGIN_ACCOUNT_RATE_LIMIT_PER_15_MIN: '100000',
  SIGNUP_RATE_LIMIT_PER_HOUR: '100000',
  UPLOAD_RATE_LIMIT_PER_MIN: '100000',
  UPLOAD_IP_RATE_LIMIT_PER_MIN: '100000',
  GENERATION_RATE_LIMIT_PER_MIN: '100000',
  GENERATION_IP_RATE_LIMIT_PER_MIN: '100000',
  TRAINING_RATE_LIMIT_PER_HOUR: '100000',
  TRAINING_IP_RATE_LIMIT_PER_HOUR: '100000',
  TRAINING_MAX_CONCURRENT: '100',
};
