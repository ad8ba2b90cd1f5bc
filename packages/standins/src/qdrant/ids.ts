/**
 * Point ids: unsigned integers or UUIDs, nothing else (Qdrant's `ExtendedPointId`). UUIDs are
 * accepted in the forms the Rust `uuid` crate parses and kept lowercase-hyphenated; ordering is
 * Qdrant's: every integer id before every UUID, integers numerically, UUIDs by bytes.
 */
import { formatError } from './errors.js';

export type PointId = number | string;

const HEX32 = /^[0-9a-fA-F]{32}$/;
const HYPHENATED = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function canonicalUuid(text: string): string | undefined {
  let s = text;
  if (s.toLowerCase().startsWith('urn:uuid:')) s = s.slice(9);
  else if (s.startsWith('{') && s.endsWith('}')) s = s.slice(1, -1);
  if (HYPHENATED.test(s)) return s.toLowerCase();
  if (HEX32.test(s)) {
    const h = s.toLowerCase();
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  return undefined;
}

/** Parses a JSON value as a point id, failing with Qdrant's own wording. */
export function parsePointId(value: unknown): PointId {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
    if (!Number.isSafeInteger(value)) {
      throw formatError(
        `value ${value} is not a valid point ID for this stand-in: integer ids above 2^53-1 cannot be represented exactly`,
      );
    }
    return value;
  }
  if (typeof value === 'string') {
    const uuid = canonicalUuid(value);
    if (uuid) return uuid;
  }
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  throw formatError(
    `value ${shown} is not a valid point ID, valid values are either an unsigned integer or a UUID`,
  );
}

export function parsePointIds(value: unknown, field: string): PointId[] {
  if (!Array.isArray(value)) {
    throw formatError(`invalid type: expected a sequence of point ids for \`${field}\``);
  }
  return value.map(parsePointId);
}

/** Total order of ids as Qdrant scrolls them. */
export function compareIds(a: PointId, b: PointId): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
