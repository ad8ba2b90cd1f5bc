import { searchQueries } from '../chat/keyword-query.js';
import type { HybridRetriever } from '../chat/retrieval.js';
import { badInput, notFound, parseId } from '../errors.js';
import type { Loaders } from '../loaders.js';
import { codePoints, isBlank } from '../util/text.js';
import { requireCompletedBook } from './chat-access.js';

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
  args: { bookId: string; query: string; limit?: number | null | undefined },
  limits: Pick<SearchLimits, 'messageMaxChars' | 'keep'>,
): { bookId: string; query: string; keep: number } {
  const bookId = parseId(args.bookId, 'bookId');
  const query = args.query.trim();
  if (isBlank(query)) throw badInput('query must not be empty', 'query');
  if (codePoints(query) > limits.messageMaxChars) throw badInput('query is too long', 'query');
  const keep = args.limit ?? limits.keep;
  if (!Number.isInteger(keep) || keep < 1 || keep > 50)
    throw badInput('limit must be between 1 and 50', 'limit');
  return { bookId, query, keep };
}

/** The hybrid retrieval alone over a completed book, for readers and for debugging. */
export class SearchService {
  constructor(
    private readonly deps: { retriever: HybridRetriever; limits: SearchLimits },
    private readonly loaders: Pick<Loaders, 'book'>,
  ) {}

  async search(args: {
    bookId: string;
    query: string;
    limit?: number | null | undefined;
  }): Promise<SearchPassage[]> {
    const { limits, retriever } = this.deps;
    const { bookId, query, keep } = parseSearch(args, limits);
    const book = await this.loaders.book.load(bookId);
    if (!book) throw notFound('Book', bookId);
    requireCompletedBook(book, 'search');
    const { passages } = await retriever.retrieve(book.id, searchQueries(query), {
      candidates: Math.max(limits.candidates, keep),
      keep,
    });
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
