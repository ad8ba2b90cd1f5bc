import type { Viewer } from '../auth.js';
import { searchQueries } from '../chat/keyword-query.js';
import { withBoundNow } from '../chat/reading-position.js';
import type { HybridRetriever } from '../chat/retrieval.js';
import { badInput, notFound, parseId } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type { ResponseWarnings } from '../observability/warnings.js';
import type { ChunkOutline } from '../stores/chunks.js';
import { codePoints, isBlank } from '../util/text.js';
import { requireCompletedBook, requireOwnSession } from './chat-access.js';

export interface SearchPassage {
  chunkIndex: number;
  text: string;
  chapter: string | null;
  start: number;
  end: number;
  score: number;
  vectorRank: number | null;
  keywordRank: number | null;
}

interface SearchLimits {
  messageMaxChars: number;
  /** Passages kept when no limit is given. */
  keep: number;
  /** Candidates each retriever returns before fusion. */
  candidates: number;
}

/** A search's book id, query (trimmed) and how many passages to keep; BAD_USER_INPUT otherwise. */
export function parseSearch(
  args: SearchArgs,
  limits: Pick<SearchLimits, 'messageMaxChars' | 'keep'>,
): { bookId: string; query: string; keep: number; sessionId: string | null } {
  const bookId = parseId(args.bookId, 'bookId');
  const sessionId = args.sessionId ? parseId(args.sessionId, 'sessionId') : null;
  const query = args.query.trim();
  if (isBlank(query)) throw badInput('query must not be empty', 'query');
  if (codePoints(query) > limits.messageMaxChars) throw badInput('query is too long', 'query');
  const keep = args.limit ?? limits.keep;
  if (!Number.isInteger(keep) || keep < 1 || keep > 50)
    throw badInput('limit must be between 1 and 50', 'limit');
  return { bookId, query, keep, sessionId };
}

/** searchBook's arguments as they arrive. */
export interface SearchArgs {
  bookId: string;
  query: string;
  limit?: number | null | undefined;
  /** The viewer's chat about this book whose reading position bounds the search. */
  sessionId?: string | null | undefined;
}

/**
 * The hybrid retrieval alone over a completed book, for readers and for debugging; with one of the
 * viewer's sessions of the book, only up to its reading position (another reader's session is
 * NOT_FOUND, one of another book BAD_USER_INPUT).
 */
export class SearchService {
  constructor(
    private readonly deps: {
      retriever: HybridRetriever;
      limits: SearchLimits;
      warnings: ResponseWarnings;
      /** The book's chunks as indexed now, for the reading position's bound. */
      outline: (bookId: string) => Promise<ChunkOutline[]>;
    },
    private readonly loaders: Pick<Loaders, 'book' | 'session'>,
  ) {}

  async search(viewer: Viewer, args: SearchArgs): Promise<SearchPassage[]> {
    const { limits, retriever } = this.deps;
    const { bookId, query, keep, sessionId } = parseSearch(args, limits);
    const owned = sessionId
      ? await requireOwnSession(this.loaders.session, viewer, sessionId)
      : null;
    if (owned && owned.book_id !== bookId) {
      throw badInput('sessionId is a chat about another book', 'sessionId');
    }
    const book = await this.loaders.book.load(bookId);
    if (!book) throw notFound('Book', bookId);
    requireCompletedBook(book, 'search');
    const session = owned ? await withBoundNow(owned, this.deps.outline) : null;
    const { passages, unavailable } = await retriever.retrieve(book.id, searchQueries(query), {
      candidates: Math.max(limits.candidates, keep),
      keep,
      maxChunkIndex: session?.reading_max_chunk_index,
    });
    this.deps.warnings.searchDegraded(unavailable);
    return passages.map((p) => ({
      chunkIndex: p.chunk.chunk_index,
      text: p.chunk.text,
      chapter: p.chunk.chapter,
      start: p.chunk.start,
      end: p.chunk.end,
      score: p.score,
      vectorRank: p.vectorRank,
      keywordRank: p.keywordRank,
    }));
  }
}
