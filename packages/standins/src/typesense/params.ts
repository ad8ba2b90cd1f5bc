/**
 * Search parameter access. Parameters arrive as strings (query string, or multi_search body
 * values stringified the way Typesense's `add_item_to_params` does); these helpers read them with
 * Typesense's defaults and its error messages for malformed values.
 */
import { badRequest } from './errors.js';

export type Params = Record<string, string>;

export function uintParam(params: Params, name: string, fallback: number): number {
  const raw = params[name];
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.trim()))
    throw badRequest(`Parameter \`${name}\` must be an unsigned integer.`);
  return Number.parseInt(raw, 10);
}

export function listParam(params: Params, name: string): string[] {
  const raw = params[name];
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function boolParam(params: Params, name: string, fallback: boolean): boolean {
  const raw = params[name];
  if (raw === undefined) return fallback;
  return raw.trim() === 'true';
}

/** Per-field boolean list (`prefix=true,false`): one value applies to every field. */
export function boolListParam(
  params: Params,
  name: string,
  count: number,
  fallback: boolean,
): boolean[] {
  const values = listParam(params, name).map((v) => v === 'true');
  if (values.length === 0) return Array.from({ length: count }, () => fallback);
  if (values.length === 1) return Array.from({ length: count }, () => values[0] as boolean);
  if (values.length !== count) {
    throw badRequest(
      `Number of ${name} values in \`${name}\` does not match number of \`query_by\` fields.`,
    );
  }
  return values;
}

/** Per-field unsigned list (`num_typos=2,1`): one value applies to every field. */
export function uintListParam(
  params: Params,
  name: string,
  count: number,
  fallback: number,
): number[] {
  const values = listParam(params, name).map((v) => {
    if (!/^\d+$/.test(v)) throw badRequest(`Parameter \`${name}\` is malformed.`);
    return Number.parseInt(v, 10);
  });
  if (values.length === 0) return Array.from({ length: count }, () => fallback);
  if (values.length === 1) return Array.from({ length: count }, () => values[0] as number);
  return Array.from({ length: count }, (_, i) => values[i] ?? fallback);
}

/** Converts one multi_search body value to its string form; undefined when it is not a scalar. */
export function stringifyParam(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' && Number.isFinite(value)) {
    return Number.isInteger(value) ? String(value) : value.toFixed(6);
  }
  return undefined;
}
