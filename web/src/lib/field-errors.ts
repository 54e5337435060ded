import { isApiError } from '../api/client.ts';

export type FieldErrors<F extends string> = Partial<Record<F, string>>;

export interface FormErrors<F extends string> {
  fields: FieldErrors<F>;
  /** A message that belongs to no single field (wrong password, rate limit, network…). */
  form?: string;
}

/**
 * Splits an API error into messages next to the fields the server named (`details[].path[0]`)
 * and one form-level message for everything else.
 */
export function toFormErrors<F extends string>(error: unknown, fields: readonly F[]): FormErrors<F> {
  if (!isApiError(error)) return { fields: {}, form: 'Something went wrong. Try again.' };
  const out: FieldErrors<F> = {};
  let unplaced = false;
  for (const issue of error.fieldIssues) {
    const key = String(issue.path[0] ?? '') as F;
    if (fields.includes(key)) {
      out[key] ??= issue.message;
    } else {
      unplaced = true;
    }
  }
  const placedAny = Object.keys(out).length > 0;
  return { fields: out, ...(placedAny && !unplaced ? {} : { form: error.message }) };
}

export const hasErrors = <F extends string>(e: FieldErrors<F>): boolean => Object.values(e).some(Boolean);
