import { describe, expect, it } from 'vitest';
import { fitPairwise, type RankGroup, rankBy } from '../eval/learn-rank.js';

/** The evaluation's fitted rerank order (`npm run eval -- --learn`, `eval/learn-rank.ts`). */
describe('fitPairwise', () => {
  it('learns to put the passages that hold the answer first, by the feature that tells them', () => {
    // Feature 1 is highest on the answer in every group; feature 0 is noise that favours a wrong
    // passage in two groups of three.
    const groups: RankGroup[] = [
      {
        x: [
          [0.9, 0.2],
          [0.1, 0.8],
          [0.5, 0.1],
        ],
        y: [false, true, false],
      },
      {
        x: [
          [0.1, 0.6],
          [0.9, 0.9],
          [0.4, 0.3],
        ],
        y: [false, true, false],
      },
      {
        x: [
          [0.2, 1.0],
          [0.8, 0.4],
          [0.6, 0.7],
        ],
        y: [true, false, false],
      },
    ];
    const w = fitPairwise(groups);
    expect(w[1]).toBeGreaterThan(Math.abs(w[0]!));
    expect(groups.map((g) => rankBy(w, g))).toEqual([1, 1, 1]);
    // The noise alone would rank the first group's answer last.
    expect(rankBy([1, 0], groups[0]!)).toBe(3);
  });

  it('learns nothing from questions with no passage of each kind', () => {
    expect(fitPairwise([{ x: [[1, 0]], y: [false] }])).toEqual([0, 0]);
    expect(
      fitPairwise([
        {
          x: [
            [1, 0],
            [0, 1],
          ],
          y: [true, true],
        },
      ]),
    ).toEqual([0, 0]);
    expect(fitPairwise([])).toEqual([]);
  });
});

describe('rankBy', () => {
  it('is the rank of the first answer in the weighted order, ties kept in the given order', () => {
    const g: RankGroup = { x: [[0.5], [0.5], [0.9]], y: [false, true, false] };
    expect(rankBy([1], g)).toBe(3);
    expect(rankBy([-1], g)).toBe(2);
    expect(rankBy([1], { x: [[1]], y: [false] })).toBe(Infinity);
  });
});
