import type { SupabaseClient } from '@supabase/supabase-js';
import type { Authenticator } from './auth.js';
import { LocalTtlCache } from './cache/local-ttl-cache.js';
import { ReadThroughCache } from './cache/read-through-cache.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { CatalogStore } from './stores/catalog-store.js';
import { ChatStore } from './stores/chat-store.js';
import type { StoreCallCounter } from './stores/metrics.js';
import type { RedisClient } from './stores/redis.js';
import {
  type BookRow,
  bookWithCategoryRow,
  type CategoryRow,
  type CharacterRow,
  characterRow,
} from './stores/rows.js';

/** Process-wide dependencies: store clients, caches and configuration. Built once at start. */
export interface Deps {
  config: Config;
  logger: Logger;
  counter: StoreCallCounter;
  auth: Authenticator;
  supabase: SupabaseClient;
  redis: RedisClient;
  catalogStore: CatalogStore;
  chatStore: ChatStore;
  caches: {
    book: ReadThroughCache<BookRow>;
    character: ReadThroughCache<CharacterRow>;
    /** book id -> its character ids, in display order (in-process, short-lived). */
    characterIdsByBook: LocalTtlCache<string[]>;
    categories: LocalTtlCache<CategoryRow[]>;
  };
}

export const CACHE_PREFIX = {
  book: 'chat:book:',
  character: 'chat:char:',
  session: 'chat:sess:',
  queryRewrite: 'chat:qr:',
  lock: 'chat:lock:',
} as const;

export function createDeps(base: {
  config: Config;
  logger: Logger;
  counter: StoreCallCounter;
  auth: Authenticator;
  supabase: SupabaseClient;
  redis: RedisClient;
}): Deps {
  const catalogStore = new CatalogStore(base.supabase);
  const chatStore = new ChatStore(base.supabase);
  const common = {
    redis: base.redis,
    counter: base.counter,
    logger: base.logger,
    ttlSeconds: base.config.cacheTtlSeconds,
  };
  return {
    ...base,
    catalogStore,
    chatStore,
    caches: {
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
    },
  };
}
