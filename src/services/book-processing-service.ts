import { Repeater } from 'graphql-yoga';
import type { Viewer } from '../auth.js';
import type { CatalogInvalidation } from '../cache/invalidation.js';
import type { ReadThroughCache } from '../cache/read-through-cache.js';
import { AppError, notFound, parseId } from '../errors.js';
import type { Loaders } from '../loaders.js';
import type { Logger } from '../logger.js';
import type { BookRow } from '../models.js';
import type { BookJobs } from '../queue/book-jobs.js';
import type { ProgressBus, ProgressEvent } from '../queue/progress.js';
import type { CatalogStore } from '../stores/catalog-store.js';

/**
 * Starting a book's ingestion and watching it. Only the book's owner may (re)process it. A book
 * with no open job gets a new run: it goes back to `pending` and the job goes on the shared queue
 * in the shape every instance reads; a book with one open (queued or running) keeps that run, put
 * back on the queue if the queue lost it. Progress comes over Redis pub/sub, starting with the
 * book's current status, and ends when the book is completed or failed.
 */
export class BookProcessingService {
  constructor(
    private readonly deps: {
      logger: Logger;
      bookJobs: BookJobs;
      bookCache: ReadThroughCache<BookRow>;
      invalidation: CatalogInvalidation;
      progress: ProgressBus;
      catalogStore: CatalogStore;
    },
    private readonly loaders: Pick<Loaders, 'book'>,
  ) {}

  async processBook(viewer: Viewer, rawBookId: string): Promise<BookRow> {
    const bookId = parseId(rawBookId, 'bookId');
    const book = await this.loaders.book.load(bookId);
    if (!book) throw notFound('Book', bookId);
    if (book.user_id !== viewer.id) {
      throw new AppError('FORBIDDEN', 'Only the reader who uploaded a book can process it');
    }
    if (!book.storage_path) {
      throw new AppError('FAILED_PRECONDITION', 'The book has no uploaded file (storage_path) yet');
    }
    const job = await this.deps.bookJobs.request(book.id);
    if (job.created) {
      this.deps.logger.info({ jobId: job.job_id, bookId: book.id }, 'book job enqueued');
      await this.deps.bookCache.purge([book.id]);
      await this.deps.invalidation.publish(book.id);
      await this.deps.progress.publish({
        bookId: book.id,
        jobId: job.job_id,
        stage: 'queued',
        progress: 0,
        status: 'pending',
        message: null,
      });
    }
    return { ...book, processing_status: job.processing_status };
  }

  /** The book's progress events, ending with its completion or failure, or when `signal` aborts. */
  watch(rawBookId: string, signal?: AbortSignal): Repeater<ProgressEvent> {
    return this.progressOf(parseId(rawBookId, 'bookId'), signal);
  }

  /**
   * The book's current status first, then its events as they are published, until one ends the
   * run. Events published while the status is read are held back and follow it; the listener is
   * removed when the stream ends, also when the client goes away (`return()` or `signal`).
   */
  private progressOf(bookId: string, signal?: AbortSignal): Repeater<ProgressEvent> {
    return new Repeater<ProgressEvent>(async (push, stop) => {
      const early: ProgressEvent[] = [];
      let live = false;
      const deliver = (e: ProgressEvent) => {
        void push(e);
        if (ends(e)) stop();
      };
      const unlisten = await this.deps.progress.listen(bookId, (e) => {
        if (live) deliver(e);
        else early.push(e);
      });
      const onAbort = () => stop();
      signal?.addEventListener('abort', onAbort);
      try {
        // The current status first (read fresh: the cache may lag a status change elsewhere).
        const [book] = await this.deps.catalogStore.booksByIds([bookId]);
        if (!book) throw notFound('Book', bookId);
        const done = book.processing_status === 'completed' || book.processing_status === 'failed';
        void push({
          bookId,
          jobId: null,
          stage:
            book.processing_status === 'pending'
              ? 'queued'
              : done
                ? (book.processing_status as 'completed' | 'failed')
                : 'indexing',
          progress: done ? 1 : 0,
          status: book.processing_status,
          message: null,
        });
        if (signal?.aborted || (done && early.length === 0)) stop();
        live = true;
        for (const e of early.splice(0)) {
          deliver(e);
          if (ends(e)) break;
        }
        await stop;
      } finally {
        signal?.removeEventListener('abort', onAbort);
        await unlisten();
      }
    });
  }
}

const ends = (e: ProgressEvent) => e.stage === 'completed' || e.stage === 'failed';
