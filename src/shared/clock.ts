/** Timestamps are stored as ISO-8601 UTC strings so both dialects sort and compare them the same way. */
export const nowIso = (): string => new Date().toISOString();
