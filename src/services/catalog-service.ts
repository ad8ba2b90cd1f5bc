import type { LocalTtlCache } from '../cache/local-ttl-cache.js';
import type { Config } from '../config.js';
import { notFound, parseId } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type { BookRow, CategoryRow, CharacterRow, ProcessingStatusValue } from '../models.js';
import type { CatalogStore } from '../stores/catalog-store.js';
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
    private readonly deps: {
      pageSize: Config['pageSize'];
      catalogStore: CatalogStore;
      /** The category list (in-process, short-lived). */
      categories: LocalTtlCache<CategoryRow[]>;
    },
    private readonly loaders: Pick<Loaders, 'book' | 'character' | 'charactersByBook'>,
  ) {}

  async categories(): Promise<CategoryRow[]> {
    const cached = this.deps.categories.get('all');
    if (cached) return cached;
    const rows = await this.deps.catalogStore.categories();
    this.deps.categories.set('all', rows);
    return rows;
  }

  book(id: string): Promise<BookRow | null> {
    return this.loaders.book.load(id);
  }

  /** The book, or NOT_FOUND (BAD_USER_INPUT for an id that is not a UUID). */
  async requireBook(rawId: string): Promise<BookRow> {
    const id = parseId(rawId);
    const row = await this.book(id);
    if (!row) throw notFound('Book', id);
    return row;
  }

  /** A page of books, newest first; an empty `categoryId` is no filter. */
  async books(
    args: PageArgs & {
      categoryId?: string | null | undefined;
      status?: ProcessingStatusValue | null | undefined;
    },
  ): Promise<Connection<BookRow>> {
    const { size, after: page } = forwardPage(args, this.deps.pageSize, 'timestamp');
    const categoryId = args.categoryId ? parseId(args.categoryId, 'categoryId') : undefined;
    const after = page && { createdAt: page.key, id: page.id };
    const rows = await this.deps.catalogStore.booksPage({
      limit: size + 1,
      after,
      categoryId,
      status: args.status ?? undefined,
    });
    for (const row of rows) this.loaders.book.prime(row.id, row);
    return toConnection(rows, size, (b) => encodeCursor([b.created_at, b.id]), 'forward', !!after);
  }

  character(id: string): Promise<CharacterRow | null> {
    return this.loaders.character.load(id);
  }

  /** The character, or NOT_FOUND (BAD_USER_INPUT for an id that is not a UUID). */
  async requireCharacter(rawId: string): Promise<CharacterRow> {
    const id = parseId(rawId);
    const row = await this.character(id);
    if (!row) throw notFound('Character', id);
    return row;
  }

  charactersOfBook(bookId: string): Promise<CharacterRow[]> {
    return this.loaders.charactersByBook.load(bookId);
  }

  async characterPage(bookId: string, args: PageArgs): Promise<Connection<CharacterRow>> {
    const { size, after: page } = forwardPage(args, this.deps.pageSize, 'text');
    const after = page && { name: page.key, id: page.id };
    const rows = await this.deps.catalogStore.charactersPage({ bookId, limit: size + 1, after });
    for (const row of rows) this.loaders.character.prime(row.id, row);
    return toConnection(rows, size, (c) => encodeCursor([c.name, c.id]), 'forward', !!after);
  }
}
