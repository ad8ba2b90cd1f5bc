import { resolve } from 'node:path';
import type { SupabaseClient } from '@supabase/supabase-js';
import { createAuthenticator } from './auth.js';
import type { Config } from './config.js';
import { createDeps, type Deps } from './deps.js';
import {
  anyEmbedded,
  type EmbeddedStores,
  startEmbeddedRedis,
  startEmbeddedStores,
} from './embedded-default.js';
import type { Logger } from './logger.js';
import { createEmbedder, createLlm } from './providers/index.js';
import { BOOKS_BUCKET } from './stores/book-files.js';
import { KeywordStore } from './stores/keyword-store.js';
import { StoreCallCounter } from './stores/metrics.js';
import { createRedis, duplicateRedis, type RedisClient } from './stores/redis.js';
import { createSupabase } from './stores/supabase.js';
import { VectorStore } from './stores/vector-store.js';
import { Worker } from './worker.js';

export interface Runtime {
  deps: Deps;
  worker: Worker | null;
  /** Development token for the fixed development reader (embedded auth only). */
  devToken?: string;
  devUserId?: string;
  /** The embedded Supabase stand-in and an anon key for it (embedded Supabase and auth only). */
  devSupabase?: { url: string; anonKey: string };
  /** Where each store is, for the start-up log. */
  stores: Record<string, string>;
  /**
   * Stops the worker (if any): no new jobs, running ones get `deadlineMs`, the rest go back to the
   * queue. Once only; `close` calls it too.
   */
  stopWorker(deadlineMs: number): Promise<void>;
  close(): Promise<void>;
}

export const DEV_USER_ID = '00000000-0000-4000-8000-000000000001';

/** Stops everything pushed onto it, last first; a failure is logged and the rest still close. */
class Closers {
  private readonly fns: (() => Promise<void>)[] = [];

  constructor(private readonly logger: Logger) {}

  push(fn: () => Promise<void>): void {
    this.fns.push(fn);
  }

  readonly close = async (): Promise<void> => {
    for (const fn of this.fns.reverse()) {
      try {
        await fn();
      } catch (err) {
        this.logger.warn({ err: String(err) }, 'error while closing a store');
      }
    }
    this.fns.length = 0;
  };
}

/**
 * Starts what the configuration asks for. Each store is real (its URL is set) or embedded,
 * independently: in-process Redis, and the stand-ins of `@falsafa/standins` (see
 * embedded-default.ts), which keep their data under FALSAFA_DATA_DIR, which this process then locks
 * (a second one is refused with DataDirLockedError). Starts the in-process worker when configured. `close` stops everything in reverse order.
 */
export async function startRuntime(
  config: Config,
  logger: Logger,
  options: { startWorker?: boolean } = {},
): Promise<Runtime> {
  const closers = new Closers(logger);
  const stores: Record<string, string> = {};
  try {
    const counter = new StoreCallCounter();
    let embedded: EmbeddedStores | undefined;
    if (anyEmbedded(config)) {
      const started = await startEmbeddedStores(config, resolve(config.dataDir));
      closers.push(() => started.close());
      embedded = started;
    }
    const supabase = await connectSupabase(config, embedded, counter, logger, stores);
    const redis = await connectRedis(config, closers, stores);
    const search = searchStoreUrls(config, embedded, stores);

    const auth = createAuthenticator({
      ...(config.auth.jwtSecret ? { jwtSecret: config.auth.jwtSecret } : {}),
      ...(config.auth.jwksUrl ? { jwksUrl: config.auth.jwksUrl } : {}),
      audience: config.auth.audience,
      timeoutMs: config.storeTimeoutMs,
    });
    const deps = createDeps({
      config,
      logger,
      counter,
      auth,
      supabase: supabase.client,
      supabaseAs: supabase.asReader,
      redis: redis.client,
      vectors: new VectorStore(
        {
          url: search.qdrant.url,
          apiKey: search.qdrant.apiKey,
          timeoutMs: config.storeTimeoutMs,
          layout: config.qdrantCollections.layout,
          cluster: config.qdrantCollections.cluster,
        },
        counter,
      ),
      keywords: new KeywordStore(
        {
          ...search.typesense,
          timeoutMs: config.storeTimeoutMs,
        },
        counter,
      ),
      embedder: createEmbedder({ ...config.embeddings }),
      llm: createLlm({ ...config.llm }),
      subscriber: redis.connection,
    });
    closers.push(() => deps.progress.close());
    await deps.invalidation.listen(redis.connection);
    closers.push(async () => deps.invalidation.close());
    stores.embeddings = config.embeddings.provider;
    stores.llm = config.llm.provider;

    const worker = await startWorker(config, deps, logger, {
      start: options.startWorker ?? true,
      blockingClient: config.redis.mode === 'remote' ? redis.blockingConnection : undefined,
    });
    let workerStopped: Promise<void> | null = null;
    const stopWorker = (deadlineMs: number) => {
      workerStopped ??= worker ? worker.stop(deadlineMs) : Promise.resolve();
      return workerStopped;
    };
    closers.push(() => stopWorker(config.shutdownTimeoutMs));

    logger.info({ stores, worker: worker ? config.worker.concurrency : 0 }, 'stores ready');
    const runtime: Runtime = { deps, worker, stores, stopWorker, close: closers.close };
    if (config.auth.usingDevSecret && embedded) {
      Object.assign(runtime, await devAccess(config, embedded));
    }
    return runtime;
  } catch (err) {
    await closers.close();
    throw err;
  }
}

/** The service-role Supabase client (and one per reader's token), with the `books` bucket made. */
async function connectSupabase(
  config: Config,
  embedded: EmbeddedStores | undefined,
  counter: StoreCallCounter,
  logger: Logger,
  stores: Record<string, string>,
): Promise<{ client: SupabaseClient; asReader: (accessToken: string) => SupabaseClient }> {
  let url: string;
  let serviceRoleKey: string;
  if (config.supabase.mode === 'remote') {
    url = config.supabase.url;
    serviceRoleKey = config.supabase.serviceRoleKey;
    stores.supabase = url;
  } else {
    url = embedded!.supabase!.url;
    serviceRoleKey = embedded!.supabase!.serviceRoleKey;
    stores.supabase = `embedded PGlite + PostgREST stand-in at ${url}`;
  }
  const settings = { url, serviceRoleKey, timeoutMs: config.storeTimeoutMs, counter };
  const client = createSupabase(settings);
  await ensureBooksBucket(client, logger);
  return { client, asReader: (accessToken) => createSupabase({ ...settings, accessToken }) };
}

/** The Redis client, real or in-process, and a maker of further connections closed with it. */
async function connectRedis(
  config: Config,
  closers: Closers,
  stores: Record<string, string>,
): Promise<{
  client: RedisClient;
  connection: () => RedisClient;
  blockingConnection: () => RedisClient;
}> {
  const client =
    config.redis.mode === 'remote'
      ? await createRedis({ ...config.redis, timeoutMs: config.storeTimeoutMs })
      : await startEmbeddedRedis();
  const connections: RedisClient[] = [];
  closers.push(async () => {
    for (const c of connections) c.disconnect();
    client.disconnect();
  });
  stores.redis =
    config.redis.mode === 'embedded'
      ? 'embedded (in-process)'
      : config.redis.cluster
        ? `cluster (${config.redis.cluster.nodes.length} seed nodes)`
        : 'remote';
  return {
    client,
    /** Another connection (pub/sub), closed with the runtime. */
    connection: () => {
      const connection = duplicateRedis(client);
      connections.push(connection);
      return connection;
    },
    /** Another connection for blocking pops, closed with the runtime. */
    blockingConnection: () => {
      const connection = duplicateRedis(client, undefined, true);
      connections.push(connection);
      return connection;
    },
  };
}

/** Where Qdrant and Typesense are: their configured URLs, or the embedded stand-ins'. */
function searchStoreUrls(
  config: Config,
  embedded: EmbeddedStores | undefined,
  stores: Record<string, string>,
): {
  qdrant: { url: string; apiKey?: string | undefined };
  typesense: { url: string; nodes?: string[]; nearestNode?: string; apiKey: string };
} {
  let qdrant: { url: string; apiKey?: string | undefined };
  if (config.qdrant.mode === 'remote') {
    qdrant = { url: config.qdrant.url, apiKey: config.qdrant.apiKey };
    stores.qdrant = qdrant.url;
  } else {
    qdrant = { url: embedded!.qdrant!.url };
    stores.qdrant = `embedded stand-in at ${qdrant.url}`;
  }
  let typesense: { url: string; nodes?: string[]; nearestNode?: string; apiKey: string };
  if (config.typesense.mode === 'remote') {
    typesense = {
      url: config.typesense.url,
      nodes: config.typesense.nodes,
      ...(config.typesense.nearestNode ? { nearestNode: config.typesense.nearestNode } : {}),
      apiKey: config.typesense.apiKey,
    };
    stores.typesense = config.typesense.nodes.join(', ');
  } else {
    typesense = { url: embedded!.typesense!.url, apiKey: embedded!.typesense!.apiKey };
    stores.typesense = `embedded stand-in at ${typesense.url}`;
  }
  return { qdrant, typesense };
}

/** The in-process worker, started when asked for and WORKER_CONCURRENCY > 0; null otherwise. */
async function startWorker(
  config: Config,
  deps: Deps,
  logger: Logger,
  options: { start: boolean; blockingClient: (() => RedisClient) | undefined },
): Promise<Worker | null> {
  const concurrency = config.worker.concurrency;
  if (!options.start || concurrency <= 0) return null;
  const worker = new Worker({
    queue: deps.queue,
    jobs: deps.bookJobs,
    ingestion: deps.ingestion,
    logger: logger.child({ component: 'worker' }),
    concurrency,
    heartbeatMs: config.worker.heartbeatMs,
    deadAfterMs: config.worker.deadAfterMs,
    blockingClient: options.blockingClient,
  });
  await worker.start();
  return worker;
}

/**
 * The development reader's token and the embedded Supabase's anon key: only with the development
 * secret, which is refused with a real Supabase (the stand-in serves it).
 */
async function devAccess(
  config: Config,
  embedded: EmbeddedStores,
): Promise<Pick<Runtime, 'devUserId' | 'devToken' | 'devSupabase'>> {
  const access: Pick<Runtime, 'devUserId' | 'devToken' | 'devSupabase'> = {
    devUserId: DEV_USER_ID,
    devToken: await embedded.signUserToken(config.auth.jwtSecret!, DEV_USER_ID, 30 * 24 * 3600),
  };
  if (embedded.supabase) {
    access.devSupabase = { url: embedded.supabase.url, anonKey: embedded.supabase.anonKey };
  }
  return access;
}

/** The private `books` bucket the frontend uploads to and ingestion reads from. */
async function ensureBooksBucket(supabase: SupabaseClient, logger: Logger) {
  const existing = await supabase.storage.getBucket(BOOKS_BUCKET);
  if (!existing.error) return;
  const created = await supabase.storage.createBucket(BOOKS_BUCKET, { public: false });
  if (created.error && !/exists|duplicate/i.test(created.error.message)) {
    logger.warn(
      { err: created.error.message },
      `could not create the storage bucket ${BOOKS_BUCKET}`,
    );
  }
}
