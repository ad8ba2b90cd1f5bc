import { randomUUID } from 'node:crypto';
import type { SupabaseClient } from '@supabase/supabase-js';
import type { Viewer } from '../auth.js';
import type { ReadThroughCache } from '../cache/read-through-cache.js';
import type { Config } from '../config.js';
import { AppError, badInput, parseId, StoreUnavailableError } from '../errors.js';
import { type BookFormat, readBookText, UnsupportedBookError } from '../ingest/readers.js';
import type { Logger } from '../logger.js';
import type { BookRow } from '../models.js';
import { BOOKS_BUCKET } from '../stores/book-files.js';
import type { CatalogStore } from '../stores/catalog-store.js';
import { StoreUnavailable } from '../stores/errors.js';
import { isBlank } from '../util/text.js';
import type { BookProcessingService } from './book-processing-service.js';
import type { CatalogService } from './catalog-service.js';

/** A file part of a GraphQL multipart request, as yoga hands it over (a WHATWG File). */
export interface UploadedFile {
  name: string;
  type: string;
  size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface CreateBookInput {
  title: string;
  author?: string | null | undefined;
  categoryId?: string | null | undefined;
}

const TITLE_MAX = 500;
const AUTHOR_MAX = 300;

const STORED_AS: Record<BookFormat, { extension: string; contentType: string }> = {
  text: { extension: 'txt', contentType: 'text/plain; charset=utf-8' },
  markdown: { extension: 'md', contentType: 'text/markdown; charset=utf-8' },
  epub: { extension: 'epub', contentType: 'application/epub+zip' },
  pdf: { extension: 'pdf', contentType: 'application/pdf' },
};

/**
 * A reader's own book in, as the frontend would make it: every check first (title, author,
 * category, size, and the file's kind by its content, never by its name), then, acting as the
 * reader (their token, so the Storage and `books` policies apply), the file goes to the `books`
 * bucket as `{reader id}/{random uuid}.{extension of the detected format}`, the `pending` row is
 * inserted pointing at it, and ingestion is queued. A refused upload writes nothing; a write that
 * fails midway takes back what was written before it.
 */
export class BookUploadService {
  constructor(
    private readonly deps: {
      uploads: Config['uploads'];
      logger: Logger;
      supabase: SupabaseClient;
      /** A Supabase client acting as the reader whose access token it is (their policies apply). */
      supabaseAs: (accessToken: string) => SupabaseClient;
      catalogStore: CatalogStore;
      bookCache: ReadThroughCache<BookRow>;
    },
    private readonly catalog: CatalogService,
    private readonly processing: BookProcessingService,
  ) {}

  async createBook(
    viewer: Viewer,
    accessToken: string,
    input: CreateBookInput,
    file: UploadedFile,
  ): Promise<BookRow> {
    const { title, author, categoryId } = checkBookInput(input);
    if (categoryId && !(await this.categoryExists(categoryId))) {
      throw new AppError('NOT_FOUND', `Category ${categoryId} was not found`, {
        details: { field: 'categoryId' },
      });
    }
    const bytes = await this.readFile(file);
    const format = await this.formatOf(bytes, file);
    const stored = STORED_AS[format];
    const path = `${viewer.id}/${randomUUID()}.${stored.extension}`;

    const asReader = this.deps.supabaseAs(accessToken);
    const upload = await asReader.storage
      .from(BOOKS_BUCKET)
      .upload(path, bytes, { contentType: stored.contentType, upsert: false });
    if (upload.error) throw storeFailure('storage upload', upload.error);
    let bookId: string;
    try {
      const insert = await asReader
        .from('books')
        .insert({
          user_id: viewer.id,
          title,
          author,
          category_id: categoryId,
          storage_path: path,
          processing_status: 'pending',
        })
        .select('id')
        .single();
      if (insert.error || !insert.data) throw storeFailure('books insert', insert.error);
      bookId = (insert.data as { id: string }).id;
    } catch (err) {
      await this.removeFile(path);
      throw err;
    }
    try {
      return await this.processing.processBook(viewer, bookId);
    } catch (err) {
      await this.removeBook(bookId);
      await this.removeFile(path);
      throw err;
    }
  }

  /** The cached list first; a category made since then is looked for in Supabase itself. */
  private async categoryExists(id: string): Promise<boolean> {
    if ((await this.catalog.categories()).some((c) => c.id === id)) return true;
    return (await this.deps.catalogStore.categories()).some((c) => c.id === id);
  }

  private async readFile(file: UploadedFile): Promise<Uint8Array> {
    const max = this.deps.uploads.maxBytes;
    const tooLarge = (size: number) =>
      new AppError('FILE_TOO_LARGE', `The file is ${size} bytes; the largest accepted is ${max}`, {
        details: { maxBytes: max },
      });
    if (file.size > max) throw tooLarge(file.size);
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (bytes.byteLength > max) throw tooLarge(bytes.byteLength);
    return bytes;
  }

  /**
   * The format by content: the readers look at the magic bytes and then read the whole file
   * (UTF-8 validity and no binary for text; a sound archive or document with text in it for EPUB
   * and PDF). The file's name plays no part but to keep Markdown apart from plain text.
   */
  private async formatOf(bytes: Uint8Array, file: UploadedFile): Promise<BookFormat> {
    try {
      const { format } = await readBookText(bytes, { path: 'the file' });
      if (format !== 'text') return format;
      return /\.(md|markdown|mdown)$/i.test(file.name) || /markdown/i.test(file.type)
        ? 'markdown'
        : 'text';
    } catch (err) {
      if (!(err instanceof UnsupportedBookError)) throw err;
      const unreadable = err.code === 'corrupt' || err.code === 'encrypted' || err.code === 'empty';
      throw new AppError(
        unreadable ? 'UNREADABLE_FILE' : 'UNSUPPORTED_FILE_TYPE',
        unreadable
          ? capitalize(err.message)
          : `${capitalize(err.message)}; books are plain text or Markdown (UTF-8), EPUB or PDF`,
        { details: { reason: err.code } },
      );
    }
  }

  private async removeFile(path: string) {
    const removed = await this.deps.supabase.storage.from(BOOKS_BUCKET).remove([path]);
    if (removed.error) {
      this.deps.logger.error({ err: removed.error.message, path }, 'could not remove an upload');
    }
  }

  private async removeBook(bookId: string) {
    const removed = await this.deps.supabase.from('books').delete().eq('id', bookId);
    if (removed.error) {
      this.deps.logger.error({ err: removed.error.message, bookId }, 'could not remove a book');
    }
    await this.deps.bookCache.purge([bookId]);
  }
}

/** A new book's title, author and category id as they are saved (trimmed), checked; BAD_USER_INPUT otherwise. */
export function checkBookInput(input: CreateBookInput): {
  title: string;
  author: string | null;
  categoryId: string | null;
} {
  const title = input.title.trim();
  if (isBlank(title) || title.length > TITLE_MAX) {
    throw badInput(`title must be 1 to ${TITLE_MAX} characters`, 'title');
  }
  const author = input.author?.trim() || null;
  if (author && author.length > AUTHOR_MAX) {
    throw badInput(`author must be at most ${AUTHOR_MAX} characters`, 'author');
  }
  const categoryId =
    input.categoryId === null || input.categoryId === undefined
      ? null
      : parseId(input.categoryId, 'categoryId');
  return { title, author, categoryId };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A store's refusal or failure as an error: SERVICE_UNAVAILABLE when it was the transport. */
function storeFailure(what: string, error: unknown): Error {
  const cause = (error as { originalError?: unknown } | null)?.originalError ?? error;
  if (cause instanceof StoreUnavailable) return cause;
  const message = (error as { message?: string } | null)?.message ?? 'no data';
  if (/fetch failed|timeout|aborted|unavailable/i.test(message)) {
    return new StoreUnavailableError('supabase', error);
  }
  return new Error(`${what} failed: ${message}`);
}
