import { type Chapter, chaptersOf } from '../chat/reading-position.js';
import type { Deps } from '../deps.js';
import { notFound } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type { BookRow, CategoryRow, CharacterRow, ProcessingStatusValue } from '../models.js';
import {
  type Connection,
  encodeCursor,
  forwardPage,
  type PageArgs,
  toConnection,
} from './pagination.js';

/**
 * Reads of the catalog: categories, books, characters. The catalog is readable by every signed-in
 * reader. Single rows go through the request's loaders (and so the Redis caches).
 */
export class CatalogService {
  constructor(
    private readonly deps: Deps,
    private readonly loaders: Loaders,
  ) {}

  async categories(): Promise<CategoryRow[]> {
    const cached = this.deps.caches.categories.get('all');
    if (cached) return cached;
    const rows = await this.deps.catalogStore.categories();
    this.deps.caches.categories.set('all', rows);
    return rows;
  }

  book(id: string): Promise<BookRow | null> {
    return this.loaders.book.load(id);
  }

  /** A completed book's chapters, as reading positions number them; none before it completes. */
  async chapters(book: BookRow): Promise<Chapter[]> {
    if (book.processing_status !== 'completed') return [];
    return chaptersOf(await this.deps.vectors.outline(book.id));
  }

  /** The book, or NOT_FOUND. */
  async requireBook(id: string): Promise<BookRow> {
    const row = await this.book(id);
    if (!row) throw notFound('Book', id);
    return row;
  }

  async books(
    args: PageArgs & {
      categoryId?: string | undefined;
      status?: ProcessingStatusValue | undefined;
    },
  ): Promise<Connection<BookRow>> {
    const { size, after: page } = forwardPage(args, this.deps.config.pageSize, 'timestamp');
    const after = page && { createdAt: page.key, id: page.id };
    const rows = await this.deps.catalogStore.booksPage({
      limit: size + 1,
      after,
      categoryId: args.categoryId,
      status: args.status,
    });
    for (const row of rows) this.loaders.book.prime(row.id, row);
    return toConnection(rows, size, (b) => encodeCursor([b.created_at, b.id]), 'forward', !!after);
  }

  character(id: string): Promise<CharacterRow | null> {
    return this.loaders.character.load(id);
  }

  /** The character, or NOT_FOUND. */
  async requireCharacter(id: string): Promise<CharacterRow> {
    const row = await this.character(id);
    if (!row) throw notFound('Character', id);
    return row;
  }

  charactersOfBook(bookId: string): Promise<CharacterRow[]> {
    return this.loaders.charactersByBook.load(bookId);
  }

  async characterPage(bookId: string, args: PageArgs): Promise<Connection<CharacterRow>> {
    const { size, after: page } = forwardPage(args, this.deps.config.pageSize, 'text');
    const after = page && { name: page.key, id: page.id };
    const rows = await this.deps.catalogStore.charactersPage({ bookId, limit: size + 1, after });
    for (const row of rows) this.loaders.character.prime(row.id, row);
    return toConnection(rows, size, (c) => encodeCursor([c.name, c.id]), 'forward', !!after);
  }
}
