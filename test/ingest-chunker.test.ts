import { describe, expect, it } from 'vitest';
import { type Chunk, chunkText, headingTitle } from '../src/ingest/chunker.js';

/** Checks every contract of chunkText on one text; returns the chunks. */
function checked(text: string, options: Parameters<typeof chunkText>[1] = {}): Chunk[] {
  const target = options.targetChars ?? 1200;
  const overlap = options.overlapChars ?? 200;
  const max = options.maxChars ?? target + overlap;
  const chunks = chunkText(text, options);
  const covered = new Uint8Array(text.length);
  chunks.forEach((chunk, i) => {
    expect(chunk.chunkIndex).toBe(i);
    expect(text.slice(chunk.start, chunk.end)).toBe(chunk.text);
    expect(chunk.text.length).toBeGreaterThan(0);
    expect(chunk.text.length).toBeLessThanOrEqual(max);
    expect(chunk.text).toBe(chunk.text.trim());
    // Never inside a word: the characters around the chunk are whitespace or the text's ends.
    expect(chunk.start === 0 || /\s/.test(text[chunk.start - 1]!)).toBe(true);
    expect(chunk.end === text.length || /\s/.test(text[chunk.end]!)).toBe(true);
    for (let p = chunk.start; p < chunk.end; p++) covered[p] = 1;
    const previous = chunks[i - 1];
    if (previous) {
      expect(chunk.start).toBeGreaterThan(previous.start);
      expect(chunk.end).toBeGreaterThan(previous.end);
      expect(previous.end - chunk.start).toBeLessThanOrEqual(overlap);
    }
  });
  for (let p = 0; p < text.length; p++) {
    if (!/\s/.test(text[p]!) && !covered[p]) {
      throw new Error(`character ${p} (${JSON.stringify(text.slice(p, p + 20))}) is in no chunk`);
    }
  }
  return chunks;
}

const sentence = (i: number) =>
  `Sentence number ${i} tells of the ${['harbour', 'mill', 'orchard', 'tower'][i % 4]} and what happened there.`;
const paragraph = (from: number, n: number) =>
  Array.from({ length: n }, (_, k) => sentence(from + k)).join(' ');

describe('chunkText', () => {
  it('returns nothing for empty or blank text', () => {
    expect(chunkText('')).toEqual([]);
    expect(chunkText(' \n\n \t')).toEqual([]);
  });

  it('keeps a short text in one chunk with its exact offsets', () => {
    const text = '\n\n  Hello there. General Kenobi!  \n';
    const [chunk, ...rest] = checked(text);
    expect(rest).toEqual([]);
    expect(chunk).toEqual({
      chunkIndex: 0,
      text: 'Hello there. General Kenobi!',
      chapter: null,
      start: 4,
      end: 32,
    });
  });

  it('overlaps consecutive chunks starting at a sentence boundary', () => {
    const text = Array.from({ length: 12 }, (_, p) => paragraph(p * 6, 6)).join('\n\n');
    const chunks = checked(text, { targetChars: 500, overlapChars: 150 });
    expect(chunks.length).toBeGreaterThan(5);
    let overlapping = 0;
    for (let i = 1; i < chunks.length; i++) {
      const { start } = chunks[i]!;
      if (start < chunks[i - 1]!.end) {
        overlapping++;
        expect(chunks[i]!.text).toMatch(/^Sentence number \d+/);
        expect(text.slice(0, start)).toMatch(/[.!?]\s+$/);
      }
      expect(chunks[i]!.text.length).toBeLessThanOrEqual(500 + 150);
    }
    expect(overlapping).toBe(chunks.length - 1);
  });

  it('has no overlap when overlapChars is 0', () => {
    const text = paragraph(0, 60);
    const chunks = checked(text, { targetChars: 400, overlapChars: 0 });
    for (let i = 1; i < chunks.length; i++) {
      expect(chunks[i]!.start).toBeGreaterThanOrEqual(chunks[i - 1]!.end);
    }
  });

  it('prefers to end a chunk at a paragraph break', () => {
    const text = [paragraph(0, 4), paragraph(4, 4), paragraph(8, 4)].join('\n\n');
    const chunks = checked(text, { targetChars: 700, overlapChars: 0 });
    // Two paragraphs fit; the third would be cut mid-way, so the chunk ends at the break before it.
    expect(chunks[0]!.end).toBe(text.indexOf('\n\n', text.indexOf('\n\n') + 2));
    expect(chunks[1]!.start).toBe(chunks[0]!.end + 2);
  });

  it('detects chapters and carries them into every chunk of the chapter', () => {
    const text = [
      '# The Salt Road',
      '## Chapter 1: Arrival',
      paragraph(0, 20),
      'CHAPTER IV',
      paragraph(20, 20),
      'Part One',
      paragraph(40, 3),
      'Chapter the First. In Which Nothing Happens',
      paragraph(50, 2),
    ].join('\n\n');
    const chunks = checked(text, { targetChars: 600, overlapChars: 120 });
    const chapters = [...new Set(chunks.map((c) => c.chapter))];
    expect(chapters).toEqual([
      'Chapter 1: Arrival',
      'CHAPTER IV',
      'Part One',
      'Chapter the First. In Which Nothing Happens',
    ]);
    expect(
      chunks[0]!.text.startsWith('# The Salt Road\n\n## Chapter 1: Arrival\n\nSentence number 0'),
    ).toBe(true);
    const chapterFour = chunks.find((c) => c.chapter === 'CHAPTER IV')!;
    expect(chapterFour.text.startsWith('CHAPTER IV')).toBe(true);
    // No chunk reaches back across a heading into the previous chapter.
    for (const chunk of chunks) {
      const headingAt = chunk.text.search(/\n\n(CHAPTER IV|Part One|Chapter the First)/);
      expect(headingAt).toBe(-1);
    }
    expect(chunks.filter((c) => c.chapter === 'Chapter 1: Arrival').length).toBeGreaterThan(2);
  });

  it('joins a chapter line and the short title under it into one heading', () => {
    const text = `CHAPTER I.\nDown the Well\n\n${paragraph(0, 3)}\n\nCHAPTER II.\nTHE SEA.\n\n${paragraph(3, 3)}`;
    const chunks = checked(text, { targetChars: 200, overlapChars: 40 });
    expect([...new Set(chunks.map((c) => c.chapter))]).toEqual([
      'CHAPTER I. Down the Well',
      'CHAPTER II. THE SEA.',
    ]);
    const prose = 'Chapter 3\nShe ran home, and the door was open.\n\nMore.';
    expect(checked(prose).map((c) => c.chapter)).toEqual([null]);
  });

  it('does not take a sentence that starts with "Part of" for a heading', () => {
    expect(headingTitle('Part of the wall fell.', true)).toBeNull();
    expect(headingTitle('Chapter 3', false)).toBeNull();
    expect(headingTitle('Chapter Twenty-One', true)).toBe('Chapter Twenty-One');
    expect(headingTitle('### Epilogue ###', false)).toBe('Epilogue');
    expect(headingTitle('Prologue: The Well', true)).toBe('Prologue: The Well');
    const text = `${paragraph(0, 3)}\n\nPart of the wall fell on the road.\n\n${paragraph(3, 3)}`;
    expect(checked(text).every((c) => c.chapter === null)).toBe(true);
  });

  it('cuts an overlong sentence at word boundaries and an unbroken token hard', () => {
    const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const chunks = checked(`${long}.`, { targetChars: 300, overlapChars: 50 });
    expect(chunks.length).toBeGreaterThan(8);
    const token = 'x'.repeat(1000);
    const hard = chunkText(`Start. ${token} end.`, { targetChars: 200, overlapChars: 20 });
    expect(hard.map((c) => c.text).join('')).toContain('x'.repeat(150));
    for (const chunk of hard) expect(chunk.text.length).toBeLessThanOrEqual(220);
  });

  it('handles script-style and unpunctuated text', () => {
    const script = Array.from(
      { length: 80 },
      (_, i) => `MIRA: line ${i} of the play\nTOMAS: answer ${i}`,
    ).join('\n');
    checked(script, { targetChars: 400, overlapChars: 80 });
    const poem = Array.from({ length: 300 }, (_, i) => `the wind ${i} over the water`).join('\n');
    checked(poem, { targetChars: 250, overlapChars: 40 });
  });

  it('is deterministic', () => {
    const text = Array.from({ length: 30 }, (_, p) => paragraph(p * 5, 5)).join('\n\n');
    expect(chunkText(text, { targetChars: 300, overlapChars: 60 })).toEqual(
      chunkText(text, { targetChars: 300, overlapChars: 60 }),
    );
  });

  it('rejects nonsensical options', () => {
    expect(() => chunkText('x', { targetChars: 100, overlapChars: 100 })).toThrow(RangeError);
    expect(() => chunkText('x', { targetChars: 100, maxChars: 50 })).toThrow(RangeError);
  });

  it('chunks a megabyte of text to its end (its speed: npm run bench, section 9)', () => {
    const chapters: string[] = [];
    let length = 0;
    for (let n = 0; length < 1_000_000; n++) {
      chapters.push(`# Chapter ${n + 1}`);
      for (let p = 0; p < 20; p++) {
        chapters.push(paragraph((n * 20 + p) * 7, 7));
        length += chapters.at(-1)!.length + 2;
      }
    }
    const text = chapters.join('\n\n');
    const chunks = chunkText(text);
    expect(chunks.length).toBeGreaterThan(700);
    expect(chunks.at(-1)!.end).toBe(text.length);
  });
});
