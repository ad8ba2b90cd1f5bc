import type { Logger } from '../logger.js';
import type { RedisClient } from '../stores/redis.js';

export interface ProgressEvent {
  bookId: string;
  jobId: string | null;
  stage: 'queued' | 'reading' | 'chunking' | 'indexing' | 'characters' | 'completed' | 'failed';
  /** Share of the job done, 0 to 1. */
  progress: number;
  status: 'pending' | 'processing' | 'completed' | 'failed';
  message: string | null;
}

const channel = (bookId: string) => `book_progress:${bookId}`;

/**
 * Book processing progress over Redis pub/sub (channel `book_progress:{book_id}`), so a subscriber
 * on any instance hears the worker that runs the job wherever it runs. One subscriber connection
 * per process, shared by every listener; a channel is subscribed while it has listeners.
 */
export class ProgressBus {
  private readonly listeners = new Map<string, Set<(e: ProgressEvent) => void>>();
  private subscriber: RedisClient | null = null;

  constructor(
    private readonly publisher: RedisClient,
    private readonly makeSubscriber: () => RedisClient,
    private readonly logger: Logger,
  ) {}

  async publish(event: ProgressEvent): Promise<void> {
    try {
      await this.publisher.publish(channel(event.bookId), JSON.stringify(event));
    } catch (err) {
      this.logger.warn({ err: String(err), bookId: event.bookId }, 'progress publish failed');
    }
  }

  /** Listens to one book's events; returns a function that stops listening. */
  async listen(bookId: string, fn: (e: ProgressEvent) => void): Promise<() => Promise<void>> {
    const sub = this.ensureSubscriber();
    let set = this.listeners.get(bookId);
    if (!set) {
      set = new Set();
      this.listeners.set(bookId, set);
      await sub.subscribe(channel(bookId));
    }
    set.add(fn);
    return async () => {
      const s = this.listeners.get(bookId);
      if (!s) return;
      s.delete(fn);
      if (s.size === 0) {
        this.listeners.delete(bookId);
        await sub.unsubscribe(channel(bookId)).catch(() => {});
      }
    };
  }

  private ensureSubscriber(): RedisClient {
    if (this.subscriber) return this.subscriber;
    const sub = this.makeSubscriber();
    sub.on('message', (ch: string, message: string) => {
      const bookId = ch.slice('book_progress:'.length);
      const set = this.listeners.get(bookId);
      if (!set) return;
      try {
        const event = JSON.parse(message) as ProgressEvent;
        for (const fn of set) fn(event);
      } catch {
        this.logger.warn({ channel: ch }, 'malformed progress message');
      }
    });
    this.subscriber = sub;
    return sub;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.subscriber?.disconnect();
    this.subscriber = null;
  }
}
