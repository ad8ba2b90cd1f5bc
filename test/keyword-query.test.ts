import { describe, expect, it } from 'vitest';
import { keywordSearch, keywordWords, MAX_WORDS } from '../src/chat/keyword-query.js';

/** The keyword query builder shared by searchBook and the chat turn (a pure function). */
describe('keywordWords', () => {
  it('leaves stopwords, contractions and one-letter words out', () => {
    expect(keywordWords("What did the keeper's apprentice find, and why didn't she say?")).toEqual([
      'apprentice',
      'keeper',
      'find',
      'say',
    ]);
    expect(keywordWords('What is it, and who was there?')).toEqual([]);
  });

  it('cuts words as Typesense does: symbols inside a word dropped, lowercased, diacritics stripped', () => {
    expect(keywordWords('forty-one clocks, Café-Über U.S.A.')).toEqual([
      'fortyone',
      'cafeuber',
      'clocks',
      'usa',
    ]);
  });

  it('puts longer words first (equal lengths in the text order) and keeps each word once', () => {
    expect(keywordWords("Where did the boatman meet Osric Pell? The boatman's boat left.")).toEqual(
      ['boatman', 'osric', 'meet', 'pell', 'boat', 'left'],
    );
  });

  it('sends only bare words: quotes, exclusions, wildcards and filters cannot get through', () => {
    const words = keywordWords('"lamp room" -storm * `x` chunk_index:>=0 && (a || b) \\"');
    expect(words).toEqual(['chunkindex0', 'storm', 'lamp', 'room']);
    for (const w of words) expect(w).toMatch(/^[\p{Ll}\p{Lo}\p{N}]+$/u);
  });

  it(`keeps at most ${MAX_WORDS} words`, () => {
    const many = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
    // w10 … w29 are longer than w0 … w9: the first ten of those.
    expect(keywordWords(many)).toEqual(Array.from({ length: MAX_WORDS }, (_, i) => `w${i + 10}`));
  });
});

describe('keywordSearch', () => {
  it('makes the Typesense parameters, with drop_tokens_threshold at the candidates wanted', () => {
    expect(keywordSearch('Why did the lamp go out in the storm?', 20)).toEqual({
      q: 'storm lamp go',
      query_by: 'text,chapter',
      query_by_weights: '2,1',
      drop_tokens_threshold: 20,
      typo_tokens_threshold: 1,
      num_typos: '1',
      prefix: 'false',
      text_match_type: 'max_score',
    });
  });

  it('makes no search for a question of stopwords only', () => {
    expect(keywordSearch('What was that?', 20)).toBeNull();
    expect(keywordSearch('  "" - * ', 20)).toBeNull();
  });
});
