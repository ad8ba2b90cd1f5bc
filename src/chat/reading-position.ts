import { AppError, badInput } from '../errors.js';
import type { ChunkOutline } from '../stores/chunks.js';

/** One section of a book as its headings divide it, numbered from 1 in book order. */
export interface Chapter {
  number: number;
  title: string;
  firstChunkIndex: number;
  lastChunkIndex: number;
}

/** How far a reader has read: through the end of a chapter, or a share of the text. */
export type ReadingPositionInput = { chapter: number } | { percent: number };

export interface ResolvedPosition {
  chapter: number | null;
  percent: number | null;
  /** The last chunk read in full; -1 when none is. */
  maxChunkIndex: number;
}

/**
 * The book's chapters from its chunks' outline: each run of chunks under one heading is a
 * chapter, in chunk order (a heading that comes back later starts a new one). Chunks before the
 * first heading belong to no chapter.
 */
export function chaptersOf(outline: readonly ChunkOutline[]): Chapter[] {
  const chunks = [...outline].sort((a, b) => a.chunk_index - b.chunk_index);
  const chapters: Chapter[] = [];
  let previous: string | null = null;
  for (const c of chunks) {
    const last = chapters.at(-1);
    if (c.chapter !== null && (c.chapter !== previous || !last)) {
      chapters.push({
        number: chapters.length + 1,
        title: c.chapter,
        firstChunkIndex: c.chunk_index,
        lastChunkIndex: c.chunk_index,
      });
    } else if (c.chapter !== null && last) {
      last.lastChunkIndex = c.chunk_index;
    }
    previous = c.chapter;
  }
  return chapters;
}

/**
 * A reading position checked against the book and resolved to the last chunk read in full.
 * `chapter: n` is through the end of the nth chapter (0: none read yet, only what comes before
 * the first heading); `percent: p` is the chunks that end within the first p% of the text.
 * Exactly one of the two; anything out of range (negative, past the last chapter, a percent
 * outside 0..100, not a finite number) is BAD_USER_INPUT.
 */
export function resolvePosition(
  input: { chapter?: number | null; percent?: number | null },
  outline: readonly ChunkOutline[],
): ResolvedPosition {
  const position = checkPositionShape(input);
  const chunks = [...outline].sort((a, b) => a.chunk_index - b.chunk_index);
  if ('chapter' in position) {
    const chapters = chaptersOf(chunks);
    if (position.chapter > chapters.length) {
      throw badInput(
        chapters.length === 0
          ? 'this book has no chapters; give the reading position as a percent'
          : `chapter must be between 0 and ${chapters.length}, the book's chapters`,
        'readingPosition.chapter',
      );
    }
    const maxChunkIndex =
      position.chapter === 0
        ? (chapters[0]?.firstChunkIndex ?? 0) - 1
        : chapters[position.chapter - 1]!.lastChunkIndex;
    return { chapter: position.chapter, percent: null, maxChunkIndex };
  }
  const length = chunks.reduce((n, c) => Math.max(n, c.end), 0);
  const upTo = (position.percent / 100) * length;
  let maxChunkIndex = -1;
  for (const c of chunks) if (c.end <= upTo) maxChunkIndex = Math.max(maxChunkIndex, c.chunk_index);
  return { chapter: null, percent: position.percent, maxChunkIndex };
}

/** The shape of a reading position alone (no book needed): exactly one field, in range. */
export function checkPositionShape(input: {
  chapter?: number | null;
  percent?: number | null;
}): ReadingPositionInput {
  const hasChapter = input.chapter !== undefined && input.chapter !== null;
  const hasPercent = input.percent !== undefined && input.percent !== null;
  if (hasChapter === hasPercent) {
    throw badInput('readingPosition takes exactly one of chapter and percent', 'readingPosition');
  }
  if (hasChapter) {
    const chapter = input.chapter as number;
    if (!Number.isInteger(chapter) || chapter < 0) {
      throw badInput('chapter must be a whole number from 0', 'readingPosition.chapter');
    }
    return { chapter };
  }
  const percent = input.percent as number;
  if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
    throw badInput('percent must be between 0 and 100', 'readingPosition.percent');
  }
  return { percent };
}

/** The sentence the character's prompt gets about how far the reader has read. */
export function positionLine(position: { chapter: number | null; percent: number | null }): string {
  const where =
    position.chapter !== null
      ? position.chapter === 0
        ? 'has not started the first chapter yet'
        : `has read up to the end of chapter ${position.chapter}`
      : `has read the first ${position.percent}% of the book`;
  return `The reader ${where}. Speak only of what happens up to there: never reveal, hint at or confirm anything that comes later in the book, even if asked.`;
}

/** What a session keeps of its reading position: the chapter or percent the reader set. */
export interface SavedPosition {
  reading_chapter: number | null;
  reading_percent: number | null;
}

const savedInput = (saved: SavedPosition) =>
  saved.reading_chapter !== null
    ? { chapter: saved.reading_chapter }
    : { percent: saved.reading_percent };

/**
 * The last chunk a saved position lets its session be shown, resolved on the book as it is
 * indexed now: processing a book again with another chunking moves its chunk indexes, so the
 * bound saved beside the position (`reading_max_chunk_index`) is never what retrieval trusts.
 * Null when no position is set (the whole book). A chapter the book no longer has is
 * FAILED_PRECONDITION (`reason: reading_position_outdated`): nothing is shown until the reader
 * sets the position again.
 */
export function boundNow(saved: SavedPosition, outline: readonly ChunkOutline[]): number | null {
  if (saved.reading_chapter === null && saved.reading_percent === null) return null;
  try {
    return resolvePosition(savedInput(saved), outline).maxChunkIndex;
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'BAD_USER_INPUT') throw err;
    throw new AppError(
      'FAILED_PRECONDITION',
      `The book was processed again and this session's reading position (chapter ${saved.reading_chapter}) is no longer in it (${chaptersOf(outline).length} chapters); set the reading position again`,
      { details: { reason: 'reading_position_outdated' } },
    );
  }
}

/**
 * The bound to save for a position after the book was indexed again: as `boundNow`, and -1
 * (nothing) for a chapter the book no longer has.
 */
export function savedBoundNow(
  saved: SavedPosition,
  outline: readonly ChunkOutline[],
): number | null {
  try {
    return boundNow(saved, outline);
  } catch (err) {
    if (err instanceof AppError && err.code === 'FAILED_PRECONDITION') return -1;
    throw err;
  }
}

/**
 * The session with `reading_max_chunk_index` bounded on the book as it is indexed now (see
 * `boundNow`); a session with no position is returned as it is.
 */
export async function withBoundNow<
  S extends SavedPosition & { book_id: string; reading_max_chunk_index: number | null },
>(session: S, outline: (bookId: string) => Promise<ChunkOutline[]>): Promise<S> {
  if (session.reading_chapter === null && session.reading_percent === null) return session;
  const bound = boundNow(session, await outline(session.book_id));
  return { ...session, reading_max_chunk_index: bound };
}
