import type { ChunkPayload, RetrievedChunk } from '../stores/chunks.js';

/**
 * Reciprocal rank fusion of the two retrievers' ranked lists: each chunk scores the sum over the
 * lists it appears in of 1 / (k + rank), ranks from 1, k = 60; chunks are the same when their
 * chunk_index is. Ties keep the better best rank, then the lower chunk_index, so the order is
 * deterministic. Each fused passage keeps its rank in each list (null where it was absent).
 */
export const RRF_K = 60;

export interface FusedPassage {
  chunk: ChunkPayload;
  score: number;
  vectorRank: number | null;
  keywordRank: number | null;
}

export function reciprocalRankFusion(
  vector: readonly RetrievedChunk[],
  keyword: readonly RetrievedChunk[],
  keep: number,
  k = RRF_K,
): FusedPassage[] {
  const byIndex = new Map<number, FusedPassage>();
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
      fused.score += 1 / (k + rank);
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
