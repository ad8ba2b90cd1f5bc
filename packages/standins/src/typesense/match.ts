/**
 * Keyword matching and ranking for `q`. Each query word is looked up in the inverted index of each
 * `query_by` field, expanded (like Typesense) to words it is a prefix of when it is the last query
 * word and `prefix` is on, and to words within `num_typos` edits when exact matching found fewer
 * than `typo_tokens_threshold` documents. A document matches when every word matches in some field.
 * When fewer than `drop_tokens_threshold` documents match, words are dropped (right to left first,
 * by default) and the search is repeated, as Typesense does.
 *
 * Relevance is BM25 (see bm25.ts), an acceptable stand-in for Typesense's own text-match score.
 * `text_match` is an integer where higher is better: the number of query words matched times 2^40,
 * plus the scaled BM25 score (so a document matching more words always ranks first, as in Typesense).
 */
import { editDistance, idf, tfWeight } from './bm25.js';
import type { Collection, FieldIndex } from './collection.js';
import { normalizeWord, terms } from './tokenizer.js';

export interface SearchField {
  name: string;
  weight: number;
  prefix: boolean;
  numTypos: number;
}

export interface MatchOptions {
  fields: SearchField[];
  dropTokensThreshold: number;
  dropTokensMode: string;
  typoTokensThreshold: number;
  minLen1Typo: number;
  minLen2Typo: number;
  /** Max expansions (prefix/typo candidates) per word; 0 = unlimited (`exhaustive_search`). */
  maxCandidates: number;
  textMatchType: string;
}

export interface FieldMatch {
  score: number;
  /** Index terms of this field that matched (for highlighting). */
  terms: Set<string>;
  typos: number;
  prefixed: boolean;
}

export interface TextMatch {
  seq: number;
  fields: Map<string, FieldMatch>;
  tokensMatched: number;
  tokensDropped: number;
  score: number;
  textMatch: number;
  bestFieldScore: number;
  bestFieldWeight: number;
  typoPrefixScore: number;
}

export interface ParsedQuery {
  include: string[];
  exclude: string[];
}

const TIER = 2 ** 40;

/** Splits `q` into words to find and `-words` to exclude, normalised like the index. */
export function parseQuery(q: string, collection: Collection): ParsedQuery {
  const options = {
    separators: collection.meta.token_separators,
    symbols: collection.meta.symbols_to_index,
  };
  const include: string[] = [];
  const exclude: string[] = [];
  for (const word of q.split(/\s+/u)) {
    if (word.length > 1 && word.startsWith('-')) {
      const term = normalizeWord(word.slice(1), new Set(options.symbols));
      if (term) exclude.push(term);
      continue;
    }
    for (const term of terms(word, options)) if (!include.includes(term)) include.push(term);
  }
  return { include, exclude };
}

interface Candidate {
  term: string;
  typos: number;
  prefixed: boolean;
}

function penalty(c: Candidate): number {
  return (c.prefixed ? 0.9 : 1) * (c.typos === 0 ? 1 : c.typos === 1 ? 0.6 : 0.4);
}

function expand(
  index: FieldIndex,
  word: string,
  prefix: boolean,
  typos: number,
  max: number,
): Candidate[] {
  const found = new Map<string, Candidate>();
  if (index.postings.has(word)) found.set(word, { term: word, typos: 0, prefixed: false });
  if (prefix) {
    for (const term of index.termsWithPrefix(word)) {
      if (!found.has(term)) found.set(term, { term, typos: 0, prefixed: true });
    }
  }
  if (typos > 0) {
    for (const term of index.terms()) {
      if (found.has(term)) continue;
      const d = editDistance(word, term, typos);
      if (d <= typos) found.set(term, { term, typos: d, prefixed: false });
    }
  }
  const ranked = [...found.values()].sort(
    (a, b) =>
      a.typos - b.typos ||
      Number(a.prefixed) - Number(b.prefixed) ||
      (index.postings.get(b.term)?.size ?? 0) - (index.postings.get(a.term)?.size ?? 0),
  );
  // an exact match sorts first, so it is always kept
  return max > 0 ? ranked.slice(0, max) : ranked;
}

type WordHits = Map<number, Map<string, FieldMatch>>;

/** Documents (among candidates) containing one query word, with per-field BM25 contributions. */
function wordHits(
  collection: Collection,
  word: string,
  isLast: boolean,
  budget: number,
  candidates: ReadonlySet<number>,
  o: MatchOptions,
): WordHits {
  const hits: WordHits = new Map();
  for (const spec of o.fields) {
    const index = collection.indexes.get(spec.name);
    if (!index) continue;
    const numDocs = index.lengths.size;
    const avgLength = numDocs > 0 ? index.totalLength / numDocs : 0;
    const byLength = word.length >= o.minLen2Typo ? 2 : word.length >= o.minLen1Typo ? 1 : 0;
    const typos = Math.min(budget, spec.numTypos, byLength);
    for (const c of expand(index, word, isLast && spec.prefix, typos, o.maxCandidates)) {
      const posting = index.postings.get(c.term);
      if (!posting) continue;
      const weight = idf(numDocs, posting.size) * penalty(c);
      for (const [seq, tf] of posting) {
        if (!candidates.has(seq)) continue;
        const score = weight * tfWeight(tf, index.lengths.get(seq) ?? 0, avgLength);
        let perField = hits.get(seq);
        if (!perField) {
          perField = new Map();
          hits.set(seq, perField);
        }
        const current = perField.get(spec.name);
        if (!current) {
          perField.set(spec.name, {
            score,
            terms: new Set([c.term]),
            typos: c.typos,
            prefixed: c.prefixed,
          });
        } else {
          current.terms.add(c.term);
          if (score > current.score)
            Object.assign(current, { score, typos: c.typos, prefixed: c.prefixed });
        }
      }
    }
  }
  return hits;
}

function combine(
  seq: number,
  perWord: WordHits[],
  numWords: number,
  dropped: number,
  o: MatchOptions,
): TextMatch {
  const fields = new Map<string, FieldMatch>();
  for (const hits of perWord) {
    for (const [name, fm] of hits.get(seq) ?? []) {
      const acc = fields.get(name);
      if (!acc) {
        fields.set(name, {
          score: fm.score,
          terms: new Set(fm.terms),
          typos: fm.typos,
          prefixed: fm.prefixed,
        });
      } else {
        acc.score += fm.score;
        for (const t of fm.terms) acc.terms.add(t);
        acc.typos += fm.typos;
        acc.prefixed ||= fm.prefixed;
      }
    }
  }
  const maxWeight = Math.max(...o.fields.map((f) => f.weight), 1);
  const scored = o.fields
    .filter((spec) => fields.has(spec.name))
    .map((spec) => {
      const fm = fields.get(spec.name) as FieldMatch;
      return { spec, fm, weighted: fm.score * (spec.weight / maxWeight) };
    });
  const best = [...scored].sort((a, b) => b.weighted - a.weighted)[0];
  let score = best?.weighted ?? 0;
  if (o.textMatchType === 'sum_score') score = scored.reduce((n, x) => n + x.weighted, 0);
  if (o.textMatchType === 'max_weight') {
    score =
      [...scored].sort((a, b) => b.spec.weight - a.spec.weight || b.weighted - a.weighted)[0]
        ?.weighted ?? 0;
  }
  const textMatch = numWords * TIER + Math.min(Math.round(score * 1e6), TIER - 1);
  return {
    seq,
    fields,
    tokensMatched: numWords,
    tokensDropped: dropped,
    score,
    textMatch,
    bestFieldScore: Math.round((best?.weighted ?? 0) * 1e6),
    bestFieldWeight: best?.spec.weight ?? 0,
    typoPrefixScore: best ? best.fm.typos + Number(best.fm.prefixed) : 0,
  };
}

/** Word subsets to try, in Typesense's drop order: all words, then fewer. */
function wordSets(count: number, mode: string): number[][] {
  const all = Array.from({ length: count }, (_, i) => i);
  const leftKept: number[][] = [];
  const rightKept: number[][] = [];
  for (let len = count - 1; len >= 1; len--) {
    leftKept.push(all.slice(0, len));
    rightKept.push(all.slice(count - len));
  }
  return mode === 'left_to_right'
    ? [all, ...rightKept, ...leftKept]
    : [all, ...leftKept, ...rightKept];
}

/** Runs the keyword search; returns matches keyed by sequence id. */
export function matchText(
  collection: Collection,
  query: ParsedQuery,
  candidates: Set<number>,
  o: MatchOptions,
): Map<number, TextMatch> {
  for (const word of query.exclude) {
    for (const spec of o.fields) {
      for (const seq of collection.indexes.get(spec.name)?.postings.get(word)?.keys() ?? []) {
        candidates.delete(seq);
      }
    }
  }
  const words = query.include;
  const results = new Map<number, TextMatch>();
  const maxTypos = Math.max(0, ...o.fields.map((f) => f.numTypos));
  const sets = wordSets(words.length, o.dropTokensMode);
  for (let s = 0; s < sets.length; s++) {
    if (s > 0 && results.size >= o.dropTokensThreshold) break;
    const set = sets[s] as number[];
    for (let budget = 0; budget <= maxTypos; budget++) {
      if (budget > 0 && results.size >= o.typoTokensThreshold) break;
      const perWord = set.map((i) =>
        wordHits(collection, words[i] as string, i === words.length - 1, budget, candidates, o),
      );
      const smallest = [...perWord].sort((a, b) => a.size - b.size)[0];
      for (const seq of smallest?.keys() ?? []) {
        if (results.has(seq) || !perWord.every((h) => h.has(seq))) continue;
        results.set(seq, combine(seq, perWord, set.length, words.length - set.length, o));
      }
    }
  }
  return results;
}
