import type { SupabaseClient } from '@supabase/supabase-js';
import type { Authenticator } from './auth.js';
import { ChatPageVersions } from './cache/chat-page-cache.js';
import { CatalogInvalidation } from './cache/invalidation.js';
import { LocalTtlCache } from './cache/local-ttl-cache.js';
import { ReadThroughCache } from './cache/read-through-cache.js';
import { QueryRewriter } from './chat/query-rewriter.js';
import { HybridRetriever } from './chat/retrieval.js';
import { SessionContextCache } from './chat/session-context.js';
import { SessionLocks } from './chat/session-lock.js';
import { softMatcherFor } from './chat/soft-match.js';
import { sharedWordNet } from './chat/wordnet.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import {
  type BookRow,
  bookWithCategoryRow,
  type CategoryRow,
  type CharacterRow,
  characterRow,
} from './models.js';
import type { Embedder, Llm } from './providers/types.js';
import { BookJobs } from './queue/book-jobs.js';
import { JobQueue } from './queue/job-queue.js';
import { ProgressBus } from './queue/progress.js';
import { IngestionService } from './services/ingestion-service.js';
import { BookFiles } from './stores/book-files.js';
import { BookJobStore } from './stores/book-job-store.js';
import { CatalogStore } from './stores/catalog-store.js';
import { ChatStore, ChatTurnStore } from './stores/chat-store.js';
import type { KeywordStore } from './stores/keyword-store.js';
import type { StoreCallCounter } from './stores/metrics.js';
import type { RedisClient } from './stores/redis.js';
import type { VectorStore } from './stores/vector-store.js';

/** The read-through caches' keys (docs/data-layout.md); the chat keys live with their modules in src/chat. */
const CACHE_PREFIX = {
  book: 'chat:book:',
  character: 'chat:char:',
} as const;

/** What the runtime builds before the services: clients, providers, configuration. */
interface BaseDeps {
  config: Config;
  logger: Logger;
  counter: StoreCallCounter;
  auth: Authenticator;
  supabase: SupabaseClient;
  /** A Supabase client acting as the reader whose access token it is (their policies apply). */
  supabaseAs: (accessToken: string) => SupabaseClient;
  redis: RedisClient;
  vectors: VectorStore;
  keywords: KeywordStore;
  embedder: Embedder;
  llm: Llm;
  /** Makes a new Redis connection for pub/sub. */
  subscriber: () => RedisClient;
}

/** Process-wide dependencies: store clients, caches, providers and configuration. Built once. */
export interface Deps extends BaseDeps {
  catalogStore: CatalogStore;
  chatStore: ChatStore;
  queue: JobQueue;
  /** Each book's open ingestion job (PostgreSQL) and its way through the queue. */
  bookJobs: BookJobs;
  progress: ProgressBus;
  ingestion: IngestionService;
  invalidation: CatalogInvalidation;
  /** Each chat session's version token, replaced by every write to it (chat page cache). */
  chatPages: ChatPageVersions;
  /** The session locks this process holds. */
  locks: SessionLocks;
  chat: {
    turns: ChatTurnStore;
    context: SessionContextCache;
    rewriter: QueryRewriter;
    retriever: HybridRetriever;
  };
  caches: {
    book: ReadThroughCache<BookRow>;
    character: ReadThroughCache<CharacterRow>;
    /** book id -> its character ids, in display order (in-process, short-lived). */
    characterIdsByBook: LocalTtlCache<string[]>;
    categories: LocalTtlCache<CategoryRow[]>;
  };
}

export function createDeps(base: BaseDeps): Deps {
  const catalogStore = new CatalogStore(base.supabase);
  const common = {
    redis: base.redis,
    counter: base.counter,
    logger: base.logger,
    ttlSeconds: base.config.cacheTtlSeconds,
  };
  const chatPages = new ChatPageVersions(common);
  const sessionWritten = (sessionId: string) => chatPages.bump(sessionId);
  const chatStore = new ChatStore(base.supabase, sessionWritten);
  const caches: Deps['caches'] = {
    book: new ReadThroughCache({
      ...common,
      prefix: CACHE_PREFIX.book,
      schema: bookWithCategoryRow,
      load: (ids) => catalogStore.booksByIds(ids),
    }),
    character: new ReadThroughCache({
      ...common,
      prefix: CACHE_PREFIX.character,
      schema: characterRow,
      load: (ids) => catalogStore.charactersByIds(ids),
    }),
    characterIdsByBook: new LocalTtlCache(60_000),
    categories: new LocalTtlCache(60_000, 1),
  };
  const progress = new ProgressBus(base.redis, base.subscriber, base.logger);
  const invalidation = new CatalogInvalidation(base.redis, caches, base.logger);
  const queue = new JobQueue(base.redis, base.counter);
  const jobStore = new BookJobStore(base.supabase);
  const ingestion = new IngestionService({
    config: base.config,
    logger: base.logger,
    bookFiles: new BookFiles(base.supabase),
    catalogStore,
    vectors: base.vectors,
    keywords: base.keywords,
    embedder: base.embedder,
    llm: base.llm,
    progress,
    bookCache: caches.book,
    characterCache: caches.character,
    characterIdsByBook: caches.characterIdsByBook,
    onCatalogChange: (bookId) => invalidation.publish(bookId),
    readingPositions: chatStore,
    jobs: jobStore,
    workerId: queue.workerId,
    lease: { ms: base.config.worker.deadAfterMs, renewEveryMs: base.config.worker.heartbeatMs },
  });
  return {
    ...base,
    catalogStore,
    chatStore,
    caches,
    queue,
    bookJobs: new BookJobs(jobStore, queue, base.logger),
    chat: {
      turns: new ChatTurnStore(base.supabase, sessionWritten),
      context: new SessionContextCache({ ...common, chatStore, llm: base.llm }),
      rewriter: new QueryRewriter({ ...common, llm: base.llm }),
      retriever: new HybridRetriever({
        vectors: base.vectors,
        keywords: base.keywords,
        embedder: base.embedder,
        counter: base.counter,
        logger: base.logger,
        related: sharedWordNet().related,
        softMatch: softMatcherFor(base.embedder, base.config.embeddings.cacheDir),
        rerankVectorWeight: base.config.chat.rerankVectorWeight,
      }),
    },
    progress,
    ingestion,
    invalidation,
    chatPages,
    locks: new SessionLocks(base.redis, base.counter, {
      ttlMs: base.config.chat.lockTtlMs,
      waitMs: base.config.chat.lockWaitMs,
    }),
  };
}
