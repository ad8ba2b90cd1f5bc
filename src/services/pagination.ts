/** Relay connection plumbing shared by the services: page sizes, edges and page info. */
import { badInput, isUuid } from '../errors.js';

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
  /** The number of items of the whole list, when it was asked for. */
  totalCount?: number | null;
}

export interface PageArgs {
  first?: number | null | undefined;
  after?: string | null | undefined;
  last?: number | null | undefined;
  before?: string | null | undefined;
}

/** Opaque keyset cursors: base64url of the sort key and the id. */
export function encodeCursor(parts: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

function decodeCursor(cursor: string, arity: number, field = 'after'): string[] {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(parts) &&
      parts.length === arity &&
      parts.every((p) => typeof p === 'string' && p.length <= 500)
    ) {
      return parts as string[];
    }
  } catch {
    // fall through to the error below
  }
  throw badInput(`${field} is not a cursor this API gave out`, field);
}

function checkPageSize(
  value: number | null | undefined,
  limits: { default: number; max: number },
  field: string,
): number {
  if (value === null || value === undefined) return limits.default;
  if (!Number.isInteger(value) || value < 1 || value > limits.max) {
    throw badInput(`${field} must be between 1 and ${limits.max}`, field);
  }
  return value;
}

/** Forward-only lists: `last` and `before` are refused with a clear error. */
function forwardOnly(args: PageArgs): void {
  if (args.last != null || args.before != null) {
    throw badInput('this list pages forward only: use first and after', 'last');
  }
}

/** Builds a connection from `size + 1` fetched rows (the extra one only tells there is more). */
export function toConnection<T>(
  rows: T[],
  size: number,
  cursorOf: (row: T) => string,
  direction: 'forward' | 'backward' = 'forward',
  hadCursor = false,
): Connection<T> {
  const more = rows.length > size;
  const page = more ? (direction === 'forward' ? rows.slice(0, size) : rows.slice(1)) : rows;
  const edges = page.map((node) => ({ cursor: cursorOf(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: direction === 'forward' ? more : hadCursor,
      hasPreviousPage: direction === 'backward' ? more : hadCursor,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

function checkTimestamp(value: string | undefined, field: string): string {
  if (!value || !TIMESTAMP_RE.test(value)) {
    throw badInput(`${field} is not a cursor this API gave out`, field);
  }
  return value;
}

/**
 * A page of a list in time order that pages both ways: `first`/`after` forward from the oldest,
 * `last`/`before` back from the newest; the size and the timestamp cursor, checked.
 */
export function twoWayPage(
  args: PageArgs,
  limits: { default: number; max: number },
): { size: number; backward: boolean; cursor: string | undefined } {
  if (args.first != null && args.last != null) {
    throw badInput('pass first or last, not both', 'last');
  }
  const backward = args.last != null || (args.before != null && args.first == null);
  const size = checkPageSize(
    backward ? args.last : args.first,
    limits,
    backward ? 'last' : 'first',
  );
  const field = backward ? 'before' : 'after';
  const raw = backward ? args.before : args.after;
  const cursor = raw ? checkTimestamp(decodeCursor(raw, 1, field)[0], field) : undefined;
  return { size, backward, cursor };
}

/**
 * A forward-only page request on a (sort key, id) keyset: the page size and, after a cursor, the
 * key and id it points past. `key: 'timestamp'` checks the key is one of our timestamps.
 */
export function forwardPage(
  args: PageArgs,
  limits: { default: number; max: number },
  key: 'timestamp' | 'text',
): { size: number; after?: { key: string; id: string } } {
  forwardOnly(args);
  const size = checkPageSize(args.first, limits, 'first');
  if (!args.after) return { size };
  const [value, id] = decodeCursor(args.after, 2);
  if (value === undefined || !isUuid(id)) {
    throw badInput('after is not a cursor this API gave out', 'after');
  }
  return { size, after: { key: key === 'timestamp' ? checkTimestamp(value, 'after') : value, id } };
}
