import { contentWords } from '../providers/text.js';
import type { FusedPassage } from './fusion.js';
import type { RelatedWords } from './wordnet.js';

/** How many of the fused passages the rerank reorders (the rest keep their fused order below). */
export const RERANK_DEPTH = 10;
/**
 * The fused score's share of the reranked score (the rest is the lexical score) with the offline
 * embedders, whose vectors order paraphrases poorly (measured with `npm run eval`)...
 */
export const RERANK_FUSED_WEIGHT = 0.3;
/**
 * ...and with an OpenAI-compatible embedder, whose order is better than word overlap can tell:
 * there the rerank mostly breaks near ties of the fusion (`RETRIEVAL_RERANK_FUSED_WEIGHT` sets it).
 */
export const RERANK_FUSED_WEIGHT_STRONG = 0.7;
/** A related word's match counts this much of the query word's own (WordNet, `wordnet.ts`). */
export const RELATED_WORD_WEIGHT = 0.3;
const K1 = 1.2;
const B = 0.75;

interface RerankOptions {
  depth?: number;
  fusedWeight?: number;
  relatedWeight?: number;
}

/**
 * Okapi BM25 (k1 = 1.2, b = 0.75) of each text against the query's content words, with document
 * frequencies and average length taken over `texts` themselves (the rerank sees only the
 * candidates, not the book). Each query word scores its best match among itself (weight 1) and its
 * related words (weight `relatedWeight`), so a passage saying `clock` matches a question asking for
 * a `timepiece`, at a discount, and a word and its synonym together count once.
 */
export function lexicalScores(
  query: string,
  texts: readonly string[],
  related: RelatedWords | null,
  relatedWeight = RELATED_WORD_WEIGHT,
): number[] {
  const docs = texts.map((t) => {
    const ws = contentWords(t);
    const tf = new Map<string, number>();
    for (const w of ws) tf.set(w, (tf.get(w) ?? 0) + 1);
    return { tf, len: ws.length };
  });
  const n = docs.length;
  if (n === 0) return [];
  const avgLen = docs.reduce((s, d) => s + d.len, 0) / n || 1;
  const queryWords = [...new Set(contentWords(query.replace(/['’]s\b/gu, '')))];
  const groups = queryWords.map((q) => [
    { word: q, weight: 1 },
    ...[...(related?.(q) ?? [])]
      .filter((r) => !queryWords.includes(r))
      .map((word) => ({ word, weight: relatedWeight })),
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
 * Reorders the first `depth` fused passages by `fusedWeight` × their fused score (min-max scaled
 * over those passages) plus the rest × their lexical score (`lexicalScores`, divided by the best),
 * and keeps `keep`. Passages below `depth` follow in their fused order. The rerank moves passages
 * only within the fused top `depth`, so recall at `depth` is the fusion's; what it changes is which
 * of them come first. Each passage's `score` becomes the reranked score, in [0, 1] (0 below
 * `depth`). Ties keep the fused order.
 */
export function rerankPassages(
  query: string,
  fused: readonly FusedPassage[],
  keep: number,
  related: RelatedWords | null,
  options: RerankOptions = {},
): FusedPassage[] {
  const depth = options.depth ?? RERANK_DEPTH;
  const a = options.fusedWeight ?? RERANK_FUSED_WEIGHT;
  const head = fused.slice(0, depth);
  if (head.length === 0) return [];
  const lexical = lexicalScores(
    query,
    head.map((p) => p.chunk.text),
    related,
    options.relatedWeight,
  );
  const bestLexical = Math.max(...lexical);
  const hi = head[0]!.score;
  const lo = head.at(-1)!.score;
  const reranked = head
    .map((p, i) => ({
      p,
      i,
      score:
        a * (hi > lo ? (p.score - lo) / (hi - lo) : 1) +
        (1 - a) * (bestLexical > 0 ? lexical[i]! / bestLexical : 0),
    }))
    .sort((x, y) => y.score - x.score || x.i - y.i)
    .map(({ p, score }) => ({ ...p, score }));
  const rest = fused.slice(depth).map((p) => ({ ...p, score: 0 }));
  return [...reranked, ...rest].slice(0, keep);
}
