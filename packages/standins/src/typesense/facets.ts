/**
 * `facet_by` of the Typesense stand-in: value counts of facet fields over all matched documents,
 * the `max_facet_values` most frequent first, with numeric stats, and `facet_query` (keep values
 * whose words start with the query's words, highlighted like Typesense's facet highlights).
 */
import type { Collection } from './collection.js';
import { ApiError, badRequest } from './errors.js';
import { tokenize } from './tokenizer.js';
import { isNumericType } from './types.js';

export interface FacetQuery {
  field: string;
  words: string[];
}

export function parseFacetBy(fields: string[], collection: Collection): string[] {
  for (const name of fields) {
    const field = collection.field(name);
    if (!field?.facet) {
      throw new ApiError(404, `Could not find a facet field named \`${name}\` in the schema.`);
    }
  }
  return fields;
}

export function parseFacetQuery(raw: string | undefined, facetFields: string[]): FacetQuery | null {
  if (raw === undefined || raw.trim() === '') return null;
  const colon = raw.indexOf(':');
  if (colon < 0) throw badRequest('Facet query must be in the `facet_field: value` format.');
  if (facetFields.length === 0) {
    throw badRequest('The `facet_query` parameter is supplied without a `facet_by` parameter.');
  }
  const field = raw.slice(0, colon).trim();
  const value = raw.slice(colon + 1).trim();
  if (value === '') return null;
  if (!facetFields.includes(field)) {
    throw badRequest(
      `Facet query refers to a facet field \`${field}\` that is not part of \`facet_by\` parameter.`,
    );
  }
  return { field, words: tokenize(value).map((t) => t.text) };
}

function valueString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return String(value);
}

/** Marks the words matching the facet query; like Typesense, only the prefix of the last one. */
function facetHighlight(value: string, words: string[]): string | null {
  const tokens = tokenize(value);
  const marked = new Map<number, number>();
  words.forEach((word, w) => {
    const last = w === words.length - 1;
    const i = tokens.findIndex(
      (t, k) => !marked.has(k) && (last ? t.text.startsWith(word) : t.text === word),
    );
    if (i >= 0) marked.set(i, last ? word.length : Number.POSITIVE_INFINITY);
  });
  if (marked.size < words.length) return null;
  let out = '';
  let cursor = 0;
  tokens.forEach((t, i) => {
    const length = marked.get(i);
    if (length === undefined) return;
    const end = Math.min(t.end, t.start + length);
    out += `${value.slice(cursor, t.start)}<mark>${value.slice(t.start, end)}</mark>`;
    cursor = end;
  });
  return out + value.slice(cursor);
}

export function facetCounts(
  fields: string[],
  seqs: readonly number[],
  collection: Collection,
  maxValues: number,
  query: FacetQuery | null,
): Record<string, unknown>[] {
  return fields.map((name) => {
    const numeric = isNumericType(collection.field(name)?.type ?? 'string');
    const counts = new Map<string, number>();
    const numbers: number[] = [];
    for (const seq of seqs) {
      const raw = collection.bySeq.get(seq)?.doc[name];
      const values = raw === undefined || raw === null ? [] : Array.isArray(raw) ? raw : [raw];
      for (const v of new Set(values)) {
        counts.set(valueString(v), (counts.get(valueString(v)) ?? 0) + 1);
        if (typeof v === 'number') numbers.push(v);
      }
    }
    const entries: { value: string; highlighted: string; count: number }[] = [];
    for (const [value, count] of counts) {
      const highlighted = query?.field === name ? facetHighlight(value, query.words) : value;
      if (highlighted !== null) entries.push({ value, highlighted, count });
    }
    entries.sort((a, b) => b.count - a.count);
    const top = entries.slice(0, maxValues);
    const stats: Record<string, number> = { total_values: top.length };
    if (numeric && numbers.length > 0) {
      const sum = numbers.reduce((a, b) => a + b, 0);
      Object.assign(stats, {
        avg: sum / numbers.length,
        max: numbers.reduce((a, b) => Math.max(b, a)),
        min: numbers.reduce((a, b) => Math.min(b, a)),
        sum,
      });
    }
    return {
      counts: top.map((e) => ({ count: e.count, highlighted: e.highlighted, value: e.value })),
      field_name: name,
      sampled: false,
      stats,
    };
  });
}
