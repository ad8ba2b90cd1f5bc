/**
 * Highlighting of search hits in Typesense's two formats: the deprecated `highlights` array
 * (`{field, snippet, matched_tokens}` or, for string[] fields, `{field, snippets, indices,
 * matched_tokens}`) and the `highlight` object keyed by field. Matched words are wrapped in the
 * start/end tags (default `<mark>`/`</mark>`); values longer than `snippet_threshold` words are cut
 * to a window of `highlight_affix_num_tokens` words around the first match.
 */
import type { Token } from './tokenizer.js';

export interface HighlightOptions {
  startTag: string;
  endTag: string;
  snippetThreshold: number;
  affixTokens: number;
  /** Also return the fully highlighted value (`highlight_full_fields`). */
  full: boolean;
}

export interface StringHighlight {
  snippet: string;
  matched_tokens: string[];
  value?: string;
}

function mark(
  text: string,
  tokens: Token[],
  from: number,
  to: number,
  hits: Set<number>,
  o: HighlightOptions,
): string {
  const first = tokens[from];
  const last = tokens[to];
  if (!first || !last) return '';
  let out = '';
  let cursor = first.start;
  for (let i = from; i <= to; i++) {
    const token = tokens[i] as Token;
    if (!hits.has(i)) continue;
    out +=
      text.slice(cursor, token.start) + o.startTag + text.slice(token.start, token.end) + o.endTag;
    cursor = token.end;
  }
  return out + text.slice(cursor, last.end);
}

/** Highlights one string value; null when none of its words matched. */
export function highlightValue(
  text: string,
  tokens: Token[],
  matchedTerms: ReadonlySet<string>,
  o: HighlightOptions,
): StringHighlight | null {
  const hits = new Set<number>();
  tokens.forEach((t, i) => {
    if (matchedTerms.has(t.text)) hits.add(i);
  });
  if (hits.size === 0) return null;
  const firstHit = hits.values().next().value as number;
  let from = 0;
  let to = tokens.length - 1;
  if (tokens.length > o.snippetThreshold) {
    from = Math.max(0, firstHit - o.affixTokens);
    to = Math.min(tokens.length - 1, firstHit + o.affixTokens);
  }
  const matched: string[] = [];
  for (let i = from; i <= to; i++) {
    const token = tokens[i] as Token;
    const word = text.slice(token.start, token.end);
    if (hits.has(i) && !matched.includes(word)) matched.push(word);
  }
  const result: StringHighlight = {
    matched_tokens: matched,
    snippet: mark(text, tokens, from, to, hits, o),
  };
  if (o.full) result.value = mark(text, tokens, 0, tokens.length - 1, hits, o);
  return result;
}

export interface FieldHighlights {
  /** Entry of the deprecated `highlights` array, or null when the field did not match. */
  legacy: Record<string, unknown> | null;
  /** Value for the `highlight` object, or null when the field did not match. */
  modern: unknown;
  matchedCount: number;
}

/** Highlights a string or string[] field value, given its tokens (one list per array element). */
export function highlightField(
  field: string,
  value: unknown,
  tokens: Token[][],
  matchedTerms: ReadonlySet<string>,
  o: HighlightOptions,
): FieldHighlights {
  if (typeof value === 'string') {
    const h = highlightValue(value, tokens[0] ?? [], matchedTerms, o);
    if (!h) return { legacy: null, modern: null, matchedCount: 0 };
    return { legacy: { field, ...h }, modern: h, matchedCount: h.matched_tokens.length };
  }
  if (!Array.isArray(value)) return { legacy: null, modern: null, matchedCount: 0 };
  const indices: number[] = [];
  const snippets: string[] = [];
  const matched: string[][] = [];
  const values: string[] = [];
  const modern = value.map((element, i) => {
    const text = typeof element === 'string' ? element : String(element);
    const h = highlightValue(text, tokens[i] ?? [], matchedTerms, o);
    if (!h) return { matched_tokens: [], snippet: text };
    indices.push(i);
    snippets.push(h.snippet);
    matched.push(h.matched_tokens);
    if (h.value !== undefined) values.push(h.value);
    return h;
  });
  if (indices.length === 0) return { legacy: null, modern: null, matchedCount: 0 };
  const legacy: Record<string, unknown> = { field, indices, matched_tokens: matched, snippets };
  if (o.full) legacy.values = values;
  return { legacy, modern, matchedCount: matched.reduce((n, m) => n + m.length, 0) };
}
