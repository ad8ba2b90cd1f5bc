import { resolve } from 'node:path';
import { createAuthenticator } from './auth.js';
import type { Config } from './config.js';
import { createDeps, type Deps } from './deps.js';
import { anyEmbedded, type EmbeddedStores, startEmbeddedStores } from './embedded-default.js';
import type { Logger } from './logger.js';
import { createEmbedder, createLlm } from './providers/index.js';
import { BOOKS_BUCKET } from './services/ingestion-service.js';
import { KeywordStore } from './stores/keyword-store.js';
import { StoreCallCounter } from './stores/metrics.js';
import { createRedis, duplicateRedis } from './stores/redis.js';
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
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const fn of closers.reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.warn({ err: String(err) }, 'error while closing a store');
      }
    }
    closers.length = 0;
  };
  const dataDir = resolve(config.dataDir);
  const stores: Record<string, string> = {};
  try {
    const counter = new StoreCallCounter();
    let embedded: EmbeddedStores | undefined;
    if (anyEmbedded(config)) {
      embedded = await startEmbeddedStores(config, dataDir);
      closers.push(() => embedded!.close());
    }

    let supabaseUrl: string;
    let serviceRoleKey: string;
    if (config.supabase.mode === 'remote') {
      supabaseUrl = config.supabase.url;
      serviceRoleKey = config.supabase.serviceRoleKey;
      stores.supabase = supabaseUrl;
    } else {
      supabaseUrl = embedded!.supabase!.url;
      serviceRoleKey = embedded!.supabase!.serviceRoleKey;
      stores.supabase = `embedded PGlite + PostgREST stand-in at ${supabaseUrl}`;
    }
    const supabaseSettings = {
      url: supabaseUrl,
      serviceRoleKey,
      timeoutMs: config.storeTimeoutMs,
      counter,
    };
    const supabase = createSupabase(supabaseSettings);

    await ensureBooksBucket(supabase, logger);

    const redis = await createRedis(
      config.redis.mode === 'embedded'
        ? { mode: 'embedded' }
        : config.redis.cluster
          ? { mode: 'cluster', cluster: config.redis.cluster, timeoutMs: config.storeTimeoutMs }
          : { mode: 'remote', url: config.redis.url, timeoutMs: config.storeTimeoutMs },
    );
    const subscribers: ReturnType<typeof duplicateRedis>[] = [];
    /** Another connection (pub/sub, blocking pops), closed with the runtime. */
    const extraConnection = () => {
      const connection = duplicateRedis(redis);
      subscribers.push(connection);
      return connection;
    };
    closers.push(async () => {
      for (const s of subscribers) s.disconnect();
      redis.disconnect();
    });
    stores.redis =
      config.redis.mode === 'embedded'
        ? 'embedded (in-process)'
        : config.redis.cluster
          ? `cluster (${config.redis.cluster.nodes.length} seed nodes)`
          : 'remote';

    let qdrantUrl: string;
    let qdrantKey: string | undefined;
    if (config.qdrant.mode === 'remote') {
      qdrantUrl = config.qdrant.url;
      qdrantKey = config.qdrant.apiKey;
      stores.qdrant = qdrantUrl;
    } else {
      qdrantUrl = embedded!.qdrant!.url;
      stores.qdrant = `embedded stand-in at ${qdrantUrl}`;
    }
    let typesenseUrl: string;
    let typesenseKey: string;
    if (config.typesense.mode === 'remote') {
      typesenseUrl = config.typesense.url;
      typesenseKey = config.typesense.apiKey;
      stores.typesense = typesenseUrl;
    } else {
      typesenseUrl = embedded!.typesense!.url;
      typesenseKey = embedded!.typesense!.apiKey;
      stores.typesense = `embedded stand-in at ${typesenseUrl}`;
    }

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
      supabase,
      supabaseAs: (accessToken) => createSupabase({ ...supabaseSettings, accessToken }),
      redis,
      vectors: new VectorStore(
        { url: qdrantUrl, apiKey: qdrantKey, timeoutMs: config.storeTimeoutMs },
        counter,
      ),
      keywords: new KeywordStore(
        { url: typesenseUrl, apiKey: typesenseKey, timeoutMs: config.storeTimeoutMs },
        counter,
      ),
      embedder: createEmbedder({ ...config.embeddings }),
      llm: createLlm({ ...config.llm }),
      subscriber: extraConnection,
    });
    closers.push(() => deps.progress.close());
    await deps.invalidation.listen(extraConnection);
    closers.push(async () => deps.invalidation.close());
    stores.embeddings = config.embeddings.provider;
    stores.llm = config.llm.provider;

    let worker: Worker | null = null;
    const concurrency = config.worker.concurrency;
    if ((options.startWorker ?? true) && concurrency > 0) {
      worker = new Worker({
        queue: deps.queue,
        jobs: deps.bookJobs,
        ingestion: deps.ingestion,
        logger: logger.child({ component: 'worker' }),
        concurrency,
        heartbeatMs: config.worker.heartbeatMs,
        deadAfterMs: config.worker.deadAfterMs,
        blockingClient: config.redis.mode === 'remote' ? extraConnection : undefined,
      });
      await worker.start();
    }
    let workerStopped: Promise<void> | null = null;
    const w = worker;
    const stopWorker = (deadlineMs: number) => {
      workerStopped ??= w ? w.stop(deadlineMs) : Promise.resolve();
      return workerStopped;
    };
    closers.push(() => stopWorker(config.shutdownTimeoutMs));

    logger.info({ stores, worker: worker ? concurrency : 0 }, 'stores ready');
    const runtime: Runtime = {
      deps,
      worker,
      stores,
      stopWorker,
      close,
    };
    if (config.auth.usingDevSecret && embedded) {
      // The development secret is refused with a real Supabase: the stand-in serves it.
      runtime.devUserId = DEV_USER_ID;
      runtime.devToken = await embedded.signUserToken(
        config.auth.jwtSecret!,
        DEV_USER_ID,
        30 * 24 * 3600,
      );
      if (embedded.supabase) {
        runtime.devSupabase = { url: supabaseUrl, anonKey: embedded.supabase.anonKey };
      }
    }
    return runtime;
  } catch (err) {
    await close();
    throw err;
  }
}

/** The private `books` bucket the frontend uploads to and ingestion reads from. */
async function ensureBooksBucket(supabase: ReturnType<typeof createSupabase>, logger: Logger) {
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
