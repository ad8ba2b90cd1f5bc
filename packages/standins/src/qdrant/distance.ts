/**
 * Distance functions with Qdrant's conventions: Cosine vectors are normalised on the way in and
 * scored by dot product; Dot is the raw dot product (higher first); Euclid and Manhattan report the
 * distance itself and sort ascending. Score thresholds mean "this good or better".
 */
export const DISTANCES = ['Cosine', 'Euclid', 'Dot', 'Manhattan'] as const;
export type Distance = (typeof DISTANCES)[number];

export function isDistance(v: unknown): v is Distance {
  return typeof v === 'string' && (DISTANCES as readonly string[]).includes(v);
}

/** What Qdrant stores (and compares against) for a raw input vector. */
export function preprocess(distance: Distance, input: ArrayLike<number>): Float32Array {
  const v = Float32Array.from(input as ArrayLike<number>);
  if (distance !== 'Cosine') return v;
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += (v[i] as number) * (v[i] as number);
  const norm = Math.sqrt(sum);
  if (norm < Number.EPSILON) return v;
  for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) / norm;
  return v;
}

export function largerIsBetter(distance: Distance): boolean {
  return distance === 'Cosine' || distance === 'Dot';
}

/** Score of a stored vector against a preprocessed query vector of the same length. */
export function score(distance: Distance, q: Float32Array, v: Float32Array): number {
  let acc = 0;
  const n = q.length;
  switch (distance) {
    case 'Cosine':
    case 'Dot':
      for (let i = 0; i < n; i++) acc += (q[i] as number) * (v[i] as number);
      return Math.fround(acc);
    case 'Euclid':
      for (let i = 0; i < n; i++) {
        const d = (q[i] as number) - (v[i] as number);
        acc += d * d;
      }
      return Math.fround(Math.sqrt(acc));
    case 'Manhattan':
      for (let i = 0; i < n; i++) acc += Math.abs((q[i] as number) - (v[i] as number));
      return Math.fround(acc);
  }
}

export function passesThreshold(distance: Distance, s: number, threshold: number): boolean {
  const t = Math.fround(threshold);
  return largerIsBetter(distance) ? s >= t : s <= t;
}

/** Comparator putting better scores first; ties broken by the caller. */
export function compareScores(distance: Distance, a: number, b: number): number {
  return largerIsBetter(distance) ? b - a : a - b;
}
