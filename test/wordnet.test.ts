import { describe, expect, it } from 'vitest';
import { baseForms, parseIndex, parseSynsetLine, sharedWordNet } from '../src/chat/wordnet.js';

describe('WordNet related words', () => {
  const related = sharedWordNet().related;

  it('gives synonyms, hypernyms and hyponyms from the installed database', () => {
    expect([...related('timepiece')]).toEqual(expect.arrayContaining(['clock', 'watch']));
    expect(related('downpour').has('rain')).toBe(true);
    expect(related('contest').has('trial')).toBe(true);
    expect(related('dad').has('father')).toBe(true);
  });

  it('finds an inflected word by its base form, leaves out the word itself and phrases', () => {
    expect(related('timepieces').has('clock')).toBe(true);
    for (const w of related('timepiece')) {
      expect(w).not.toContain('_');
      expect(w).not.toBe('timepiece');
    }
  });

  it('knows nothing of a made-up word', () => {
    expect(related('brindleferry').size).toBe(0);
  });

  it('memoises: the same set for the same word', () => {
    expect(related('vessel')).toBe(related('vessel'));
  });
});

describe('WordNet file parsing', () => {
  it('reads a data line: lemmas (hex count, markers dropped) and pointers', () => {
    const line =
      '04445087 06 n 03 Timepiece 0 timekeeper 0 horologe(p) 0 002 @ 03739416 n 0000 ~ 03050242 n 0000 | a measuring instrument';
    expect(parseSynsetLine(line)).toEqual({
      lemmas: ['timepiece', 'timekeeper', 'horologe'],
      pointers: [
        { symbol: '@', offset: 3739416, part: 'noun' },
        { symbol: '~', offset: 3050242, part: 'noun' },
      ],
    });
  });

  it('reads index lines, skipping the licence header', () => {
    const text =
      '  1 This software and database\ntimepiece n 1 3 @ ~ %p 1 1 04445087  \nclock n 1 2 @ ~ 1 1 03050242  \n';
    expect(parseIndex(text)).toEqual(
      new Map([
        ['timepiece', [4445087]],
        ['clock', [3050242]],
      ]),
    );
  });

  it('derives the base forms of regular inflections', () => {
    expect(baseForms('clocks')).toEqual(['clocks', 'clock']);
    expect(baseForms('ignored')).toEqual(['ignored', 'ignor', 'ignore']);
    expect(baseForms('parties')).toEqual(['parties', 'party', 'parti', 'partie']);
    expect(baseForms('glass')).toEqual(['glass']);
  });
});
