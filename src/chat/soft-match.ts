/**
 * Soft word matching of a question against passages over static word vectors, for the rerank
 * (`rerank.ts`): BERTScore-style recall (Zhang et al., 2020), the ColBERT "MaxSim" of each query
 * word, but over the GloVe vectors the offline embedder already ships (`word-vectors.ts`), so it
 * costs no model and works whatever embedder is configured.
 *
 * - Each query content word scores its best similarity to any word of the passage (1 for the same
 *   word); a similarity below `floor` counts 0, above it is rescaled to (s − floor) / (1 − floor),
 *   so the many weak similarities of unrelated words add nothing. A WordNet related word
 *   (`wordnet.ts`) scores at least `relatedSimilarity`.
 * - Query words are weighted as SIF weights words, a / (a + p(w)) with p from the word's frequency
 *   rank (Zipf): `grandmother` counts far more than `many`. A word the vectors do not know (a name,
 *   mostly) counts as a rare word and matches only itself.
 * - Similarity is the cosine of the vectors after "all-but-the-top" post-processing (Mu and
 *   Viswanath, 2018): the mean vector and the top principal component (D / 100 for D = 100), which
 *   mostly encode word frequency, are removed. Raw GloVe cosines put `many` next to `one` (0.79)
 *   and `man` next to `because` (0.62); processed, 0.28 and 0.09, while `nights`/`evenings` stay
 *   at 0.79.
 * - A passage scores `wholeShare` × its score as a whole plus the rest × its best window of
 *   `window` consecutive sentences: the answer to a question usually sits in one place, and a long
 *   passage should not collect its matches from everywhere.
 *
 * The score of a passage is a weighted share of the query's words in [0, 1].
 */
import { contentWords, sentenceSpans } from '../providers/text.js';
import type { Embedder } from '../providers/types.js';
import {
  loadWordVectors,
  SIF_A,
  WordVectorEmbedder,
  type WordVectors,
  zipfProbability,
} from '../providers/word-vectors.js';
import type { RelatedWords } from './wordnet.js';

export interface SoftMatchOptions {
  /** Similarities below this count 0 (processed cosine). */
  floor: number;
  /** Sentences per window. */
  window: number;
  /** The whole passage's share of its score; the rest is its best window's. */
  wholeShare: number;
  /** What a WordNet related word scores at least. */
  relatedSimilarity: number;
}

export const SOFT_MATCH_DEFAULTS: SoftMatchOptions = {
  floor: 0.4,
  window: 3,
  wholeShare: 0.3,
  relatedSimilarity: 0.5,
};

/** How many of the most frequent words the mean and the principal component are taken over. */
const POST_PROCESS_WORDS = 20_000;

export class SoftMatcher {
  private post: { mean: Float64Array; component: Float64Array } | null = null;

  constructor(
    private readonly table: WordVectors,
    private readonly options: SoftMatchOptions = SOFT_MATCH_DEFAULTS,
  ) {}

  /** The soft-match score of each text against `query`, in [0, 1]; 0 for a query of stopwords. */
  scores(query: string, texts: readonly string[], related: RelatedWords | null): number[] {
    const { wholeShare } = this.options;
    return this.parts(query, texts, related).map(
      ({ whole, window }) => wholeShare * whole + (1 - wholeShare) * window,
    );
  }

  /**
   * Each text's two parts of the score: the whole text's and its best window's, each in [0, 1].
   */
  parts(
    query: string,
    texts: readonly string[],
    related: RelatedWords | null,
  ): { whole: number; window: number }[] {
    const { floor, window, relatedSimilarity } = this.options;
    const queryWords = [...new Set(contentWords(query.replace(/['’]s\b/gu, '')))];
    if (queryWords.length === 0) return texts.map(() => ({ whole: 0, window: 0 }));
    const weights = queryWords.map((w) => this.weight(w));
    const total = weights.reduce((s, w) => s + w, 0);
    const queryVectors = queryWords.map((w) => this.vector(w));
    const relatedSets = queryWords.map((w) => related?.(w) ?? new Set<string>());
    // Each distinct passage word's match with each query word, computed once for all texts.
    const matches = new Map<string, Float64Array>();
    const matchOf = (word: string) => {
      let m = matches.get(word);
      if (m) return m;
      m = new Float64Array(queryWords.length);
      const v = this.vector(word);
      for (let j = 0; j < queryWords.length; j++) {
        let s = 0;
        if (word === queryWords[j]) s = 1;
        else {
          const q = queryVectors[j];
          if (q && v) {
            const c = dot(q, v);
            if (c > floor) s = (c - floor) / (1 - floor);
          }
          if (s < relatedSimilarity && relatedSets[j]!.has(word)) s = relatedSimilarity;
        }
        m[j] = s;
      }
      matches.set(word, m);
      return m;
    };
    return texts.map((text) => {
      // best[s][j]: query word j's best match in sentence s.
      const spans = sentenceSpans(text);
      const sentences = spans.length > 0 ? spans.map(([a, b]) => text.slice(a, b)) : [text];
      const best = sentences.map((sentence) => {
        const b = new Float64Array(queryWords.length);
        for (const w of new Set(contentWords(sentence))) {
          const m = matchOf(w);
          for (let j = 0; j < b.length; j++) if (m[j]! > b[j]!) b[j] = m[j]!;
        }
        return b;
      });
      const scoreOf = (from: number, to: number) => {
        let s = 0;
        for (let j = 0; j < queryWords.length; j++) {
          let m = 0;
          for (let i = from; i < to; i++) if (best[i]![j]! > m) m = best[i]![j]!;
          s += weights[j]! * m;
        }
        return s / total;
      };
      const whole = scoreOf(0, best.length);
      let bestWindow = 0;
      for (let i = 0; i + Math.min(window, best.length) <= best.length; i++) {
        bestWindow = Math.max(bestWindow, scoreOf(i, i + Math.min(window, best.length)));
      }
      return { whole, window: bestWindow };
    });
  }

  /** A query word's weight: SIF's a / (a + p(w)); an unknown word counts as the rarest. */
  weight(word: string): number {
    const i = this.table.index.get(word);
    const rank = i === undefined ? this.table.sourceSize : this.table.ranks[i]!;
    return SIF_A / (SIF_A + zipfProbability(rank, this.table.sourceSize));
  }

  /** The word's post-processed unit vector, or null when the vectors do not know it. */
  vector(word: string): Float64Array | null {
    const i = this.table.index.get(word);
    if (i === undefined) return null;
    const { mean, component } = this.postProcessing();
    const d = this.table.dimension;
    const x = new Float64Array(d);
    for (let k = 0; k < d; k++) x[k] = this.table.vectors[i * d + k]! - mean[k]!;
    const p = dot(x, component);
    let norm = 0;
    for (let k = 0; k < d; k++) {
      x[k]! -= p * component[k]!;
      norm += x[k]! * x[k]!;
    }
    if (norm === 0) return null;
    const scale = 1 / Math.sqrt(norm);
    for (let k = 0; k < d; k++) x[k]! *= scale;
    return x;
  }

  /** The mean and the top principal component of the most frequent words, computed once. */
  private postProcessing(): { mean: Float64Array; component: Float64Array } {
    if (this.post) return this.post;
    const d = this.table.dimension;
    const n = Math.min(POST_PROCESS_WORDS, this.table.ranks.length);
    const { vectors } = this.table;
    const mean = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k]! += vectors[i * d + k]! / n;
    const cov = new Float64Array(d * d);
    const x = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < d; k++) x[k] = vectors[i * d + k]! - mean[k]!;
      for (let a = 0; a < d; a++) {
        const xa = x[a]!;
        for (let b = a; b < d; b++) cov[a * d + b]! += xa * x[b]!;
      }
    }
    for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) cov[a * d + b] = cov[b * d + a]!;
    this.post = { mean, component: principalComponent(cov, d) };
    return this.post;
  }
}

/** The unit eigenvector of the largest eigenvalue of a symmetric d × d matrix (power iteration). */
export function principalComponent(matrix: Float64Array, d: number): Float64Array {
  let v = new Float64Array(d).fill(1 / Math.sqrt(d));
  for (let it = 0; it < 200; it++) {
    const next = new Float64Array(d);
    for (let a = 0; a < d; a++) {
      let s = 0;
      for (let b = 0; b < d; b++) s += matrix[a * d + b]! * v[b]!;
      next[a] = s;
    }
    const norm = Math.hypot(...next);
    if (norm === 0) return v;
    for (let k = 0; k < d; k++) next[k]! /= norm;
    let change = 0;
    for (let k = 0; k < d; k++) change = Math.max(change, Math.abs(next[k]! - v[k]!));
    v = next;
    if (change < 1e-10) break;
  }
  return v;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k]! * b[k]!;
  return s;
}

/**
 * The soft matcher of a process: over the `words` embedder's own table when that is the embedder
 * (nothing loaded twice), else over the word vectors loaded on the first call (the compact file in
 * `cacheDir`, made from the package first if it is not there), so another embedder's start-up
 * does not wait for them.
 */
export function softMatcherFor(
  embedder: Embedder,
  cacheDir: string | undefined,
): () => SoftMatcher {
  let matcher: SoftMatcher | null =
    embedder instanceof WordVectorEmbedder ? new SoftMatcher(embedder.table) : null;
  return () => {
    matcher ??= new SoftMatcher(loadWordVectors(cacheDir === undefined ? {} : { cacheDir }));
    return matcher;
  };
}
