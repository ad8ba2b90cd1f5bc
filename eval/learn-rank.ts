/**
 * Learning the rerank's weights from labelled questions (`npm run eval -- --learn`): a linear
 * score w · x over the rerank's features, fitted as a pairwise logistic model (RankNet with a
 * linear scorer, Burges et al., 2005): for each question, every pair of a passage that holds the
 * answer and one that does not should score in that order; the loss is the mean over a question's
 * pairs of log(1 + e^−(w · (x⁺ − x⁻))), each question counting once, plus an L2 penalty.
 * Plain batch gradient descent: the features are few and in [0, 1].
 */

/** One question's candidates: their features and whether each holds the answer. */
export interface RankGroup {
  x: readonly (readonly number[])[];
  y: readonly boolean[];
}

export interface FitOptions {
  l2?: number;
  iterations?: number;
  rate?: number;
}

export function fitPairwise(groups: readonly RankGroup[], options: FitOptions = {}): number[] {
  const { l2 = 1e-3, iterations = 3000, rate = 0.5 } = options;
  const d = groups.find((g) => g.x.length > 0)?.x[0]?.length ?? 0;
  // Each question's pair differences, x⁺ − x⁻; questions with no pair teach nothing.
  const diffs = groups
    .map((g) => {
      const out: number[][] = [];
      g.x.forEach((p, i) => {
        if (!g.y[i]) return;
        g.x.forEach((n, j) => {
          if (!g.y[j]) out.push(p.map((v, k) => v - n[k]!));
        });
      });
      return out;
    })
    .filter((ds) => ds.length > 0);
  const w = new Array<number>(d).fill(0);
  if (diffs.length === 0) return w;
  for (let it = 0; it < iterations; it++) {
    const grad = w.map((v) => 2 * l2 * v);
    for (const ds of diffs) {
      for (const diff of ds) {
        let m = 0;
        for (let k = 0; k < d; k++) m += w[k]! * diff[k]!;
        // d/dw log(1 + e^−m) = −σ(−m) · diff
        const g = 1 / (1 + Math.exp(m));
        for (let k = 0; k < d; k++) grad[k]! -= (g * diff[k]!) / ds.length / diffs.length;
      }
    }
    for (let k = 0; k < d; k++) w[k]! -= rate * grad[k]!;
  }
  return w;
}

/** The rank (from 1) of the first candidate holding the answer when ordered by w · x; ties keep the given order. */
export function rankBy(w: readonly number[], g: RankGroup): number {
  const order = g.x
    .map((x, i) => ({ i, s: x.reduce((s, v, k) => s + v * w[k]!, 0) }))
    .sort((a, b) => b.s - a.s || a.i - b.i);
  const at = order.findIndex(({ i }) => g.y[i]);
  return at < 0 ? Infinity : at + 1;
}
