import { contentWords, stem } from '../providers/text.js';
import type { FusedPassage } from './fusion.js';
import type { SoftMatcher } from './soft-match.js';
import type { RelatedWords } from './wordnet.js';

/**
 * The vector similarity's share of the reranked score with the offline embedders: the vector
 * similarity, the soft word match and BM25 count a third each (measured with `npm run eval`)...
 */
export const RERANK_VECTOR_WEIGHT = 1 / 3;
/**
 * ...and with an OpenAI-compatible embedder, whose order is better than word matching can tell:
 * half (`RETRIEVAL_RERANK_VECTOR_WEIGHT` sets it).
 */
export const RERANK_VECTOR_WEIGHT_STRONG = 0.5;
/** A related word's match counts this much of the query word's own (WordNet, `wordnet.ts`). */
export const RELATED_WORD_WEIGHT = 0.3;
const K1 = 1.2;
const B = 0.75;

interface RerankOptions {
  /** The vector similarity's share; the soft match and BM25 share the rest equally. */
  vectorWeight?: number;
  relatedWeight?: number;
  /** The vector search's cosine of each chunk it returned, by chunk_index. */
  vectorScores?: ReadonlyMap<number, number>;
  /** The soft word matcher; null leaves the soft match out (its share goes to BM25). */
  softMatch?: SoftMatcher | null;
}

/**
 * Okapi BM25 (k1 = 1.2, b = 0.75) of each text against the query's content words, with document
 * frequencies and average length taken over `texts` themselves (the rerank sees only the
 * candidates, not the book). Words are compared by their stem (`stem`: plural and verb endings,
 * common irregular forms), so `commanded` matches `command`. Each query word scores its best match
 * among itself (weight 1) and its related words (weight `relatedWeight`), so a passage saying
 * `clock` matches a question asking for a `timepiece`, at a discount, and a word and its synonym
 * (or two forms of one word) together count once.
 */
export function lexicalScores(
  query: string,
  texts: readonly string[],
  related: RelatedWords | null,
  relatedWeight = RELATED_WORD_WEIGHT,
): number[] {
  const docs = texts.map((t) => {
    const ws = contentWords(t).map(stem);
    const tf = new Map<string, number>();
    for (const w of ws) tf.set(w, (tf.get(w) ?? 0) + 1);
    return { tf, len: ws.length };
  });
  const n = docs.length;
  if (n === 0) return [];
  const avgLen = docs.reduce((s, d) => s + d.len, 0) / n || 1;
  // One group per stem: the stem itself, and the stems of its words' related words.
  const byStem = new Map<string, Set<string>>();
  for (const q of new Set(contentWords(query.replace(/['’]s\b/gu, '')))) {
    const own = stem(q);
    const rel = byStem.get(own) ?? new Set<string>();
    for (const r of related?.(q) ?? []) rel.add(stem(r));
    byStem.set(own, rel);
  }
  const groups = [...byStem].map(([own, rel]) => [
    { word: own, weight: 1 },
    ...[...rel].filter((r) => !byStem.has(r)).map((word) => ({ word, weight: relatedWeight })),
  ]);
  const idf = new Map<string, number>();
  const idfOf = (w: string) => {
    let v = idf.get(w);
    if (v === undefined) {
      const df = docs.filter((d) => d.tf.has(w)).length;
      v = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      idf.set(w, v);
    }
    return v;
  };
  return docs.map((d) => {
    let score = 0;
    for (const group of groups) {
      let best = 0;
      for (const { word, weight } of group) {
        const f = d.tf.get(word);
        if (!f) continue;
        const s = (weight * idfOf(word) * f * (K1 + 1)) / (f + K1 * (1 - B + (B * d.len) / avgLen));
        if (s > best) best = s;
      }
      score += best;
    }
    return score;
  });
}

/**
 * Reorders the fused passages (the union of both retrievers' candidates) by a weighted sum of three
 * scores, each scaled to [0, 1] over the candidates, and keeps `keep`:
 *
 * - the vector similarity (`vectorWeight`): the vector search's cosine, min-max scaled; a passage
 *   only the keyword search found gets the vector list's lowest cosine (its cosine is at most
 *   that). Without vector scores (the vector search down) the fused score stands in for it;
 * - the soft word match (`soft-match.ts`), divided by the best, and
 * - BM25 with WordNet's related words over the candidates (`lexicalScores`), divided by the best,
 *   which share the rest equally (BM25 takes it all without a soft matcher).
 *
 * Every candidate is reordered, so a passage the fusion ranked low but that matches the question
 * well comes up. Each passage's `score` becomes the reranked score, in [0, 1]. Ties keep the fused
 * order.
 */
export function rerankPassages(
  query: string,
  fused: readonly FusedPassage[],
  keep: number,
  related: RelatedWords | null,
  options: RerankOptions = {},
): FusedPassage[] {
  if (fused.length === 0) return [];
  const wv = options.vectorWeight ?? RERANK_VECTOR_WEIGHT;
  const soft = options.softMatch ?? null;
  const ws = soft ? (1 - wv) / 2 : 0;
  const wl = 1 - wv - ws;
  const texts = fused.map((p) => p.chunk.text);
  const lexical = toBest(lexicalScores(query, texts, related, options.relatedWeight));
  const matched = soft ? toBest(soft.scores(query, texts, related)) : texts.map(() => 0);
  const cosines = options.vectorScores;
  let vector: number[];
  if (cosines && cosines.size > 0) {
    const lowest = Math.min(...cosines.values());
    vector = minMax(fused.map((p) => cosines.get(p.chunk.chunk_index) ?? lowest));
  } else vector = minMax(fused.map((p) => p.score));
  return fused
    .map((p, i) => ({ p, i, score: wv * vector[i]! + ws * matched[i]! + wl * lexical[i]! }))
    .sort((x, y) => y.score - x.score || x.i - y.i)
    .slice(0, keep)
    .map(({ p, score }) => ({ ...p, score }));
}

/** Each value divided by the largest (all 0 when none is positive). */
export function toBest(xs: readonly number[]): number[] {
  const best = Math.max(0, ...xs);
  return xs.map((x) => (best > 0 ? x / best : 0));
}

/** Min-max scaled to [0, 1]; all equal: all 1. */
export function minMax(xs: readonly number[]): number[] {
  const hi = Math.max(...xs);
  const lo = Math.min(...xs);
  return xs.map((x) => (hi > lo ? (x - lo) / (hi - lo) : 1));
}
