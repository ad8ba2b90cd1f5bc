import { join } from 'node:path';
import type { LocalTtlCache } from '../cache/local-ttl-cache.js';
import type { ReadThroughCache } from '../cache/read-through-cache.js';
import { savedBoundNow } from '../chat/reading-position.js';
import type { Config } from '../config.js';
import {
  buildSystemPrompt,
  findCharactersLocal,
  findCharactersWithLlm,
  safeName,
} from '../ingest/characters.js';
import { chunkText } from '../ingest/chunker.js';
import { readBookText } from '../ingest/readers.js';
import type { Logger } from '../logger.js';
import type { BookRow, CharacterRow } from '../models.js';
import type { Embedder, Llm } from '../providers/types.js';
import type { ProgressBus, ProgressEvent } from '../queue/progress.js';
import { BOOKS_BUCKET, type BookFiles } from '../stores/book-files.js';
import type { BookJobStore } from '../stores/book-job-store.js';
import type { CatalogStore } from '../stores/catalog-store.js';
import type { ChatStore } from '../stores/chat-store.js';
import type { ChunkPayload } from '../stores/chunks.js';
import type { KeywordStore } from '../stores/keyword-store.js';
import type { VectorStore } from '../stores/vector-store.js';
import { writeFileAtomically } from '../util/atomic-file.js';

const BATCH = 64;

/**
 * Whether a Storage key in the `books` bucket is the reader's own: Supabase's convention of a
 * first path segment equal to the reader's id (what the Storage policies let only that reader
 * upload to), then a file name, with no empty, `.` or `..` segment.
 */
function isOwnStoragePath(userId: string | null, path: string): boolean {
  if (!userId) return false;
  const segments = path.split('/');
  return (
    segments.length >= 2 &&
    segments[0] === userId.toLowerCase() &&
    segments.every((segment) => segment !== '' && segment !== '.' && segment !== '..')
  );
}

/** A job that can never succeed as sent; it is logged and dropped, not retried. */
export class JobRejectedError extends Error {
  override readonly name = 'JobRejectedError';
}

/** The run's lease on the book was taken over (this worker stalled past it); the run stops. */
class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

type IngestionOutcome =
  | { outcome: 'processed'; chunks: number; characters: number }
  /** Not run: another run holds the book, or this job already ended. */
  | { outcome: 'busy' | 'stale' };

/**
 * Turns an uploaded book into indexes and characters: marks it `processing`, reads its file from
 * Storage, chunks it, embeds the chunks and upserts them into the book's Qdrant and Typesense
 * collections (same ids every run, stale extra chunks deleted, so re-processing is idempotent),
 * finds its characters and writes each one's row (upsert on book_id + safe_name) and prompt file
 * (written once, atomically), then marks it `completed`, or `failed` with the reason logged.
 * Only a file under the book owner's own prefix is read.
 * The book cache is purged at every status change; progress is published for subscribers.
 * A run first claims the book in `book_jobs` (a lease this worker renews while it runs), so one
 * book has one run at a time across instances; the final status is written with the lease check.
 */
export class IngestionService {
  constructor(
    private readonly deps: {
      config: Config;
      logger: Logger;
      bookFiles: BookFiles;
      catalogStore: CatalogStore;
      vectors: VectorStore;
      keywords: KeywordStore;
      embedder: Embedder;
      llm: Llm;
      progress: ProgressBus;
      bookCache: ReadThroughCache<BookRow>;
      characterCache: ReadThroughCache<CharacterRow>;
      characterIdsByBook: LocalTtlCache<string[]>;
      onCatalogChange?: (bookId: string) => Promise<void>;
      /** Saves the sessions' reading bounds again on the book's new chunks. */
      readingPositions?: Pick<ChatStore, 'reboundReadingPositions'>;
      jobs: BookJobStore;
      /** Who holds the leases this service takes. */
      workerId: string;
      lease: { ms: number; renewEveryMs: number };
    },
  ) {}

  async process(job: {
    job_id: string;
    book_id: string;
    enqueued_at?: string | undefined;
  }): Promise<IngestionOutcome> {
    const { logger, jobs, workerId, lease } = this.deps;
    const log = logger.child({ jobId: job.job_id, bookId: job.book_id });
    const [book] = await this.deps.catalogStore.booksByIds([job.book_id]);
    if (!book) throw new JobRejectedError(`book ${job.book_id} does not exist`);
    const claim = await jobs.claim({
      bookId: book.id,
      jobId: job.job_id,
      worker: workerId,
      leaseMs: lease.ms,
      enqueuedAt: job.enqueued_at,
    });
    if (claim === 'missing') throw new JobRejectedError(`book ${job.book_id} does not exist`);
    if (claim !== 'claimed') {
      log.info({ claim }, claim === 'busy' ? 'another run holds the book' : 'job already ended');
      return { outcome: claim };
    }
    await this.statusChanged(book.id);
    const report = (
      stage: ProgressEvent['stage'],
      progress: number,
      status: ProgressEvent['status'] = 'processing',
      message: string | null = null,
    ) =>
      this.deps.progress.publish({
        bookId: book.id,
        jobId: job.job_id,
        stage,
        progress,
        status,
        message,
      });

    // Keep the lease while the run lasts; a renewal that finds it taken stops the run.
    let lost = false;
    const renewal = setInterval(() => {
      jobs.renew(book.id, job.job_id, workerId, lease.ms).then(
        (held) => {
          if (!held) lost = true;
        },
        (err) => log.warn({ err: String(err) }, 'lease renewal failed'),
      );
    }, lease.renewEveryMs);
    renewal.unref();
    const check = () => {
      if (lost) throw new LeaseLostError('another run took over the book');
    };

    try {
      await report('reading', 0.02);
      const text = await this.readText(book);

      await report('chunking', 0.1);
      const { chunkTargetChars, chunkOverlapChars } = this.deps.config.ingestion;
      const chunks: ChunkPayload[] = chunkText(text, {
        targetChars: chunkTargetChars,
        overlapChars: chunkOverlapChars,
      }).map((c) => ({
        book_id: book.id,
        chunk_index: c.chunkIndex,
        text: c.text,
        chapter: c.chapter,
        start: c.start,
        end: c.end,
      }));
      if (chunks.length === 0) throw new JobRejectedError('the book has no text to index');

      await this.deps.vectors.ensureCollection(book.id, this.deps.embedder);
      await this.deps.keywords.ensureCollection(book.id);
      for (let i = 0; i < chunks.length; i += BATCH) {
        const batch = chunks.slice(i, i + BATCH);
        const vectors = await this.deps.embedder.embed(batch.map((c) => c.text));
        await Promise.all([
          this.deps.vectors.upsert(book.id, batch, vectors),
          this.deps.keywords.upsert(book.id, batch),
        ]);
        await report('indexing', 0.1 + 0.7 * ((i + batch.length) / chunks.length));
        check();
      }
      // A previous run of a longer text may have left chunks past the end.
      await Promise.all([
        this.deps.vectors.deleteFrom(book.id, chunks.length),
        this.deps.keywords.deleteFrom(book.id, chunks.length),
      ]);

      check();
      await this.reboundReadingPositions(book.id, chunks, log);

      check();
      await report('characters', 0.85);
      const characters = await this.writeCharacters(book, text);

      check();
      if (!(await jobs.finish(book.id, job.job_id, workerId, 'completed'))) {
        throw new LeaseLostError('another run took over the book');
      }
      await this.statusChanged(book.id);
      await report('completed', 1, 'completed');
      log.info({ chunks: chunks.length, characters }, 'book processed');
      return { outcome: 'processed', chunks: chunks.length, characters };
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (err instanceof LeaseLostError) {
        // The run that took over reports the book's status; this one says nothing more.
        log.warn({ reason }, 'book processing stopped');
        throw err;
      }
      log.error({ reason }, 'book processing failed');
      const marked = await jobs.finish(book.id, job.job_id, workerId, 'failed').catch((e) => {
        log.error({ reason: String(e) }, 'could not mark the book failed');
        return false;
      });
      if (marked) {
        await this.statusChanged(book.id);
        await report('failed', 1, 'failed', reason.slice(0, 500));
      }
      throw err;
    } finally {
      clearInterval(renewal);
    }
  }

  /** Drops the cached copies of a book whose status changed, here and on every instance. */
  private async statusChanged(bookId: string) {
    await this.deps.bookCache.purge([bookId]);
    await this.deps.onCatalogChange?.(bookId);
  }

  /**
   * The chunk indexes may have moved (another chunking than the last run's): each session's saved
   * bound is made again from its chapter or percent on the new chunks, so what the frontend reads
   * stays true. Retrieval never depends on it (it resolves the bound on the book as indexed at
   * each turn), so a failure here is logged and the run goes on.
   */
  private async reboundReadingPositions(
    bookId: string,
    chunks: readonly ChunkPayload[],
    log: Logger,
  ): Promise<void> {
    const store = this.deps.readingPositions;
    if (!store) return;
    const outline = chunks.map((c) => ({
      chunk_index: c.chunk_index,
      chapter: c.chapter,
      end: c.end,
    }));
    try {
      const changed = await store.reboundReadingPositions(bookId, (p) => savedBoundNow(p, outline));
      if (changed > 0)
        log.info({ sessions: changed }, 'reading positions bounded on the new chunks');
    } catch (err) {
      log.warn({ err: String(err) }, 'reading positions not saved again');
    }
  }

  private async readText(book: BookRow): Promise<string> {
    if (!book.storage_path) throw new JobRejectedError(`book ${book.id} has no storage_path`);
    // The service role reads every file: a row pointing at another reader's upload must not
    // turn that reader's text into this book's chunks.
    if (!isOwnStoragePath(book.user_id, book.storage_path)) {
      throw new JobRejectedError(
        `storage_path ${book.storage_path} is not under the book owner's prefix (${book.user_id ?? 'no owner'}/)`,
      );
    }
    const file = await this.deps.bookFiles.read(book.storage_path);
    if ('error' in file) {
      throw new JobRejectedError(
        `could not read ${BOOKS_BUCKET}/${book.storage_path}: ${file.error}`,
      );
    }
    const { text } = await readBookText(file.bytes, {
      path: book.storage_path,
      contentType: file.contentType,
    });
    return text;
  }

  private async writeCharacters(book: BookRow, text: string): Promise<number> {
    const max = this.deps.config.ingestion.maxCharacters;
    const found =
      this.deps.llm.kind === 'local'
        ? findCharactersLocal(text, { max })
        : await findCharactersWithLlm(this.deps.llm, text.slice(0, 24_000), {
            max,
            bookTitle: book.title,
            fullText: text,
          });
    if (found.length === 0) return 0;

    // Names already in the book keep their safe_name, so re-processing upserts the same rows.
    const existing = await this.deps.catalogStore.charactersOfBooks([book.id]);
    const byName = new Map(existing.map((c) => [c.name, c.safe_name]));
    const taken = new Set(existing.map((c) => c.safe_name));
    const rows = found.map((c) => {
      const safe = byName.get(c.name) ?? safeName(c.name, taken);
      return {
        book_id: book.id,
        name: c.name,
        safe_name: safe,
        description: c.description || null,
        personality: c.personality || null,
        system_prompt: buildSystemPrompt({
          bookTitle: book.title,
          author: book.author,
          character: c,
          otherCharacters: found.filter((o) => o !== c),
        }),
      };
    });
    const saved = await this.deps.catalogStore.upsertCharacters(rows);
    await this.deps.characterCache.purge(saved.map((c) => c.id));
    this.deps.characterIdsByBook.delete(book.id);

    // The backup is written once and never rewritten.
    const dir = join(this.deps.config.systemPromptDir, book.id);
    for (const c of saved) {
      await writeFileAtomically(join(dir, `${c.safe_name}.md`), c.system_prompt, {
        replace: false,
      });
    }
    return saved.length;
  }
}
