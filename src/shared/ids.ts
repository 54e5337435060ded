import { randomBytes, randomUUID } from 'node:crypto';

/** Resource ids are UUIDv4 strings: unguessable, so a private URL cannot be enumerated. */
export const newId = (): string => randomUUID();

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
export const isId = (value: string): boolean => UUID_RE.test(value);

/** A url-safe secret with `bytes` bytes of entropy (session ids, API tokens). */
export const newSecret = (bytes = 32): string => randomBytes(bytes).toString('base64url');
