import type { InputSchema } from '../providers/generation-provider.ts';
import { PROVIDER_FIELD_TO_PARAM, type FieldProblem } from './controls.ts';

const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);

function fitsType(value: unknown, type: string | undefined): boolean {
  if (!type) return true;
  const actual = typeOf(value);
  if (type === 'number') return actual === 'number' || actual === 'integer';
  return actual === type;
}

/**
 * Checks the exact input we are about to send against the trained version's own `openapi_schema`
 * (type, minimum, maximum, enum, required), so a mismatch between our controls and what the
 * version really accepts is refused before anything is paid for. Problems name our own fields.
 */
export function checkAgainstVersionSchema(input: Record<string, unknown>, schema: InputSchema): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const field = (key: string) => PROVIDER_FIELD_TO_PARAM[key] ?? key;
  const known = Object.keys(schema.properties).length > 0;
  for (const [key, value] of Object.entries(input)) {
    const p = schema.properties[key];
    if (!p) {
      // A schema-less version (openapi_schema null) is taken on trust rather than refused outright.
      if (known) problems.push({ path: [field(key)], message: `This model's trained version does not accept "${key}".` });
      continue;
    }
    if (!fitsType(value, p.type)) {
      problems.push({ path: [field(key)], message: `The trained version expects ${key} to be ${p.type === 'integer' ? 'a whole number' : `a ${p.type}`}.` });
      continue;
    }
    if (typeof value === 'number') {
      const below = p.minimum !== undefined && value < p.minimum;
      const above = p.maximum !== undefined && value > p.maximum;
      if (below || above) {
        const range = p.minimum !== undefined && p.maximum !== undefined ? `between ${p.minimum} and ${p.maximum}` : below ? `at least ${p.minimum}` : `at most ${p.maximum}`;
        problems.push({ path: [field(key)], message: `The trained version accepts ${key} ${range} (got ${value}).` });
      }
    }
    if (Array.isArray(p.enum) && !p.enum.includes(value)) problems.push({ path: [field(key)], message: `The trained version accepts ${key} as one of ${p.enum.join(', ')} (got ${String(value)}).` });
  }
  for (const key of schema.required) {
    if (input[key] === undefined) problems.push({ path: [field(key)], message: `The trained version requires "${key}".` });
  }
  return problems;
}
