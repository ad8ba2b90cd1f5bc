/**
 * Okapi BM25, the stand-in's text relevance. Real Typesense ranks by its own text-match score
 * (matched tokens, typos, proximity); BM25 over the `query_by` fields is an acceptable stand-in
 * for it here: documents with more (and rarer) query terms, in shorter fields, rank higher.
 */

export const BM25_K1 = 1.2;
export const BM25_B = 0.75;

/** Inverse document frequency; always positive (the "+1" variant). */
export function idf(numDocs: number, docFreq: number): number {
  return Math.log(1 + (numDocs - docFreq + 0.5) / (docFreq + 0.5));
}

/** Saturated, length-normalised term frequency. */
export function tfWeight(tf: number, docLength: number, avgLength: number): number {
  const norm = avgLength > 0 ? docLength / avgLength : 1;
  return (tf * (BM25_K1 + 1)) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * norm));
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
