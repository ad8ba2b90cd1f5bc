import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rerankPassages } from '../src/chat/rerank.js';
import { SoftMatcher } from '../src/chat/soft-match.js';
import type { RelatedWords } from '../src/chat/wordnet.js';
import { loadWordVectors } from '../src/providers/word-vectors.js';

/** The rerank's soft word match over the shipped word vectors (`src/chat/soft-match.ts`). */
let dir: string;
let matcher: SoftMatcher;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'falsafa-soft-match-'));
  matcher = new SoftMatcher(loadWordVectors({ cacheDir: dir }));
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SoftMatcher', () => {
  it('scores a passage with a word of like meaning above one without, and the same word highest', () => {
    const [doctor, road, physician] = matcher.scores(
      'Which physician came?',
      ['The doctor came at night.', 'The road was long and wet.', 'The physician came at night.'],
      null,
    );
    expect(doctor).toBeGreaterThan(0);
    expect(road).toBe(0);
    expect(physician).toBeGreaterThan(doctor!);
    expect(physician).toBeLessThanOrEqual(1);
  });

  it('gives a WordNet related word at least its floor, and nothing for a query of stopwords', () => {
    const texts = ['She did not marry him.'];
    const related: RelatedWords = (w) => new Set(w === 'wed' ? ['marry'] : []);
    const [without] = matcher.scores('wed', texts, null);
    const [withRelated] = matcher.scores('wed', texts, related);
    expect(withRelated).toBeGreaterThanOrEqual(0.5);
    expect(withRelated).toBeGreaterThanOrEqual(without!);
    expect(matcher.scores('what is the of it', texts, null)).toEqual([0]);
  });

  it("splits a passage's score into the whole passage's and its best window's", () => {
    const filler = 'Nothing else happened that day. The gulls were loud. Rain fell on the roofs.';
    const text = `The keeper rang the bell. ${filler} A storm came.`;
    const [parts] = matcher.parts('keeper storm bell', [text], null);
    // The whole passage has all three words; no window of three sentences has the storm too.
    expect(parts!.whole).toBeCloseTo(1, 12);
    expect(parts!.window).toBeLessThan(1);
    expect(parts!.window).toBeGreaterThan(0);
    expect(matcher.scores('keeper storm bell', [text], null)[0]).toBeCloseTo(
      0.3 * parts!.whole + 0.7 * parts!.window,
      12,
    );
    expect(matcher.parts('what is it', [text], null)).toEqual([{ whole: 0, window: 0 }]);
  });

  it('prefers the matches in one place to the same matches scattered over the passage', () => {
    const filler = 'Nothing else happened that day. The gulls were loud. Rain fell on the roofs.';
    const together = `The keeper rang the storm bell. ${filler} ${filler}`;
    const scattered = `The keeper slept. ${filler} A storm came. ${filler} A bell hung there.`;
    const [a, b] = matcher.scores('keeper storm bell', [together, scattered], null);
    expect(a).toBeGreaterThan(b!);
  });

  it('lifts a paraphrased passage over a fused ranking that missed it', () => {
    const texts = ['The gulls wheeled over the harbour.', 'The doctor came up the hill at dawn.'];
    const fusedList = texts.map((text, i) => ({
      chunk: { book_id: 'b', chunk_index: i, text, chapter: null, start: 0, end: text.length },
      score: 0.05 - i * 0.01,
      vectorRank: i + 1,
      keywordRank: null,
    }));
    const none: RelatedWords = () => new Set();
    const q = 'When did the physician arrive?';
    expect(rerankPassages(q, fusedList, 2, none).map((p) => p.chunk.chunk_index)).toEqual([0, 1]);
    const soft = rerankPassages(q, fusedList, 2, none, { softMatch: matcher });
    expect(soft.map((p) => p.chunk.chunk_index)).toEqual([1, 0]);
  });
});
