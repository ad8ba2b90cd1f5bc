/**
 * Splits a book's text into ordered, overlapping chunks for retrieval.
 *
 * Contract: chunks come in text order, `chunkIndex` from 0; `text.slice(start, end) === chunk.text`
 * exactly; every non-whitespace character of the text is in at least one chunk; a chunk never
 * starts or ends inside a word (unless one "word" alone is longer than `maxChars`) and is at most
 * `maxChars` long. Chunks grow sentence by sentence up to about `targetChars`, preferring to end at
 * a paragraph break; the next chunk repeats up to `overlapChars` of the previous one, starting at a
 * sentence boundary where one fits (else at a word boundary). A chapter heading (Markdown `#`,
 * `Chapter 4`, `CHAPTER IV`, `Part One`, `Prologue`...) starts a new chunk, is never overlapped
 * across, and names the `chapter` of every chunk until the next heading. Deterministic; linear.
 */
import { sentenceSpans } from '../providers/text.js';

export interface Chunk {
  chunkIndex: number;
  text: string;
  chapter: string | null;
  start: number;
  end: number;
}

interface ChunkOptions {
  targetChars?: number;
  overlapChars?: number;
  /** Hard ceiling for one chunk; default `targetChars + overlapChars`. */
  maxChars?: number;
}

interface Atom {
  start: number;
  end: number;
  /** First sentence of a paragraph. */
  paragraphStart: boolean;
  /** The chapter title, when this atom is a heading line. */
  heading: string | null;
}

export function chunkText(text: string, options: ChunkOptions = {}): Chunk[] {
  const target = options.targetChars ?? 1200;
  const overlap = options.overlapChars ?? 200;
  const max = options.maxChars ?? target + overlap;
  if (!(target >= 20) || !(overlap >= 0) || overlap >= target || max < target) {
    throw new RangeError(
      `bad chunk options: targetChars ${target} (>= 20), overlapChars ${overlap} (< targetChars), ` +
        `maxChars ${max} (>= targetChars)`,
    );
  }
  const atoms = atomize(text, target);
  const chunks: Chunk[] = [];
  let chapter: string | null = null;
  // The chunk being built is [start, end); `fresh` when it holds text no earlier chunk has.
  let start = -1;
  let end = -1;
  let fresh = false;
  let hasContent = false;
  let headingEnd = -1;
  let paragraphBreaks: number[] = [];

  const emit = () => {
    chunks.push({ chunkIndex: chunks.length, text: text.slice(start, end), chapter, start, end });
  };
  const reset = (from: number) => {
    start = from;
    end = from;
    fresh = false;
    hasContent = false;
    paragraphBreaks = [];
  };

  for (let i = 0; i < atoms.length; i++) {
    const atom = atoms[i]!;
    if (atom.heading !== null) {
      // A heading closes the chunk before it (no overlap across chapters); headings that follow
      // one another ("# Part One", "## Chapter 1") share the chunk that follows them.
      if (hasContent) {
        emit();
        reset(-1);
      } else if (!fresh) {
        reset(-1);
      }
      if (start < 0) start = atom.start;
      end = atom.end;
      fresh = true;
      headingEnd = atom.end;
      chapter = atom.heading;
      continue;
    }
    if (start < 0) {
      start = atom.start;
    } else if (atom.end - start > target) {
      if (hasContent) {
        // Full: end at the last paragraph break past half the target, else before this atom.
        const brk = paragraphBreaks.findLast((k) => atoms[k - 1]!.end - start >= target / 2);
        const last = brk === undefined ? i - 1 : brk - 1;
        end = atoms[last]!.end;
        emit();
        const next = atoms[last + 1];
        const from = overlapStart(
          text,
          atoms,
          last,
          start,
          Math.max(headingEnd, start),
          overlap,
          next ? next.end - max : 0,
        );
        reset(from);
        i = last;
        continue;
      }
      if (atom.end - start > max) {
        // Only overlap or headings so far and this atom does not fit with them: drop the overlap,
        // or give the headings a chunk of their own.
        if (fresh) emit();
        reset(atom.start);
      }
    }
    if (start < 0) start = atom.start;
    if (atom.paragraphStart && hasContent) paragraphBreaks.push(i);
    end = atom.end;
    fresh = true;
    hasContent = true;
  }
  if (fresh) emit();
  return chunks;
}

/**
 * Where the chunk after atom `last` starts: the earliest sentence start whose overlap fits in
 * `overlap` chars (and keeps the next atom within `minStart`), else the first word start in the
 * last `overlap` chars; -1 for no overlap. Always after `floor`, so chunks make progress.
 */
function overlapStart(
  text: string,
  atoms: readonly Atom[],
  last: number,
  chunkStart: number,
  floor: number,
  overlap: number,
  minStart: number,
): number {
  if (overlap <= 0) return -1;
  const end = atoms[last]!.end;
  let best = -1;
  for (let k = last; k >= 0; k--) {
    const atom = atoms[k]!;
    if (atom.start <= chunkStart || atom.start < floor || atom.heading !== null) break;
    if (end - atom.start > overlap || atom.start < minStart) break;
    best = atom.start;
  }
  if (best >= 0) return best;
  const lo = Math.max(end - overlap, floor + 1, chunkStart + 1, minStart);
  for (let p = lo; p < end; p++) {
    if (isSpace(text.charCodeAt(p - 1)) && !isSpace(text.charCodeAt(p))) return p;
  }
  return -1;
}

/** Sentences (long ones cut at line or word breaks to at most `pieceMax`) and heading lines. */
function atomize(text: string, pieceMax: number): Atom[] {
  const atoms: Atom[] = [];
  let paragraphStart = -1;
  let paragraphEnd = -1;
  const flush = () => {
    if (paragraphStart < 0) return;
    let first = true;
    for (const [s, e] of sentenceSpans(text, paragraphStart, paragraphEnd)) {
      for (const [ps, pe] of splitLong(text, s, e, pieceMax)) {
        atoms.push({ start: ps, end: pe, paragraphStart: first, heading: null });
        first = false;
      }
    }
    paragraphStart = -1;
  };
  const lines = /[^\n]*(?:\n|$)/g;
  for (let m = lines.exec(text); m !== null && m[0] !== ''; m = lines.exec(text)) {
    const lineStart = m.index;
    const raw = m[0].endsWith('\n') ? m[0].slice(0, -1) : m[0];
    const trimmed = raw.trim();
    if (trimmed === '') {
      flush();
      continue;
    }
    const s = lineStart + raw.search(/\S/);
    const e = s + trimmed.length;
    const title = headingTitle(
      trimmed,
      paragraphStart < 0 && nextLineBlank(text, lineStart + m[0].length),
    );
    if (title !== null) {
      flush();
      atoms.push({ start: s, end: e, paragraphStart: true, heading: title });
      continue;
    }
    const titled =
      paragraphStart < 0 ? titledChapter(text, trimmed, lineStart + m[0].length) : null;
    if (titled !== null) {
      // "CHAPTER I." with its title on the next line, then a blank line: one heading.
      flush();
      atoms.push({ start: s, end: titled.end, paragraphStart: true, heading: titled.title });
      lines.lastIndex = titled.next;
      continue;
    }
    if (paragraphStart < 0) paragraphStart = s;
    paragraphEnd = e;
  }
  flush();
  return atoms;
}

const NUMBER_WORDS =
  'one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|' +
  'sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|first|second|third|fourth|' +
  'fifth|sixth|seventh|eighth|ninth|tenth|last|the\\s+first|the\\s+second|the\\s+third|the\\s+last';
const CHAPTER_LINE = new RegExp(
  `^(?:chapter|part|book|section|act)\\s+(?:\\d+|[ivxlcdm]+|(?:${NUMBER_WORDS})(?:[-\\s](?:${NUMBER_WORDS}))?)\\b\\.?(?:\\s*[:.\\-—–]\\s*\\S.*|\\s+\\S.*)?$`,
  'i',
);
const NAMED_PART =
  /^(?:prologue|epilogue|interlude|introduction|preface|afterword)\b\.?(?:\s*[:.\-—–]\s*\S.*)?$/i;

/**
 * The chapter title a line stands for, or null. Markdown headings count anywhere; `Chapter X`
 * style lines only when they stand alone (`standalone`: their own paragraph) and are short.
 */
export function headingTitle(line: string, standalone: boolean): string | null {
  const markdown = /^#{1,6}\s+(.*?)\s*#*$/.exec(line);
  if (markdown) return markdown[1]?.trim() || null;
  if (!standalone || line.length > 80) return null;
  if (CHAPTER_LINE.test(line) || NAMED_PART.test(line)) return line.replace(/\s+/g, ' ');
  if (/^[IVXLC]{1,7}\.?$/.test(line)) return line;
  return null;
}

/** A `Chapter X` line whose next line is a short title followed by a blank line (or the end). */
function titledChapter(
  text: string,
  line: string,
  nextStart: number,
): { title: string; end: number; next: number } | null {
  if (line.startsWith('#') || headingTitle(line, true) === null) return null;
  const nl = text.indexOf('\n', nextStart);
  const next = text.slice(nextStart, nl < 0 ? text.length : nl);
  const title = next.trim();
  if (
    title === '' ||
    title.length > 80 ||
    (/[.,;:!?]$/.test(title) && !/^[\p{Lu}\d\s\p{P}]+$/u.test(title))
  ) {
    return null;
  }
  const after = nl < 0 ? text.length : nl + 1;
  if (!nextLineBlank(text, after) && after < text.length) return null;
  const end = nextStart + next.search(/\S/) + title.length;
  return { title: `${line.replace(/\s+/g, ' ')} ${title}`, end, next: after };
}

function nextLineBlank(text: string, from: number): boolean {
  const nl = text.indexOf('\n', from);
  const line = text.slice(from, nl < 0 ? text.length : nl);
  return line.trim() === '';
}

/** Cuts [s, e) into pieces of at most `max` chars, at a line break, else a space, else anywhere. */
function splitLong(text: string, s: number, e: number, max: number): [number, number][] {
  const pieces: [number, number][] = [];
  while (e - s > max) {
    const limit = s + max;
    let cut = text.lastIndexOf('\n', limit);
    if (cut <= s + max / 2) {
      cut = -1;
      for (let p = limit; p > s; p--) {
        if (isSpace(text.charCodeAt(p))) {
          cut = p;
          break;
        }
      }
    }
    if (cut <= s) {
      // One "word" longer than max: cut it, but never between a surrogate pair.
      cut = limit;
      const code = text.charCodeAt(cut - 1);
      if (code >= 0xd800 && code <= 0xdbff) cut--;
    }
    let pieceEnd = cut;
    while (pieceEnd > s && isSpace(text.charCodeAt(pieceEnd - 1))) pieceEnd--;
    pieces.push([s, pieceEnd]);
    s = cut;
    while (s < e && isSpace(text.charCodeAt(s))) s++;
  }
  if (e > s) pieces.push([s, e]);
  return pieces;
}

/** Exactly the characters of the regex class `\s`, as sentence splitting sees them. */
function isSpace(code: number): boolean {
  if (code <= 32) return code === 32 || (code >= 9 && code <= 13);
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}
