/**
 * Float formatting as Qdrant emits it: scores and vector components are `f32`, which serde_json
 * prints in the shortest decimal that round-trips to the same `f32` (0.9, not 0.8999999761581421).
 */

/** Rounds to f32 and returns the shortest decimal number that maps back to that f32. */
export function f32(x: number): number {
  const v = Math.fround(x);
  if (!Number.isFinite(v) || v === 0) return v;
  for (let p = 1; p <= 9; p++) {
    const candidate = Number(v.toPrecision(p));
    if (Math.fround(candidate) === v) return candidate;
  }
  return v;
}

export function f32Array(v: Float32Array): number[] {
  return Array.from(v, f32);
}
