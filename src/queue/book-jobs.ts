import type { Logger } from '../logger.js';
import type { BookJobStore, OpenJob, RequestedJob } from '../stores/book-job-store.js';
import { JobQueue, type ProcessBookJob } from './job-queue.js';

/**
 * A book's ingestion requests. PostgreSQL's `book_jobs` holds each book's open job (queued or
 * running, with the running worker's lease); the Redis queue carries it to a worker. Redis keeps
 * nothing on disk, so the queue may lose a job: a request for a book whose open job is neither
 * queued, nor in a worker's in-flight list, nor leased by a live worker puts it back, and so does
 * `requeueLost`, which workers run at start and with every heartbeat. A job queued twice runs
 * once: the worker's claim in `book_jobs` refuses a second run while one holds the lease, and a
 * job that already ended.
 */
export class BookJobs {
  constructor(
    private readonly store: BookJobStore,
    private readonly queue: JobQueue,
    private readonly logger: Logger,
  ) {}

  /**
   * Asks for a run of the book: a new job when none is open (the book goes back to `pending`),
   * else the open one, re-queued if the queue lost it.
   */
  async request(bookId: string): Promise<RequestedJob & { requeued: boolean }> {
    const fresh = JobQueue.bookJob(bookId);
    const open = await this.store.request(bookId, fresh.job_id);
    if (open.created) {
      await this.queue.enqueue({ ...fresh, enqueued_at: open.requested_at });
      return { ...open, requeued: false };
    }
    if (open.lease_live) return { ...open, requeued: false };
    const live = await this.queue.liveJobIds();
    if (live.has(open.job_id)) return { ...open, requeued: false };
    await this.queue.enqueue(jobOf(bookId, open));
    this.logger.warn({ jobId: open.job_id, bookId }, 'lost book job re-queued');
    return { ...open, requeued: true };
  }

  /** Re-queues every open job the queue lost; the number re-queued. */
  async requeueLost(): Promise<number> {
    const open = await this.store.open();
    if (open.length === 0) return 0;
    const live = await this.queue.liveJobIds();
    let n = 0;
    for (const job of open) {
      if (live.has(job.job_id)) continue;
      await this.queue.enqueue(jobOf(job.book_id, job));
      this.logger.warn(
        { jobId: job.job_id, bookId: job.book_id, state: job.state },
        'lost book job re-queued',
      );
      n++;
    }
    return n;
  }
}

function jobOf(bookId: string, open: Pick<OpenJob, 'job_id' | 'requested_at'>): ProcessBookJob {
  return {
    job_id: open.job_id,
    type: 'process_book',
    book_id: bookId,
    enqueued_at: open.requested_at,
  };
}
