import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeWordVectors,
  encodeWordVectors,
  loadWordVectors,
  SIF_A,
  sifWeight,
  WordVectorEmbedder,
  type WordVectors,
  zipfProbability,
} from '../src/providers/word-vectors.js';

const cos = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);

describe('SIF weights', () => {
  it('weigh a word by a / (a + p), frequent words far below rare ones', () => {
    expect(sifWeight(0.01, 1e-3)).toBeCloseTo(1e-3 / 0.011, 10);
    expect(sifWeight(0, SIF_A)).toBe(1);
    const the = sifWeight(zipfProbability(0, 400_000));
    const rare = sifWeight(zipfProbability(50_000, 400_000));
    expect(the).toBeLessThan(0.05);
    expect(rare).toBeGreaterThan(0.99);
  });

  it('estimate p(w) from the frequency rank by Zipf, summing to about 1 over the vocabulary', () => {
    let total = 0;
    for (let r = 0; r < 400_000; r++) total += zipfProbability(r, 400_000);
    expect(total).toBeGreaterThan(0.99);
    expect(total).toBeLessThan(1.01);
    expect(zipfProbability(9, 400_000)).toBeCloseTo(zipfProbability(0, 400_000) / 10, 12);
  });
});

describe('the compact file', () => {
  it('keeps the words, ranks and, to int8 precision, the components', () => {
    const table: WordVectors = {
      dimension: 3,
      index: new Map([
        ['lamp', 0],
        ['sea', 1],
      ]),
      vectors: new Float32Array([0.5, -1, 0.25, 2, 0, -2]),
      ranks: new Uint32Array([7, 42]),
      sourceSize: 1000,
    };
    const back = decodeWordVectors(encodeWordVectors(table));
    expect([...back.index]).toEqual([...table.index]);
    expect([...back.ranks]).toEqual([7, 42]);
    expect(back.sourceSize).toBe(1000);
    for (const [i, v] of table.vectors.entries()) expect(back.vectors[i]).toBeCloseTo(v, 2);
    expect(() => decodeWordVectors(Buffer.from('not a table'))).toThrow(/bad magic/);
  });
});

describe('the word-vector embedder on the packaged vectors', () => {
  let dir: string;
  let embedder: WordVectorEmbedder;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'falsafa-wv-'));
    // A small vocabulary keeps the conversion quick; the file is made once, then read.
    const table = loadWordVectors({ cacheDir: dir, vocabulary: 20_000 });
    expect(table.converted).toBe(true);
    expect(loadWordVectors({ cacheDir: dir, vocabulary: 20_000 }).converted).toBe(false);
    embedder = new WordVectorEmbedder(table);
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('converts the package once into one file in the cache directory', async () => {
    expect((await readdir(dir)).filter((f) => f.endsWith('.fwv'))).toHaveLength(1);
    expect(embedder.dimension).toBe(100);
  });

  it('puts a paraphrase closer than an unrelated sentence, with no word in common', async () => {
    const [a, paraphrase, unrelated] = await embedder.embed([
      'The cat rested on the carpet.',
      'A kitten slept upon a rug.',
      'Treasury bonds fell after the announcement.',
    ]);
    expect(cos(a!, paraphrase!)).toBeGreaterThan(cos(a!, unrelated!) + 0.2);
  });

  it('gives unit vectors, the zero vector for a text of unknown words, and the same vector twice', () => {
    const v = embedder.embedOne('Why did the ferry stop running?');
    expect(Math.hypot(...v)).toBeCloseTo(1, 6);
    expect(embedder.embedOne('Why did the ferry stop running?')).toEqual(v);
    expect(embedder.embedOne('zzqxv qqwzx')).toEqual(new Array(100).fill(0));
  });

  it('removes the common component: it is orthogonal to every text vector', () => {
    const v = embedder.embedOne('She walked down to the harbour at dawn.');
    const u = [...embedder.commonComponent];
    expect(Math.hypot(...u)).toBeCloseTo(1, 6);
    expect(Math.abs(cos(v, u))).toBeLessThan(1e-6);
  });
});
