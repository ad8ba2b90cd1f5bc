/**
 * Keyword matching and ranking for `q`, modelled on Typesense's text match.
 *
 * Matching: each query word is looked up in the inverted index of each `query_by` field, expanded
 * to words it is a prefix of when it is the last query word and the field's `prefix` is on, and to
 * words within the field's `num_typos` edits when fewer than `typo_tokens_threshold` documents
 * matched with fewer typos. A document matches when every word matches in some field. When fewer
 * than `drop_tokens_threshold` documents match, words are dropped (from the right, then from the
 * left, by default) and the search is repeated; documents found earlier keep their place. A
 * quoted phrase must also appear as consecutive words in one value of one field; `-word` and
 * `-"a phrase"` remove the documents containing them.
 *
 * Ranking (no term statistics; see the package README for the full model): each matched field
 * gets a 48-bit score, from the most to the least significant byte: the query words inside the
 * best window of 10 positions, the distinct query words in the field, 255 - typo cost, 100 -
 * distance between the words of that window, the field being exactly the query
 * (`prioritize_exact_match`), and 255 - the position of the first word
 * (`prioritize_token_position`). The document's `text_match` is a 64-bit value: the number of
 * query words matched (4 bits at 59), then the best field's score and weight (`max_score`: score
 * at 11, weight at 3; `max_weight`: weight at 51, score at 3), then the number of fields matched
 * (3 bits, when `prioritize_num_matching_fields`).
 */
import type { Collection, FieldIndex, StoredDoc } from './collection.js';
import { type Token, terms } from './tokenizer.js';

export interface SearchField {
  name: string;
  /** Typesense's normalised weight, 0..15. */
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
  prioritizeExactMatch: boolean;
  prioritizeTokenPosition: boolean;
  prioritizeNumMatchingFields: boolean;
}

export interface FieldMatch {
  score: bigint;
  /** Index terms of this field that matched (for highlighting). */
  terms: Set<string>;
}

export interface TextMatch {
  seq: number;
  fields: Map<string, FieldMatch>;
  tokensDropped: number;
  textMatch: bigint;
}

export interface ParsedQuery {
  /** Words to find, phrase words included, each once. */
  include: string[];
  /** Quoted phrases: each must appear as consecutive words. */
  phrases: string[][];
  /** `-word` (one word) and `-"a phrase"`: documents containing them are left out. */
  exclude: string[][];
}

/** Size of the window within which query words count as close together. */
export const WINDOW_SIZE = 10;
const MAX_DISTANCE = 100;
const MAX_TOKENS_MATCHED = 15;
const MAX_FIELDS_MATCHED = 7;
const SCORE_MASK = (1n << 48n) - 1n;

/**
 * Splits `q` as Typesense's query parser does: `"..."` is a phrase (its words are searched too),
 * `-word` and `-"..."` are exclusions (unless `-` is in `symbols_to_index`), an unclosed quote's
 * words are plain words. Words are normalised like the index.
 */
export function parseQuery(q: string, collection: Collection): ParsedQuery {
  const options = {
    separators: collection.meta.token_separators,
    symbols: collection.meta.symbols_to_index,
  };
  const minusIndexed = options.symbols.includes('-');
  const include: string[] = [];
  const phrases: string[][] = [];
  const exclude: string[][] = [];
  const addInclude = (words: string[]) => {
    for (const w of words) if (!include.includes(w)) include.push(w);
  };
  let phrase: string[] | null = null;
  let phraseExcluded = false;
  for (const raw of q.split(/\s+/u)) {
    if (raw === '') continue;
    let word = raw;
    let excluded = false;
    if (phrase === null && !minusIndexed && word.startsWith('-') && word.length > 1) {
      excluded = true;
      word = word.slice(1);
    }
    if (phrase === null && word.startsWith('"')) {
      phrase = [];
      phraseExcluded = excluded;
      word = word.slice(1);
    }
    let closes = false;
    if (phrase !== null && word.endsWith('"') && (word.length > 1 || raw !== '"')) {
      closes = true;
      word = word.slice(0, -1);
    }
    const found = terms(word, options);
    if (phrase !== null) phrase.push(...found);
    else if (excluded) {
      if (found.length > 0) exclude.push(found);
    } else addInclude(found);
    if (closes && phrase !== null) {
      if (phrase.length > 0) {
        if (phraseExcluded) exclude.push(phrase);
        else {
          addInclude(phrase);
          phrases.push(phrase);
        }
      }
      phrase = null;
    }
  }
  if (phrase !== null && phrase.length > 0) {
    if (phraseExcluded) exclude.push(phrase);
    else addInclude(phrase);
  }
  return { include, phrases, exclude };
}

/** Bounded Levenshtein distance: returns max + 1 as soon as the distance must exceed max. */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const value = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > max) return max + 1;
    previous = current;
  }
  return previous[b.length] as number;
}

interface Candidate {
  term: string;
  typos: number;
}

function expand(
  index: FieldIndex,
  word: string,
  prefix: boolean,
  typos: number,
  max: number,
): Candidate[] {
  const found = new Map<string, Candidate>();
  if (index.postings.has(word)) found.set(word, { term: word, typos: 0 });
  if (prefix) {
    for (const term of index.termsWithPrefix(word)) {
      if (!found.has(term)) found.set(term, { term, typos: 0 });
    }
  }
  if (typos > 0) {
    for (const term of index.terms()) {
      if (found.has(term)) continue;
      const d = editDistance(word, term, typos);
      if (d <= typos) found.set(term, { term, typos: d });
    }
  }
  const ranked = [...found.values()].sort(
    (a, b) =>
      a.typos - b.typos ||
      Number(b.term === word) - Number(a.term === word) ||
      (index.postings.get(b.term)?.size ?? 0) - (index.postings.get(a.term)?.size ?? 0),
  );
  // an exact match sorts first, so it is always kept
  return max > 0 ? ranked.slice(0, max) : ranked;
}

/** One query word's candidates per field, and for each document the fewest typos it matched with. */
interface WordHits {
  byField: Map<string, Candidate[]>;
  docs: Map<number, number>;
}

function wordHits(
  collection: Collection,
  word: string,
  isLast: boolean,
  budget: number,
  candidates: ReadonlySet<number>,
  o: MatchOptions,
): WordHits {
  const hits: WordHits = { byField: new Map(), docs: new Map() };
  const byLength = word.length >= o.minLen2Typo ? 2 : word.length >= o.minLen1Typo ? 1 : 0;
  for (const spec of o.fields) {
    const index = collection.indexes.get(spec.name);
    if (!index) continue;
    const typos = Math.min(budget, spec.numTypos, byLength);
    const found = expand(index, word, isLast && spec.prefix, typos, o.maxCandidates);
    hits.byField.set(spec.name, found);
    for (const c of found) {
      for (const seq of index.postings.get(c.term)?.keys() ?? []) {
        if (!candidates.has(seq)) continue;
        const current = hits.docs.get(seq);
        if (current === undefined || c.typos < current) hits.docs.set(seq, c.typos);
      }
    }
  }
  return hits;
}

interface ValueScore {
  score: bigint;
}

/**
 * Score of one string value (a field, or one element of an array field) for the words whose
 * matching terms are `wordTerms` (in query order); null when none occurs in it.
 */
function valueScore(
  tokens: Token[],
  wordTerms: ReadonlySet<string>[],
  cost: number,
  array: boolean,
  uniqueInField: number,
  verbatimAllowed: boolean,
  o: MatchOptions,
): ValueScore | null {
  const positions: number[][] = wordTerms.map(() => []);
  tokens.forEach((token, p) => {
    wordTerms.forEach((set, w) => {
      if (set.has(token.text)) (positions[w] as number[]).push(p);
    });
  });
  const present = positions.filter((list) => list.length > 0);
  if (present.length === 0) return null;
  let bestCount = 0;
  let bestDistance = MAX_DISTANCE;
  let bestStart = 0;
  const starts = [...new Set(present.flat())].sort((a, b) => a - b);
  for (const start of starts) {
    let count = 0;
    let distance = 0;
    let previous = -1;
    for (const list of present) {
      const p = list.find((x) => x >= start && x - start < WINDOW_SIZE);
      if (p === undefined) continue;
      count++;
      if (previous >= 0) distance += Math.abs(p - previous);
      previous = p;
    }
    if (count > bestCount || (count === bestCount && distance < bestDistance)) {
      bestCount = count;
      bestDistance = Math.min(distance, MAX_DISTANCE);
      bestStart = start;
    }
  }
  const unique = array ? bestCount : uniqueInField;
  const verbatim =
    o.prioritizeExactMatch &&
    verbatimAllowed &&
    (wordTerms.length > 1 || cost === 0) &&
    tokens.length === wordTerms.length &&
    tokens.every((t, i) => (wordTerms[i] as ReadonlySet<string>).has(t.text));
  const position = o.prioritizeTokenPosition ? 255 - Math.min(bestStart, 255) : 0;
  const score =
    (BigInt(bestCount) << 40n) |
    (BigInt(unique) << 32n) |
    (BigInt(255 - Math.min(cost, 255)) << 24n) |
    (BigInt(MAX_DISTANCE - bestDistance) << 16n) |
    (BigInt(verbatim ? 1 : 0) << 8n) |
    BigInt(position);
  return { score };
}

interface ScoredField {
  spec: SearchField;
  score: bigint;
}

/** Typesense's 64-bit `text_match` from the matched fields. */
function aggregate(scored: ScoredField[], tokensMatched: number, o: MatchOptions): bigint {
  if (scored.length === 0) return 0n;
  const byScore = (a: ScoredField, b: ScoredField) =>
    a.score === b.score ? b.spec.weight - a.spec.weight : a.score > b.score ? -1 : 1;
  const byWeight = (a: ScoredField, b: ScoredField) =>
    b.spec.weight - a.spec.weight || byScore(a, b);
  const tokens = BigInt(Math.min(tokensMatched, MAX_TOKENS_MATCHED)) << 59n;
  const fieldsMatched = o.prioritizeNumMatchingFields
    ? BigInt(Math.min(scored.length, MAX_FIELDS_MATCHED))
    : 0n;
  if (o.textMatchType === 'max_weight') {
    const best = [...scored].sort(byWeight)[0] as ScoredField;
    return tokens | (BigInt(best.spec.weight) << 51n) | (best.score << 3n) | fieldsMatched;
  }
  const best = [...scored].sort(byScore)[0] as ScoredField;
  let score = best.score;
  if (o.textMatchType === 'sum_score') {
    score = scored.reduce((sum, f) => sum + f.score, 0n);
    if (score > SCORE_MASK) score = SCORE_MASK;
  }
  return tokens | (score << 11n) | (BigInt(best.spec.weight) << 3n) | fieldsMatched;
}

function score(
  stored: StoredDoc,
  set: number[],
  perWord: WordHits[],
  dropped: number,
  o: MatchOptions,
): TextMatch {
  const minTypos = perWord.map((h) => h.docs.get(stored.seq) ?? 0);
  const cost = minTypos.reduce((n, t) => n + t, 0);
  const fields = new Map<string, FieldMatch>();
  const scored: ScoredField[] = [];
  for (const spec of o.fields) {
    const values = stored.tokens.get(spec.name);
    if (!values) continue;
    // each word's terms in this field with the fewest typos the document matched that word with
    const wordTerms = perWord.map(
      (h, i) =>
        new Set(
          (h.byField.get(spec.name) ?? [])
            .filter((c) => c.typos === minTypos[i])
            .map((c) => c.term),
        ),
    );
    const array = Array.isArray(stored.doc[spec.name]);
    const inField = new Set<number>();
    for (const tokens of values) {
      for (const t of tokens) {
        wordTerms.forEach((set, w) => {
          if (set.has(t.text)) inField.add(w);
        });
      }
    }
    if (inField.size === 0) continue;
    let best: bigint | null = null;
    for (const tokens of values) {
      const v = valueScore(tokens, wordTerms, cost, array, inField.size, dropped === 0, o);
      if (v && (best === null || v.score > best)) best = v.score;
    }
    if (best === null) continue;
    const matchedTerms = new Set<string>();
    for (const s of wordTerms) for (const t of s) matchedTerms.add(t);
    fields.set(spec.name, { score: best, terms: matchedTerms });
    scored.push({ spec, score: best });
  }
  return {
    seq: stored.seq,
    fields,
    tokensDropped: dropped,
    textMatch: aggregate(scored, set.length, o),
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

function containsSequence(tokens: Token[], words: string[]): boolean {
  for (let start = 0; start + words.length <= tokens.length; start++) {
    if (words.every((w, i) => tokens[start + i]?.text === w)) return true;
  }
  return false;
}

/** True when one of the fields holds `words` as consecutive words of one value. */
export function hasSequence(stored: StoredDoc, fields: string[], words: string[]): boolean {
  return fields.some((name) =>
    (stored.tokens.get(name) ?? []).some((tokens) => containsSequence(tokens, words)),
  );
}

/** Removes from `candidates` what the query's exclusions rule out and what lacks a phrase. */
export function applyQueryFilters(
  collection: Collection,
  query: ParsedQuery,
  fields: string[],
  candidates: Set<number>,
): void {
  if (query.exclude.length === 0 && query.phrases.length === 0) return;
  for (const seq of candidates) {
    const stored = collection.bySeq.get(seq) as StoredDoc;
    const keep =
      query.exclude.every((words) => !hasSequence(stored, fields, words)) &&
      query.phrases.every((words) => hasSequence(stored, fields, words));
    if (!keep) candidates.delete(seq);
  }
}

/** Runs the keyword search; returns matches keyed by sequence id. */
export function matchText(
  collection: Collection,
  query: ParsedQuery,
  candidates: Set<number>,
  o: MatchOptions,
): Map<number, TextMatch> {
  applyQueryFilters(
    collection,
    query,
    o.fields.map((f) => f.name),
    candidates,
  );
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
      const smallest = [...perWord].sort((a, b) => a.docs.size - b.docs.size)[0];
      for (const seq of smallest?.docs.keys() ?? []) {
        if (results.has(seq) || !perWord.every((h) => h.docs.has(seq))) continue;
        const stored = collection.bySeq.get(seq) as StoredDoc;
        results.set(seq, score(stored, set, perWord, words.length - set.length, o));
      }
    }
  }
  return results;
}

/** `text_match_info` read back from the score, as Typesense renders it. */
export function textMatchInfo(
  textMatch: bigint,
  textMatchType: string,
  totalTokens: number,
): Record<string, unknown> {
  const tokensMatched = Number(textMatch >> 59n);
  const maxWeight = textMatchType === 'max_weight';
  const fieldScore = maxWeight ? (textMatch >> 3n) & SCORE_MASK : (textMatch >> 11n) & SCORE_MASK;
  const weight = maxWeight ? (textMatch >> 51n) & 0xffn : (textMatch >> 3n) & 0xffn;
  return {
    best_field_score: String(fieldScore),
    best_field_weight: Number(weight),
    fields_matched: Number(textMatch & 7n),
    num_tokens_dropped: totalTokens - tokensMatched,
    score: String(textMatch),
    tokens_matched: tokensMatched,
    typo_prefix_score: 255 - Number((fieldScore >> 24n) & 0xffn),
  };
}
