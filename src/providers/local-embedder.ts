import { contentWords } from './text.js';
import type { Embedder } from './types.js';

/**
 * Deterministic offline embedder: signed feature hashing of normalised words and of adjacent word
 * pairs into `dimension` floats, with sublinear term frequency (1 + ln tf), L2-normalised. The same
 * text always gives the same vector, on any machine; texts sharing words land close under cosine.
 * A text with no words (empty, or punctuation only) gives the zero vector.
 */
export class LocalEmbedder implements Embedder {
  readonly kind = 'local' as const;
  readonly name = 'hashing';

  constructor(readonly dimension = 384) {
    if (!Number.isInteger(dimension) || dimension < 8) {
      throw new RangeError(`LocalEmbedder dimension must be an integer >= 8, got ${dimension}`);
    }
  }

  async embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<number[][]> {
    options?.signal?.throwIfAborted();
    return texts.map((text) => this.embedOne(text));
  }

  /** The vector of one text, synchronously. */
  embedOne(text: string): number[] {
    const counts = new Map<string, number>();
    const tokens = contentWords(text);
    for (let i = 0; i < tokens.length; i++) {
      const word = tokens[i]!;
      counts.set(word, (counts.get(word) ?? 0) + 1);
      const next = tokens[i + 1];
      if (next !== undefined) {
        const pair = `${word} ${next}`;
        counts.set(pair, (counts.get(pair) ?? 0) + 1);
      }
    }
    const vector = new Array<number>(this.dimension).fill(0);
    for (const [feature, tf] of counts) {
      const h = mix32(fnv1a(feature));
      const weight = (1 + Math.log(tf)) * (feature.includes(' ') ? 0.5 : 1);
      const slot = h % this.dimension;
      vector[slot] = (vector[slot] ?? 0) + (h & 0x80000000 ? -weight : weight);
    }
    let norm = 0;
    for (const v of vector) norm += v * v;
    if (norm === 0) return vector;
    const scale = 1 / Math.sqrt(norm);
    return vector.map((v) => v * scale);
  }
}

/** 32-bit FNV-1a over UTF-16 code units. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3's 32-bit finaliser, to spread FNV's low bits before slot and sign are taken. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
