import type { ChunkPayload, RetrievedChunk } from '../stores/chunks.js';

export const RRF_K = 60;
export const KEYWORD_COVERAGE_POWER = 1;

export interface FusedPassage {
  chunk: ChunkPayload;
  score: number;
  vectorRank: number | null;
  keywordRank: number | null;
}

interface FusionWeights {
  vector: number;
  keyword: number;
}

/**
 * Weighted reciprocal rank fusion of the two retrievers' ranked lists: each chunk scores the sum
 * over the lists it appears in of weight / (k + rank), ranks from 1, k = 60; chunks are the same
 * when their chunk_index is. A keyword hit's weight is the keyword weight times its coverage (the
 * share of the query's words it matched) relative to the best coverage in the keyword list, to the
 * power `coveragePower`: Typesense drops words until enough passages match, and a passage found by
 * one word of six says little when others matched five, but it is the keyword search's best when
 * no passage matched more (a paraphrased question). Ties keep the better best rank, then the lower
 * chunk_index, so the order is deterministic. Each fused passage keeps its rank in each list (null
 * where it was absent).
 *
 * The defaults (equal weights, k = 60, relative coverage to the power 1, with 20 candidates per
 * retriever) are what `npm run eval -- --grid` measured best; other weights, k from 10 to 60 and
 * 10 to 40 candidates moved recall@6 by at most one question (eval/RESULTS.md).
 */
export function reciprocalRankFusion(
  vector: readonly RetrievedChunk[],
  keyword: readonly RetrievedChunk[],
  keep: number,
  k = RRF_K,
  weights: FusionWeights = { vector: 1, keyword: 1 },
  coveragePower = KEYWORD_COVERAGE_POWER,
): FusedPassage[] {
  const byIndex = new Map<number, FusedPassage>();
  // Coverage relative to the list's best: when no passage matched more than a quarter of the
  // query's words, the ones that matched a quarter are the best the keyword search found.
  const bestCoverage = Math.max(0, ...keyword.map((h) => h.coverage ?? 1)) || 1;
  const add = (list: readonly RetrievedChunk[], which: 'vectorRank' | 'keywordRank') => {
    list.forEach((hit, i) => {
      const rank = i + 1;
      const idx = hit.chunk.chunk_index;
      let fused = byIndex.get(idx);
      if (!fused) {
        fused = { chunk: hit.chunk, score: 0, vectorRank: null, keywordRank: null };
        byIndex.set(idx, fused);
      }
      // A list that repeats a chunk counts it once, at its best rank.
      if (fused[which] !== null) return;
      fused[which] = rank;
      const weight =
        which === 'vectorRank'
          ? weights.vector
          : weights.keyword * ((hit.coverage ?? 1) / bestCoverage) ** coveragePower;
      fused.score += weight / (k + rank);
    });
  };
  add(vector, 'vectorRank');
  add(keyword, 'keywordRank');
  const bestRank = (p: FusedPassage) =>
    Math.min(p.vectorRank ?? Infinity, p.keywordRank ?? Infinity);
  return [...byIndex.values()]
    .sort(
      (a, b) =>
        b.score - a.score || bestRank(a) - bestRank(b) || a.chunk.chunk_index - b.chunk.chunk_index,
    )
    .slice(0, keep);
}
