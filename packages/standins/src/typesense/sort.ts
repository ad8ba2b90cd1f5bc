/**
 * `sort_by` of the Typesense stand-in: parses up to three `field:asc|desc` clauses (plus the
 * special `_text_match` and `_seq_id`), adds Typesense's implicit clauses (text match for keyword
 * queries, then the default sorting field or the newest document first) and builds the comparator.
 * Documents missing a sort value go last in either direction.
 */
import type { Collection, StoredDoc } from './collection.js';
import { ApiError, badRequest } from './errors.js';

export interface SortClause {
  name: string;
  desc: boolean;
}

/** What the comparator needs to know about a matched document. */
export interface Ranked {
  stored: StoredDoc;
  /** Typesense's 64-bit text match score. */
  textMatch: bigint;
}

function splitClauses(raw: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of raw) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out.map((c) => c.trim()).filter((c) => c !== '');
}

export function parseSortBy(
  raw: string | undefined,
  collection: Collection,
  wildcard: boolean,
): SortClause[] {
  const clauses: SortClause[] = [];
  for (const part of splitClauses(raw ?? '')) {
    const colon = part.lastIndexOf(':');
    if (colon <= 0) throw badRequest('Parameter `sort_by` is malformed.');
    let name = part.slice(0, colon).trim();
    const order = part
      .slice(colon + 1)
      .trim()
      .toUpperCase();
    if (name.startsWith('_text_match(')) name = '_text_match';
    if (name.includes('(')) {
      throw badRequest(
        `Sort expression \`${name}\` is not supported by the embedded Typesense stand-in.`,
      );
    }
    if (order !== 'ASC' && order !== 'DESC') {
      throw badRequest(`Order for field\` ${name}\` should be either ASC or DESC.`);
    }
    if (name !== '_text_match' && name !== '_seq_id') {
      const field = collection.field(name);
      if (!field?.sort) {
        throw new ApiError(
          404,
          `Could not find a field named \`${name}\` in the schema for sorting.`,
        );
      }
    }
    clauses.push({ name, desc: order === 'DESC' });
  }
  if (clauses.length > 3) throw badRequest('Only upto 3 sort fields are allowed.');
  if (clauses.length === 0) {
    if (!wildcard) clauses.push({ name: '_text_match', desc: true });
    const dsf = collection.meta.default_sorting_field;
    clauses.push(dsf ? { name: dsf, desc: true } : { name: '_seq_id', desc: true });
  } else if (!wildcard && clauses.length < 3 && !clauses.some((c) => c.name === '_text_match')) {
    clauses.push({ name: '_text_match', desc: true });
  }
  // final tie-break, as Typesense's seq_id: newest first
  clauses.push({ name: '_seq_id', desc: true });
  return clauses;
}

function sortValue(clause: SortClause, item: Ranked): bigint | number | string | undefined {
  if (clause.name === '_text_match') return item.textMatch;
  if (clause.name === '_seq_id') return item.stored.seq;
  const value = item.stored.doc[clause.name];
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return undefined;
}

export function comparator(clauses: SortClause[]): (a: Ranked, b: Ranked) => number {
  return (a, b) => {
    for (const clause of clauses) {
      const va = sortValue(clause, a);
      const vb = sortValue(clause, b);
      if (va === vb) continue;
      if (va === undefined) return 1;
      if (vb === undefined) return -1;
      const order = va < vb ? -1 : 1;
      return clause.desc ? -order : order;
    }
    return 0;
  };
}
