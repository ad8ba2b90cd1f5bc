import { describe, expect, it } from 'vitest';
import { KEYWORD_COVERAGE_POWER, RRF_K, reciprocalRankFusion } from '../src/chat/fusion.js';
import type { RetrievedChunk } from '../src/stores/chunks.js';

/** A ranked list of hits for the given chunk indexes, best first (ranks from 1). */
function list(...indexes: number[]): RetrievedChunk[] {
  return indexes.map((chunk_index, i) => ({
    chunk: {
      book_id: 'book',
      chunk_index,
      text: `chunk ${chunk_index}`,
      chapter: null,
      start: chunk_index * 100,
      end: chunk_index * 100 + 100,
    },
    rank: i + 1,
    score: 1 - i / 100,
  }));
}

const rr = (rank: number) => 1 / (60 + rank);

describe('reciprocalRankFusion', () => {
  it('uses k = 60', () => {
    expect(RRF_K).toBe(60);
  });

  it('sums 1/(60 + rank) over both lists, ranks from 1, and orders by that sum', () => {
    // vector: 7, 3, 5   keyword: 3, 9, 7
    const fused = reciprocalRankFusion(list(7, 3, 5), list(3, 9, 7), 10);
    const expected = new Map([
      [3, rr(2) + rr(1)], // 1/62 + 1/61 = 0.032522...
      [7, rr(1) + rr(3)], // 1/61 + 1/63 = 0.032266...
      [5, rr(3)],
      [9, rr(2)],
    ]);
    expect(fused.map((p) => p.chunk.chunk_index)).toEqual([3, 7, 9, 5]);
    for (const p of fused) {
      expect(p.score).toBeCloseTo(expected.get(p.chunk.chunk_index)!, 12);
    }
    expect(fused[0]).toMatchObject({ vectorRank: 2, keywordRank: 1 });
    expect(fused[1]).toMatchObject({ vectorRank: 1, keywordRank: 3 });
    expect(fused[2]).toMatchObject({ vectorRank: null, keywordRank: 2 });
    expect(fused[3]).toMatchObject({ vectorRank: 3, keywordRank: null });
    // Hand-computed values, not just the formula again.
    expect(fused[0]!.score).toBeCloseTo(0.0325224749, 9);
    expect(fused[1]!.score).toBeCloseTo(0.0322664585, 9);
  });

  it('a chunk in both lists appears once (dedup on chunk_index), with both ranks', () => {
    const fused = reciprocalRankFusion(list(1, 2, 3), list(3, 2, 1), 10);
    expect(fused).toHaveLength(3);
    expect(new Set(fused.map((p) => p.chunk.chunk_index)).size).toBe(3);
    for (const p of fused) {
      expect(p.vectorRank).not.toBeNull();
      expect(p.keywordRank).not.toBeNull();
      expect(p.score).toBeCloseTo(rr(p.vectorRank!) + rr(p.keywordRank!), 12);
    }
    // 2 is rank 2 in both: 2/62 = 0.032258; 1 and 3 are 1/61 + 1/63 = 0.032266, slightly more.
    expect(fused.map((p) => p.chunk.chunk_index)).toEqual([1, 3, 2]);
  });

  it('a chunk repeated within one list counts once, at its best rank', () => {
    const fused = reciprocalRankFusion(list(4, 4, 6), [], 10);
    expect(fused.map((p) => p.chunk.chunk_index)).toEqual([4, 6]);
    expect(fused[0]).toMatchObject({ vectorRank: 1, keywordRank: null });
    expect(fused[0]!.score).toBeCloseTo(rr(1), 12);
  });

  it('with one list empty, the other keeps its order and scores 1/(60 + rank)', () => {
    const onlyKeyword = reciprocalRankFusion([], list(8, 2, 5), 10);
    expect(onlyKeyword.map((p) => p.chunk.chunk_index)).toEqual([8, 2, 5]);
    expect(onlyKeyword.map((p) => p.score)).toEqual([rr(1), rr(2), rr(3)]);
    expect(onlyKeyword.every((p) => p.vectorRank === null)).toBe(true);
    expect(onlyKeyword.map((p) => p.keywordRank)).toEqual([1, 2, 3]);

    const onlyVector = reciprocalRankFusion(list(8, 2, 5), [], 10);
    expect(onlyVector.map((p) => p.chunk.chunk_index)).toEqual([8, 2, 5]);
    expect(onlyVector.map((p) => p.vectorRank)).toEqual([1, 2, 3]);
    expect(onlyVector.every((p) => p.keywordRank === null)).toBe(true);

    expect(reciprocalRankFusion([], [], 6)).toEqual([]);
  });

  it('breaks ties deterministically: better best rank, then lower chunk_index', () => {
    // 10 is rank 1 in vector only, 20 rank 1 in keyword only: equal scores, equal best rank.
    const a = reciprocalRankFusion(list(10, 30), list(20, 40), 10);
    const b = reciprocalRankFusion(list(20, 40), list(10, 30), 10);
    expect(a.map((p) => p.chunk.chunk_index)).toEqual([10, 20, 30, 40]);
    expect(b.map((p) => p.chunk.chunk_index)).toEqual([10, 20, 30, 40]);
    expect(a[0]!.score).toBe(a[1]!.score);
  });

  it('keeps only the best `keep`', () => {
    const fused = reciprocalRankFusion(list(1, 2, 3, 4, 5), list(5, 6, 7), 3);
    expect(fused).toHaveLength(3);
    // 5: 1/65 + 1/61 beats every single-list score; then 1 (1/61); then 2 and 6 tie at 1/62,
    // both best rank 2, and the lower chunk_index wins.
    expect(fused.map((p) => p.chunk.chunk_index)).toEqual([5, 1, 2]);
    expect(fused[0]!.score).toBeCloseTo(0.031778058, 9);
    expect(reciprocalRankFusion(list(1, 2), list(3), 0)).toEqual([]);
  });

  it('keeps the chunk payload of the hit', () => {
    const [p] = reciprocalRankFusion(list(12), list(12), 1);
    expect(p!.chunk).toEqual({
      book_id: 'book',
      chunk_index: 12,
      text: 'chunk 12',
      chapter: null,
      start: 1200,
      end: 1300,
    });
  });

  it('weights each list: weight / (k + rank)', () => {
    const fused = reciprocalRankFusion(list(1, 2), list(2, 3), 10, 60, { vector: 1, keyword: 0.5 });
    const score = new Map(fused.map((p) => [p.chunk.chunk_index, p.score]));
    expect(score.get(1)).toBeCloseTo(1 / 61, 12);
    expect(score.get(2)).toBeCloseTo(1 / 62 + 0.5 / 61, 12);
    expect(score.get(3)).toBeCloseTo(0.5 / 62, 12);
    // k = 1: rank 1 counts 1/2, rank 2 counts 1/3.
    const sharp = reciprocalRankFusion(list(1, 2), [], 10, 1);
    expect(sharp.map((p) => p.score)).toEqual([1 / 2, 1 / 3]);
  });

  it('weights a keyword hit by the share of the query words it matched', () => {
    expect(KEYWORD_COVERAGE_POWER).toBe(1);
    // Keyword rank 1 matched one word of three (Typesense dropped two); rank 2 matched all.
    const keyword = list(7, 8);
    keyword[0]!.coverage = 1 / 3;
    keyword[1]!.coverage = 1;
    const fused = reciprocalRankFusion(list(8, 9), keyword, 10);
    expect(fused.map((p) => p.chunk.chunk_index)).toEqual([8, 9, 7]);
    const score = new Map(fused.map((p) => [p.chunk.chunk_index, p.score]));
    expect(score.get(7)).toBeCloseTo(1 / 3 / 61, 12);
    expect(score.get(8)).toBeCloseTo(1 / 61 + 1 / 62, 12);
    // The same hit matching every word is worth the vectors' rank 1 (tie: lower chunk_index).
    expect(score.get(9)).toBeCloseTo(1 / 62, 12);
    const full = list(7);
    full[0]!.coverage = 1;
    expect(reciprocalRankFusion(list(8, 9), full, 10).map((p) => p.chunk.chunk_index)).toEqual([
      7, 8, 9,
    ]);
    // Power 0 is plain RRF: coverage ignored.
    const plain = reciprocalRankFusion(list(8, 9), keyword, 10, 60, { vector: 1, keyword: 1 }, 0);
    expect(plain.map((p) => p.chunk.chunk_index)).toEqual([8, 7, 9]);
  });

  it("weighs coverage against the keyword list's best: one word matched is full weight when none matched more", () => {
    // A paraphrased question: every keyword hit matched one word of four.
    const keyword = list(7, 8);
    keyword[0]!.coverage = 1 / 4;
    keyword[1]!.coverage = 1 / 4;
    const fused = reciprocalRankFusion(list(9, 7), keyword, 10);
    const score = new Map(fused.map((p) => [p.chunk.chunk_index, p.score]));
    expect(score.get(7)).toBeCloseTo(1 / 62 + 1 / 61, 12);
    expect(score.get(8)).toBeCloseTo(1 / 62, 12);
    // Keyword rank 1 counts as much as vector rank 1.
    expect(fused.map((p) => p.chunk.chunk_index)).toEqual([7, 9, 8]);
    // With a hit that matched every word in the list, one word of four is a quarter again.
    keyword.push(list(5)[0]!);
    keyword[2]!.coverage = 1;
    const mixed = new Map(
      reciprocalRankFusion(list(9), keyword, 10).map((p) => [p.chunk.chunk_index, p.score]),
    );
    expect(mixed.get(8)).toBeCloseTo(1 / 4 / 62, 12);
    expect(mixed.get(5)).toBeCloseTo(1 / 63, 12);
  });
});
