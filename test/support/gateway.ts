import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type QdrantStandIn,
  type SupabaseStandIn,
  signSupabaseJwt,
  startQdrantStandIn,
  startSupabaseStandIn,
  startTypesenseStandIn,
  type TypesenseStandIn,
} from '@falsafa/standins';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { Cluster, Redis } from 'ioredis';
import ws from 'ws';
import { loadConfig } from '../../src/config.js';
import type { Deps } from '../../src/deps.js';
import { Lifecycle } from '../../src/http/lifecycle.js';
import { createGatewayServer } from '../../src/http/server.js';
import { attachGraphQLWebSocket, type GraphQLWebSocket } from '../../src/http/websocket.js';
import { createLogger } from '../../src/logger.js';
import { type Runtime, startRuntime } from '../../src/runtime.js';
import type { StoreCallCounter } from '../../src/stores/metrics.js';
import { type App, createApp } from '../../src/yoga.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { createTestRedis } from './redis.js';
import type { TestRedisCluster } from './redis-cluster.js';

export const TEST_JWT_SECRET = 'falsafa-test-jwt-secret-0123456789abcdef-xyz';

export interface GqlResult {
  status: number;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
    extensions?: Record<string, unknown>;
  };
}

export interface TestGateway {
  app: App;
  runtime: Runtime;
  deps: Deps;
  db: TestDatabase;
  /** The gateway's Redis, seen from the test: the test's Redis, or the test's Redis Cluster. */
  redis: Redis | Cluster;
  redisIsReal: boolean;
  counter: StoreCallCounter;
  standIn: SupabaseStandIn;
  qdrant: QdrantStandIn;
  typesense: TypesenseStandIn;
  /** The environment the gateway was configured with (store URLs and keys). */
  env: Record<string, string>;
  tmpDir: string;
  token(userId: string, options?: { expiresInSeconds?: number }): Promise<string>;
  gql(
    query: string,
    variables?: Record<string, unknown>,
    options?: { token?: string | null; headers?: Record<string, string> },
  ): Promise<GqlResult>;
  seed: Seeder;
  /** Serves the app over real HTTP and WebSocket (graphql-ws) on a free port, once. */
  listen(): Promise<{ url: string; wsUrl: string; server: Server; webSocket: GraphQLWebSocket }>;
  close(): Promise<void>;
}

/** A GraphQL request to `app` in-process (this gateway's, or another instance's on the same stores). */
export async function gqlAt(
  app: App,
  query: string,
  variables?: Record<string, unknown>,
  o: { token?: string | null; headers?: Record<string, string> } = {},
): Promise<GqlResult> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json',
    ...o.headers,
  };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  const res = await app.fetch('http://gateway.test/graphql', {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as GqlResult['body'] };
}

/** Another gateway instance on `gw`'s stores (its env, then `env`), as the reader of `token`. */
export async function startSecondGateway(
  gw: Pick<TestGateway, 'env'>,
  env: Record<string, string>,
  token: string,
) {
  const config = loadConfig({ ...gw.env, WORKER_CONCURRENCY: '0', ...env });
  const runtime = await startRuntime(config, createLogger(config.logLevel));
  const app = createApp(runtime.deps);
  return {
    runtime,
    deps: runtime.deps,
    app,
    gql: (query: string, variables: Record<string, unknown> = {}) =>
      gqlAt(app, query, variables, { token }),
    async close() {
      await app.dispose();
      await runtime.close();
    },
  };
}

/** supabase-js as the frontend makes it: the anon key, and the reader's access token. */
export async function readerClient(gw: TestGateway, userId: string): Promise<SupabaseClient> {
  const anonKey = await signSupabaseJwt(TEST_JWT_SECRET, { role: 'anon' });
  return createClient(gw.standIn.url, anonKey, {
    realtime: { transport: ws as never },
    auth: { persistSession: false, autoRefreshToken: false },
    global: { headers: { Authorization: `Bearer ${await gw.token(userId)}` } },
  });
}

export const TEST_TYPESENSE_KEY = 'falsafa-test-typesense-key';
export const TEST_QDRANT_KEY = 'falsafa-test-qdrant-key';

/**
 * A gateway wired to this file's own database (behind the Supabase stand-in, over HTTP), Redis,
 * and Qdrant and Typesense stand-ins, configured through the same `loadConfig` + `startRuntime`
 * as production with every store "remote". Helpers sign tokens, seed rows with SQL and call
 * GraphQL in-process through `app.fetch`. The worker runs only when asked.
 */
export async function startTestGateway(
  options: {
    env?: Record<string, string>;
    worker?: boolean;
    /** A Redis Cluster to use instead of the test's Redis (REDIS_CLUSTER_NODES). */
    redisCluster?: TestRedisCluster;
  } = {},
): Promise<TestGateway> {
  const tmpDir = await mkdtemp(join(tmpdir(), 'falsafa-test-'));
  const db = await createTestDatabase();
  const standIn = await startSupabaseStandIn({
    databaseUrl: db.url,
    maxConnections: db.maxConnections,
    jwtSecret: TEST_JWT_SECRET,
    storageDir: join(tmpDir, 'storage'),
    host: '127.0.0.1',
    port: 0,
  });
  const qdrant = await startQdrantStandIn({
    dataDir: join(tmpDir, 'qdrant'),
    apiKey: TEST_QDRANT_KEY,
    host: '127.0.0.1',
    port: 0,
  });
  const typesense = await startTypesenseStandIn({
    apiKey: TEST_TYPESENSE_KEY,
    dataDir: join(tmpDir, 'typesense'),
    host: '127.0.0.1',
    port: 0,
  });
  const serviceRoleKey = await signSupabaseJwt(TEST_JWT_SECRET, { role: 'service_role' });
  // The file's own cluster when it brings one; else the test's Redis, which in the
  // `redis-cluster` project is that project's cluster.
  const {
    redis,
    real,
    url: redisUrl,
    clusterNodes,
  } = options.redisCluster
    ? {
        redis: options.redisCluster.client,
        real: true,
        url: undefined,
        clusterNodes: options.redisCluster.nodes,
      }
    : await createTestRedis();
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SUPABASE_URL: standIn.url,
    SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey,
    SUPABASE_JWT_SECRET: TEST_JWT_SECRET,
    QDRANT_URL: qdrant.url,
    QDRANT_API_KEY: TEST_QDRANT_KEY,
    TYPESENSE_URL: typesense.url,
    TYPESENSE_API_KEY: TEST_TYPESENSE_KEY,
    FALSAFA_DATA_DIR: tmpDir,
    SYSTEM_PROMPT_STORAGE_PATH: join(tmpDir, 'prompts'),
    STORE_TIMEOUT_MS: '3000',
    WORKER_CONCURRENCY: options.worker ? '1' : '0',
    WORKER_HEARTBEAT_MS: '200',
    WORKER_DEAD_AFTER_MS: '1500',
    // Tests send many turns per reader, and the batching tests ask for 100 aliased fields in one
    // request; the rate and operation limits are tested on their own (test/abuse-*).
    RATE_LIMIT_ENABLED: 'false',
    LIMIT_MAX_ALIASES: '1000',
    LIMIT_MAX_TOKENS: '100000',
    // Tests count the store calls of each request: whole responses are cached only where a test
    // says so (test/response-cache.test.ts).
    RESPONSE_CACHE_TTL_MS: '0',
    // The offline model streams without pausing between words.
    LLM_LOCAL_STREAM_DELAY_MS: '0',
    // Feature hashing, the fast offline embedder; tests of the default (word vectors) say so.
    EMBEDDING_PROVIDER: 'local',
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    ...(clusterNodes ? { REDIS_CLUSTER_NODES: clusterNodes } : {}),
    ...options.env,
  };
  const config = loadConfig(env);
  const runtime = await startRuntime(config, createLogger(config.logLevel));
  if (clusterNodes && !runtime.stores.redis?.startsWith('cluster')) {
    await runtime.close();
    throw new Error(`the gateway was given a Redis Cluster but runs on ${runtime.stores.redis}`);
  }
  const deps = runtime.deps;
  const app = createApp(deps);

  const token = (userId: string, o: { expiresInSeconds?: number } = {}) =>
    signSupabaseJwt(TEST_JWT_SECRET, {
      role: 'authenticated',
      sub: userId,
      ...(o.expiresInSeconds !== undefined ? { expiresInSeconds: o.expiresInSeconds } : {}),
    });

  const gql: TestGateway['gql'] = (query, variables, o = {}) => gqlAt(app, query, variables, o);

  let served: Awaited<ReturnType<TestGateway['listen']>> | null = null;
  const listen = async () => {
    if (served) return served;
    const lifecycle = new Lifecycle();
    const server = createGatewayServer(app, lifecycle);
    const webSocket = attachGraphQLWebSocket(server, app, {
      auth: deps.auth,
      logger: deps.logger,
      security: config.security,
      lifecycle,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    served = {
      url: `http://127.0.0.1:${port}/graphql`,
      wsUrl: `ws://127.0.0.1:${port}/graphql`,
      server,
      webSocket,
    };
    return served;
  };

  return {
    app,
    runtime,
    deps,
    db,
    redis,
    redisIsReal: real,
    counter: deps.counter,
    standIn,
    qdrant,
    typesense,
    env,
    tmpDir,
    token,
    gql,
    seed: new Seeder(db),
    listen,
    async close() {
      if (served) {
        await served.webSocket.close();
        served.server.closeAllConnections();
        await new Promise((resolve) => served?.server.close(resolve));
      }
      await app.dispose();
      await runtime.close();
      // The cluster's client belongs to the cluster's owner.
      if (!options.redisCluster) redis.disconnect();
      await Promise.allSettled([standIn.close(), qdrant.close(), typesense.close()]);
      await db.close();
      await rm(tmpDir, { recursive: true, force: true });
    },
  };
}

/** Rows written straight with SQL, as the frontend or ingestion would have made them. */
export class Seeder {
  constructor(private readonly db: TestDatabase) {}

  async category(name = `Category ${randomUUID().slice(0, 8)}`) {
    const [row] = await this.db.sql<{ id: string }[]>`
      insert into categories (name, slug) values (${name}, ${name.toLowerCase().replace(/\W+/g, '-')})
      returning id`;
    return row!.id;
  }

  async book(
    o: {
      title?: string;
      categoryId?: string | null;
      status?: string;
      userId?: string;
      createdAt?: Date;
    } = {},
  ) {
    const [row] = await this.db.sql<{ id: string }[]>`
      insert into books (title, author, category_id, processing_status, user_id, storage_path, created_at)
      values (${o.title ?? 'A Book'}, ${'An Author'}, ${o.categoryId ?? null},
              ${o.status ?? 'completed'}, ${o.userId ?? null}, ${null}, ${o.createdAt ?? new Date()})
      returning id`;
    return row!.id;
  }

  async characters(bookId: string, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const n = String(i).padStart(3, '0');
      const [row] = await this.db.sql<{ id: string }[]>`
        insert into characters (book_id, name, safe_name, description, system_prompt)
        values (${bookId}, ${`Character ${n}`}, ${`character-${n}`}, ${`Person ${n}`},
                ${`You are character ${n}.`})
        returning id`;
      ids.push(row!.id);
    }
    return ids;
  }

  async session(userId: string, characterId: string, bookId: string, title = 'A chat') {
    const [row] = await this.db.sql<{ id: string }[]>`
      insert into chat_sessions (user_id, character_id, book_id, title)
      values (${userId}, ${characterId}, ${bookId}, ${title})
      returning id`;
    return row!.id;
  }

  /** `count` messages alternating user/assistant, one second apart, oldest first. */
  async messages(sessionId: string, count: number) {
    for (let i = 0; i < count; i++) {
      await this.db.sql`
        insert into messages (session_id, role, content, created_at)
        values (${sessionId}, ${i % 2 === 0 ? 'user' : 'assistant'}, ${`message ${i}`},
                ${new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString()})`;
    }
    await this.db.sql`update chat_sessions set message_count = ${count} where id = ${sessionId}`;
  }
}
