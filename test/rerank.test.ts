import { describe, expect, it } from 'vitest';
import type { FusedPassage } from '../src/chat/fusion.js';
import { lexicalScores, rerankPassages } from '../src/chat/rerank.js';
import type { RelatedWords } from '../src/chat/wordnet.js';

const none: RelatedWords = () => new Set();
const thesaurus: RelatedWords = (w) =>
  new Set(({ timepiece: ['clock', 'watch'], storm: ['tempest'] } as Record<string, string[]>)[w]);

/** Fused passages with these texts, best first, fused scores falling by 0.01 from 0.05. */
function fused(...texts: string[]): FusedPassage[] {
  return texts.map((text, i) => ({
    chunk: { book_id: 'b', chunk_index: i, text, chapter: null, start: 0, end: text.length },
    score: 0.05 - i * 0.01,
    vectorRank: i + 1,
    keywordRank: null,
  }));
}
const order = (ps: FusedPassage[]) => ps.map((p) => p.chunk.chunk_index);

describe('lexicalScores', () => {
  it('is Okapi BM25 over the given texts, stopwords and possessives left out', () => {
    const texts = ['the lighthouse keeper', 'a keeper of bees', 'nothing stirred'];
    const [a, b, c] = lexicalScores("The lighthouse's keeper", texts, null);
    // n = 3; "lighthouse" in 1 text, "keeper" in 2; lengths 2, 2, 2 (avg 2): tf part = 1.
    const idf = (df: number) => Math.log(1 + (3 - df + 0.5) / (df + 0.5));
    expect(a).toBeCloseTo(idf(1) + idf(2), 12);
    expect(b).toBeCloseTo(idf(2), 12);
    expect(c).toBe(0);
  });

  it('counts a related word at its weight, and a word with its synonym once', () => {
    const texts = ['an old clock ticked', 'a timepiece and a clock', 'rain fell'];
    const [withRelated, both] = lexicalScores('timepiece', texts, thesaurus, 0.5);
    const [without] = lexicalScores('timepiece', texts, none, 0.5);
    expect(without).toBe(0);
    expect(withRelated).toBeGreaterThan(0);
    // The best of the word (weight 1) and `clock` (0.5) in the second text, not their sum.
    const onlyOwn = lexicalScores('timepiece', texts, none)[1]!;
    expect(both).toBeCloseTo(Math.max(onlyOwn, 0.5 * lexicalScores('clock', texts, none)[1]!), 12);
    expect(lexicalScores('timepiece', [], thesaurus)).toEqual([]);
  });
});

describe('lexicalScores and word forms', () => {
  it('matches a word in another form (its stem), and a word and its other form count once', () => {
    const texts = ['She had commanded the boat for years', 'the gulls cried', 'a command given'];
    const [commanded, none, command] = lexicalScores(
      'Who was in command of the boat?',
      texts,
      null,
    );
    expect(commanded).toBeGreaterThan(0);
    expect(none).toBe(0);
    // "command" and "commanded" are one query word: the text with both of the question's words
    // scores above the one with only "command".
    expect(commanded).toBeGreaterThan(command!);
    const [once] = lexicalScores('command commanded', texts, null);
    const [single] = lexicalScores('command', texts, null);
    expect(once).toBeCloseTo(single!, 12);
  });
});

describe('rerankPassages', () => {
  it('moves the passage that matches the question up among the candidates', () => {
    const ps = fused('gulls and wind', 'the lamp was lit', 'the keeper rang the storm bell', 'fog');
    const out = rerankPassages('Who rang the bell in the storm?', ps, 3, none);
    expect(order(out)).toEqual([2, 0, 1]);
    // No vector scores and no soft matcher: 1/3 × min-max fused + 2/3 × lexical / best, falling.
    expect(out[0]!.score).toBeCloseTo((1 / 3) * (1 / 3) + 2 / 3, 12);
    expect(out[1]!.score).toBeCloseTo(1 / 3, 12);
    expect(out.map((p) => p.score)).toEqual([...out.map((p) => p.score)].sort((x, y) => y - x));
    // The fused ranks are kept.
    expect(out[0]!.vectorRank).toBe(3);
  });

  it('matches through related words', () => {
    const ps = fused('the sea was calm', 'a tempest broke the mast', 'nets');
    expect(order(rerankPassages('What did the storm do?', ps, 3, none))).toEqual([0, 1, 2]);
    expect(order(rerankPassages('What did the storm do?', ps, 3, thesaurus))).toEqual([1, 0, 2]);
  });

  it('reorders every candidate: the last fused passage comes first when only it matches', () => {
    const texts = Array.from({ length: 30 }, (_, i) => `filler ${i}`);
    texts[29] = 'the storm bell rang';
    const out = rerankPassages('storm bell', fused(...texts), 6, none);
    expect(order(out)[0]).toBe(29);
    // With no word matched the fused order stands for the rest.
    expect(order(out).slice(1)).toEqual([0, 1, 2, 3, 4]);
  });

  it("uses the vector search's cosines, the lowest for a passage it did not return", () => {
    const ps = fused('a', 'b', 'c');
    // Fused order a, b, c; the cosines say c, then a; b (keyword only) gets the lowest, a's 0.5,
    // and the tie keeps the fused order.
    const vectorScores = new Map([
      [0, 0.5],
      [2, 0.9],
    ]);
    const out = rerankPassages('storm', ps, 3, none, { vectorWeight: 1, vectorScores });
    expect(order(out)).toEqual([2, 0, 1]);
    [1, 0, 0].forEach((x, i) => {
      expect(out[i]!.score).toBeCloseTo(x, 12);
    });
  });

  it('keeps the fused order with vector weight 1 and no cosines, and keeps `keep`', () => {
    const ps = fused('a', 'storm', 'b');
    const plain = rerankPassages('storm', ps, 3, none, { vectorWeight: 1 });
    expect(order(plain)).toEqual([0, 1, 2]);
    // Still scored in [0, 1]: the fused scores min-max scaled.
    [1, 0.5, 0].forEach((x, i) => {
      expect(plain[i]!.score).toBeCloseTo(x, 12);
    });
    expect(rerankPassages('storm', fused('storm'), 1, none)[0]!.score).toBe(1);
    expect(rerankPassages('storm', ps, 1, none)).toHaveLength(1);
    expect(rerankPassages('storm', [], 6, none)).toEqual([]);
  });
});
