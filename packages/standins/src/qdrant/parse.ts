/**
 * Small request-body readers that fail the way Qdrant's serde/validator layer does: wrong JSON
 * types are 400 format errors, out-of-range numbers are 422 validation errors.
 */
import { formatError, validationError } from './errors.js';
import { isObject } from './payload.js';

export function bodyObject(body: unknown, what: string): Record<string, unknown> {
  if (isObject(body)) return body;
  throw formatError(`invalid type: ${describe(body)}, expected struct ${what} at line 1 column 1`);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'sequence';
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  if (typeof v === 'number')
    return Number.isInteger(v) ? `integer \`${v}\`` : `floating point \`${v}\``;
  if (typeof v === 'boolean') return `boolean \`${v}\``;
  return 'map';
}

/** Optional unsigned integer with a minimum (validator's `range(min = …)`). */
export function optUint(v: unknown, field: string, dflt: number, min = 0): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw formatError(`invalid type: ${describe(v)}, expected usize for \`${field}\``);
  }
  if (v < min) throw validationError(field, `value ${v} invalid, must be ${min} or larger`);
  return v;
}

export function optNumber(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number')
    throw formatError(`invalid type: ${describe(v)}, expected f32 for \`${field}\``);
  return v;
}

export function optString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string')
    throw formatError(`invalid type: ${describe(v)}, expected a string for \`${field}\``);
  return v;
}

export function required<T>(v: T | undefined | null, field: string): T {
  if (v === undefined || v === null) throw formatError(`missing field \`${field}\``);
  return v;
}
