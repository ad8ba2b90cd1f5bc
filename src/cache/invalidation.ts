import type { Logger } from '../logger.js';
import type { RedisClient } from '../stores/redis.js';
import type { LocalTtlCache } from './local-ttl-cache.js';

export const CATALOG_CHANNEL = 'catalog_changes';

/**
 * Keeps every instance's in-process catalog copies honest: whoever changes a book's characters or
 * status publishes the book id on `catalog_changes`; each instance drops its local entries for it
 * (the Redis caches are purged by the writer itself). Messages lost while a subscriber reconnects
 * are covered by the local entries' short TTL.
 */
export class CatalogInvalidation {
  private subscriber: RedisClient | null = null;
  private readonly listeners = new Set<(bookId: string) => void>();

  constructor(
    private readonly publisher: RedisClient,
    private readonly local: {
      characterIdsByBook: LocalTtlCache<string[]>;
      categories: LocalTtlCache<unknown>;
    },
    private readonly logger: Logger,
  ) {}

  async publish(bookId: string): Promise<void> {
    this.drop(bookId);
    try {
      await this.publisher.publish(CATALOG_CHANNEL, bookId);
    } catch (err) {
      this.logger.warn({ err: String(err), bookId }, 'catalog change publish failed');
    }
  }

  async listen(makeSubscriber: () => RedisClient): Promise<void> {
    const sub = makeSubscriber();
    sub.on('message', (channel: string, bookId: string) => {
      if (channel === CATALOG_CHANNEL) this.drop(bookId);
    });
    await sub.subscribe(CATALOG_CHANNEL);
    this.subscriber = sub;
  }

  /** Calls `fn` with the book id of every change, local or from another instance. */
  onChange(fn: (bookId: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private drop(bookId: string): void {
    this.local.characterIdsByBook.delete(bookId);
    this.local.categories.clear();
    for (const fn of this.listeners) fn(bookId);
  }

  close(): void {
    this.subscriber?.disconnect();
    this.subscriber = null;
  }
}
