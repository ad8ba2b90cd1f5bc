/** The size of the `words` embedder's vectors (GloVe, 100 dimensions). */
export const WORD_VECTOR_DIMENSION = 100;

/**
 * All configuration, read and checked once. Nothing else reads `process.env`.
 * `loadConfig` collects every problem and throws one ConfigError listing them all.
 */
import { z } from 'zod';
import { RERANK_VECTOR_WEIGHT, RERANK_VECTOR_WEIGHT_STRONG } from './chat/rerank.js';
import type { RedisClusterSettings } from './stores/redis.js';

export const DEV_JWT_SECRET = 'falsafa-development-jwt-secret-change-me-0123456789';

const optionalUrl = z.url().optional();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const intFromEnv = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);
const boolFromEnv = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
/** A boolean whose default depends on other settings (undefined when not given). */
const optionalBool = () =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .transform((v) => (v === undefined ? undefined : v === 'true' || v === '1' || v === 'yes'));

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: intFromEnv(4000, 0, 65535),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  SUPABASE_URL: optionalUrl,
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(1).optional(),
  SUPABASE_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SUPABASE_JWKS_URL: optionalUrl,
  SUPABASE_JWT_AUDIENCE: z.string().min(1).default('authenticated'),
  REDIS_URL: optionalUrl,
  REDIS_CLUSTER_NODES: z.string().optional(),
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_TLS: optionalBool(),
  QDRANT_URL: optionalUrl,
  QDRANT_API_KEY: z.string().min(1).optional(),
  QDRANT_LAYOUT: z.enum(['per-book', 'shared']).default('per-book'),
  QDRANT_SHARED_COLLECTION: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^<>:"/\\|?*\0]+$/, 'must not contain < > : " / \\ | ? * or NUL')
    .refine((v) => !UUID.test(v), 'must not be a UUID (a book id names its own collection)')
    .default('book_chunks'),
  QDRANT_SHARD_NUMBER: z.coerce.number().int().min(1).max(1024).optional(),
  QDRANT_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(64).optional(),
  QDRANT_WRITE_CONSISTENCY_FACTOR: z.coerce.number().int().min(1).max(64).optional(),
  TYPESENSE_URL: optionalUrl,
  TYPESENSE_NODES: z.string().optional(),
  TYPESENSE_NEAREST_NODE: optionalUrl,
  TYPESENSE_API_KEY: z.string().min(1).optional(),

  SYSTEM_PROMPT_STORAGE_PATH: z.string().min(1).optional(),
  FALSAFA_DATA_DIR: z.string().min(1).default('.falsafa'),

  STORE_TIMEOUT_MS: intFromEnv(5000, 50, 120_000),
  CACHE_TTL_SECONDS: intFromEnv(3600, 1, 86_400 * 30),
  PAGE_SIZE_DEFAULT: intFromEnv(20, 1, 500),
  PAGE_SIZE_MAX: intFromEnv(100, 1, 1000),
  GRAPHIQL: optionalBool(),

  EMBEDDING_PROVIDER: z.enum(['words', 'local', 'openai']).default('words'),
  EMBEDDING_CACHE_DIR: z.string().min(1).optional(),
  EMBEDDING_BASE_URL: optionalUrl,
  EMBEDDING_API_KEY: z.string().min(1).optional(),
  EMBEDDING_MODEL: z.string().min(1).optional(),
  EMBEDDING_DIMENSION: intFromEnv(384, 8, 8192),
  EMBEDDING_TIMEOUT_MS: intFromEnv(30_000, 100, 600_000),
  LLM_PROVIDER: z.enum(['local', 'openai']).default('local'),
  LLM_BASE_URL: optionalUrl,
  LLM_API_KEY: z.string().min(1).optional(),
  LLM_MODEL: z.string().min(1).optional(),
  LLM_TIMEOUT_MS: intFromEnv(60_000, 100, 600_000),
  LLM_LOCAL_STREAM_DELAY_MS: intFromEnv(40, 0, 2000),

  WORKER_CONCURRENCY: z.coerce.number().int().min(0).max(32).optional(),
  WORKER_HEARTBEAT_MS: intFromEnv(5000, 100, 600_000),
  WORKER_DEAD_AFTER_MS: intFromEnv(30_000, 500, 3_600_000),
  CHUNK_TARGET_CHARS: intFromEnv(1500, 200, 20_000),
  CHUNK_OVERLAP_CHARS: intFromEnv(250, 0, 5000),
  MAX_CHARACTERS_PER_BOOK: intFromEnv(8, 1, 50),
  SEED_DEMO: boolFromEnv(true),

  MESSAGE_MAX_CHARS: intFromEnv(4000, 1, 100_000),
  SESSION_LOCK_WAIT_MS: intFromEnv(2000, 0, 60_000),
  SESSION_LOCK_TTL_MS: intFromEnv(30_000, 1000, 600_000),
  RETRIEVAL_CANDIDATES: intFromEnv(20, 1, 200),
  RETRIEVAL_KEEP: intFromEnv(6, 1, 50),
  RETRIEVAL_RERANK_VECTOR_WEIGHT: z.coerce.number().min(0).max(1).optional(),
  PROMPT_TOKEN_BUDGET: intFromEnv(6000, 500, 200_000),
  REPLY_MAX_TOKENS: intFromEnv(600, 16, 16_000),

  // Production readiness: abuse limits, rate limits, observability, shutdown.
  GRAPHQL_INTROSPECTION: optionalBool(),
  GRAPHQL_SUGGESTIONS: optionalBool(),
  RESPONSE_CACHE_TTL_MS: intFromEnv(10_000, 0, 3_600_000),
  TRUSTED_DOCUMENTS: boolFromEnv(false),
  APQ_TTL_SECONDS: intFromEnv(86_400, 1, 86_400 * 30),
  APQ_MAX_QUERY_BYTES: intFromEnv(16_384, 256, 1024 * 1024),
  CORS_ORIGINS: z.string().optional(),
  CORS_CREDENTIALS: boolFromEnv(false),
  CORS_MAX_AGE_SECONDS: intFromEnv(600, 0, 86_400),
  LIMIT_MAX_DEPTH: intFromEnv(8, 1, 100),
  LIMIT_MAX_ALIASES: intFromEnv(10, 0, 1000),
  LIMIT_MAX_TOKENS: intFromEnv(1000, 50, 100_000),
  LIMIT_MAX_DIRECTIVES: intFromEnv(10, 0, 1000),
  LIMIT_MAX_COST: intFromEnv(5000, 10, 10_000_000),
  BODY_LIMIT_BYTES: intFromEnv(65_536, 1024, 50 * 1024 * 1024),
  UPLOAD_MAX_BYTES: intFromEnv(20 * 1024 * 1024, 1024, 200 * 1024 * 1024),
  RATE_LIMIT_ENABLED: boolFromEnv(true),
  RATE_LIMIT_WINDOW_SECONDS: intFromEnv(60, 1, 86_400),
  RATE_LIMIT_MESSAGES: intFromEnv(20, 1, 1_000_000),
  RATE_LIMIT_SESSIONS: intFromEnv(10, 1, 1_000_000),
  RATE_LIMIT_PROCESS_BOOK: intFromEnv(5, 1, 1_000_000),
  RATE_LIMIT_SEARCHES: intFromEnv(60, 1, 1_000_000),
  METRICS_ENABLED: boolFromEnv(true),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  SHUTDOWN_TIMEOUT_MS: intFromEnv(25_000, 0, 600_000),
  OTEL_SDK_DISABLED: boolFromEnv(false),
  OTEL_TRACES_EXPORTER: z.enum(['otlp', 'console', 'none']).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
  OTEL_SERVICE_NAME: z.string().min(1).default('falsafa-gateway'),
});

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  host: string;
  port: number;
  logLevel: string;
  dataDir: string;
  systemPromptDir: string;
  storeTimeoutMs: number;
  cacheTtlSeconds: number;
  pageSize: { default: number; max: number };
  graphiql: boolean;
  /** Supabase: `embedded` runs PGlite behind the in-process PostgREST stand-in. */
  supabase:
    | { mode: 'remote'; url: string; serviceRoleKey: string }
    | { mode: 'embedded'; url?: undefined; serviceRoleKey?: undefined };
  auth: { jwtSecret?: string; jwksUrl?: string; audience: string; usingDevSecret: boolean };
  /** Redis: one server (`url`), a Redis Cluster (`cluster`), or in-process. */
  redis:
    | { mode: 'remote'; url: string; cluster?: undefined }
    | { mode: 'remote'; url?: undefined; cluster: RedisClusterSettings }
    | { mode: 'embedded' };
  qdrant: { mode: 'remote'; url: string; apiKey?: string } | { mode: 'embedded' };
  /** How chunks map onto Qdrant collections, and the cluster settings of each new collection. */
  qdrantCollections: {
    layout: { kind: 'per-book' } | { kind: 'shared'; collection: string };
    /** QDRANT_SHARED_COLLECTION, whatever the layout (the layout migration writes into it). */
    sharedCollection: string;
    cluster: { shardNumber?: number; replicationFactor?: number; writeConsistencyFactor?: number };
  };
  /** `url` is the first of `nodes`; the client fails over between them (nearest node first). */
  typesense:
    | { mode: 'remote'; url: string; nodes: string[]; nearestNode?: string; apiKey: string }
    | { mode: 'embedded' };
  embeddings: Omit<ProviderSettings, 'provider'> & {
    provider: 'words' | 'local' | 'openai';
    dimension: number;
    /** Where the word vectors' compact file is kept (`words`); default next to the package. */
    cacheDir?: string | undefined;
  };
  llm: ProviderSettings;
  worker: { concurrency: number; heartbeatMs: number; deadAfterMs: number };
  ingestion: { chunkTargetChars: number; chunkOverlapChars: number; maxCharacters: number };
  /** Book files sent to `createBook` (GraphQL multipart): the largest accepted. */
  uploads: { maxBytes: number };
  seedDemo: boolean;
  chat: {
    messageMaxChars: number;
    lockWaitMs: number;
    lockTtlMs: number;
    candidates: number;
    keep: number;
    /** The vector similarity's share in the rerank of the candidates (1: the vector order kept). */
    rerankVectorWeight: number;
    promptTokenBudget: number;
    replyMaxTokens: number;
  };
  /** Abuse limits (all checked before execution, touching no store) and rate limits. */
  /** Catalog responses kept per reader this long (0: off); dropped when ingestion changes a book. */
  responseCacheTtlMs: number;
  security: {
    introspection: boolean;
    suggestions: boolean;
    trustedDocuments: boolean;
    /** Automatic persisted queries (default mode only), kept in Redis as `apq:{sha256}`. */
    apq: { ttlSeconds: number; maxQueryBytes: number };
    /**
     * Browser origins: `origins` null allows any (development and test, when CORS_ORIGINS is
     * unset); otherwise only those exact origins (none in production when unset).
     */
    cors: { origins: string[] | null; credentials: boolean; maxAgeSeconds: number };
    bodyLimitBytes: number;
    limits: { depth: number; aliases: number; tokens: number; directives: number; cost: number };
    /** Per viewer and window, kept in Redis; null when off. */
    rateLimit: {
      windowSeconds: number;
      messages: number;
      sessions: number;
      processBook: number;
      search: number;
    } | null;
  };
  observability: {
    metrics: { enabled: boolean; token?: string };
    /** OpenTelemetry tracing from the standard OTEL_* variables; null when off. */
    tracing: { exporter: 'otlp' | 'console'; endpoint: string; serviceName: string } | null;
  };
  shutdownTimeoutMs: number;
}

interface ProviderSettings {
  provider: 'local' | 'openai';
  baseUrl?: string | undefined;
  apiKey?: string | undefined;
  model?: string | undefined;
  timeoutMs: number;
  /** The offline model's pause between the words of a streamed reply. */
  streamDelayMs?: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const e = parseEnv(env);
  const problems = crossChecks(e);
  const corsOrigins = parseOrigins(e.CORS_ORIGINS, problems);
  const redis = redisSettings(e, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    nodeEnv: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    dataDir: e.FALSAFA_DATA_DIR,
    systemPromptDir: e.SYSTEM_PROMPT_STORAGE_PATH ?? `${e.FALSAFA_DATA_DIR}/system-prompts`,
    storeTimeoutMs: e.STORE_TIMEOUT_MS,
    cacheTtlSeconds: e.CACHE_TTL_SECONDS,
    pageSize: { default: e.PAGE_SIZE_DEFAULT, max: e.PAGE_SIZE_MAX },
    graphiql: e.GRAPHIQL ?? e.NODE_ENV !== 'production',
    ...storeSettings(e),
    redis,
    auth: authSettings(e),
    embeddings: {
      provider: e.EMBEDDING_PROVIDER,
      baseUrl: e.EMBEDDING_BASE_URL,
      apiKey: e.EMBEDDING_API_KEY,
      model: e.EMBEDDING_MODEL,
      // The word vectors have the size they were trained with.
      dimension: e.EMBEDDING_PROVIDER === 'words' ? WORD_VECTOR_DIMENSION : e.EMBEDDING_DIMENSION,
      timeoutMs: e.EMBEDDING_TIMEOUT_MS,
      cacheDir: e.EMBEDDING_CACHE_DIR,
    },
    llm: {
      provider: e.LLM_PROVIDER,
      baseUrl: e.LLM_BASE_URL,
      apiKey: e.LLM_API_KEY,
      model: e.LLM_MODEL,
      timeoutMs: e.LLM_TIMEOUT_MS,
      streamDelayMs: e.LLM_LOCAL_STREAM_DELAY_MS,
    },
    worker: {
      // Embedded mode runs one worker in the gateway process unless told otherwise.
      concurrency:
        e.WORKER_CONCURRENCY ?? (redis.mode === 'embedded' || e.SUPABASE_URL === undefined ? 1 : 0),
      heartbeatMs: e.WORKER_HEARTBEAT_MS,
      deadAfterMs: e.WORKER_DEAD_AFTER_MS,
    },
    ingestion: {
      chunkTargetChars: e.CHUNK_TARGET_CHARS,
      chunkOverlapChars: e.CHUNK_OVERLAP_CHARS,
      maxCharacters: e.MAX_CHARACTERS_PER_BOOK,
    },
    uploads: { maxBytes: e.UPLOAD_MAX_BYTES },
    seedDemo: e.SEED_DEMO,
    chat: {
      messageMaxChars: e.MESSAGE_MAX_CHARS,
      lockWaitMs: e.SESSION_LOCK_WAIT_MS,
      lockTtlMs: e.SESSION_LOCK_TTL_MS,
      candidates: e.RETRIEVAL_CANDIDATES,
      keep: e.RETRIEVAL_KEEP,
      // A strong embedder's order is trusted more.
      rerankVectorWeight:
        e.RETRIEVAL_RERANK_VECTOR_WEIGHT ??
        (e.EMBEDDING_PROVIDER === 'openai' ? RERANK_VECTOR_WEIGHT_STRONG : RERANK_VECTOR_WEIGHT),
      promptTokenBudget: e.PROMPT_TOKEN_BUDGET,
      replyMaxTokens: e.REPLY_MAX_TOKENS,
    },
    responseCacheTtlMs: e.RESPONSE_CACHE_TTL_MS,
    security: securitySettings(e, corsOrigins),
    observability: {
      metrics: {
        enabled: e.METRICS_ENABLED,
        ...(e.METRICS_TOKEN ? { token: e.METRICS_TOKEN } : {}),
      },
      tracing: tracingSettings(e),
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
  };
}

type Env = z.output<typeof envSchema>;

/** The environment parsed by the schema, or ConfigError with every problem it found. */
function parseEnv(env: Record<string, string | undefined>): Env {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`),
    );
  }
  return parsed.data;
}

/** The problems of settings that depend on each other (each alone passed the schema). */
function crossChecks(e: Env): string[] {
  const problems: string[] = [];
  const supabaseRemote = e.SUPABASE_URL !== undefined;
  if (supabaseRemote && !e.SUPABASE_SERVICE_ROLE_KEY) {
    problems.push('SUPABASE_SERVICE_ROLE_KEY: required when SUPABASE_URL is set');
  }
  if (!supabaseRemote && e.SUPABASE_SERVICE_ROLE_KEY) {
    problems.push('SUPABASE_URL: required when SUPABASE_SERVICE_ROLE_KEY is set');
  }
  if (supabaseRemote && e.SUPABASE_JWT_SECRET === DEV_JWT_SECRET) {
    problems.push('SUPABASE_JWT_SECRET: the development default is refused with a real Supabase');
  }
  if (e.PAGE_SIZE_DEFAULT > e.PAGE_SIZE_MAX) {
    problems.push('PAGE_SIZE_DEFAULT: must not exceed PAGE_SIZE_MAX');
  }
  const typesenseNodes = parseNodes(e.TYPESENSE_NODES, problems);
  if (typesenseNodes && e.TYPESENSE_URL) {
    problems.push('TYPESENSE_NODES: give either TYPESENSE_URL or TYPESENSE_NODES, not both');
  }
  if ((e.TYPESENSE_URL || typesenseNodes) && !e.TYPESENSE_API_KEY) {
    problems.push('TYPESENSE_API_KEY: required when TYPESENSE_URL or TYPESENSE_NODES is set');
  }
  if (e.TYPESENSE_NEAREST_NODE && !e.TYPESENSE_URL && !typesenseNodes) {
    problems.push('TYPESENSE_NEAREST_NODE: needs TYPESENSE_URL or TYPESENSE_NODES');
  }
  if (
    e.QDRANT_WRITE_CONSISTENCY_FACTOR !== undefined &&
    e.QDRANT_WRITE_CONSISTENCY_FACTOR > (e.QDRANT_REPLICATION_FACTOR ?? 1)
  ) {
    problems.push(
      'QDRANT_WRITE_CONSISTENCY_FACTOR: must not exceed QDRANT_REPLICATION_FACTOR (default 1)',
    );
  }
  if (e.EMBEDDING_PROVIDER === 'openai' && (!e.EMBEDDING_BASE_URL || !e.EMBEDDING_MODEL)) {
    problems.push(
      'EMBEDDING_BASE_URL and EMBEDDING_MODEL: required when EMBEDDING_PROVIDER=openai',
    );
  }
  if (e.LLM_PROVIDER === 'openai' && (!e.LLM_BASE_URL || !e.LLM_MODEL)) {
    problems.push('LLM_BASE_URL and LLM_MODEL: required when LLM_PROVIDER=openai');
  }
  if (e.CHUNK_OVERLAP_CHARS >= e.CHUNK_TARGET_CHARS) {
    problems.push('CHUNK_OVERLAP_CHARS: must be smaller than CHUNK_TARGET_CHARS');
  }
  return problems;
}

/** Each store's mode: remote when its URL is set, embedded otherwise. */
function storeSettings(
  e: Env,
): Pick<Config, 'supabase' | 'qdrant' | 'qdrantCollections' | 'typesense'> {
  const supabaseRemote = e.SUPABASE_URL !== undefined;
  const typesenseNodes = e.TYPESENSE_NODES ? splitList(e.TYPESENSE_NODES) : undefined;
  return {
    supabase: supabaseRemote
      ? { mode: 'remote', url: e.SUPABASE_URL!, serviceRoleKey: e.SUPABASE_SERVICE_ROLE_KEY! }
      : { mode: 'embedded' },
    qdrant: e.QDRANT_URL
      ? {
          mode: 'remote',
          url: e.QDRANT_URL,
          ...(e.QDRANT_API_KEY ? { apiKey: e.QDRANT_API_KEY } : {}),
        }
      : { mode: 'embedded' },
    qdrantCollections: {
      layout:
        e.QDRANT_LAYOUT === 'shared'
          ? { kind: 'shared', collection: e.QDRANT_SHARED_COLLECTION }
          : { kind: 'per-book' },
      sharedCollection: e.QDRANT_SHARED_COLLECTION,
      cluster: {
        ...(e.QDRANT_SHARD_NUMBER ? { shardNumber: e.QDRANT_SHARD_NUMBER } : {}),
        ...(e.QDRANT_REPLICATION_FACTOR ? { replicationFactor: e.QDRANT_REPLICATION_FACTOR } : {}),
        ...(e.QDRANT_WRITE_CONSISTENCY_FACTOR
          ? { writeConsistencyFactor: e.QDRANT_WRITE_CONSISTENCY_FACTOR }
          : {}),
      },
    },
    typesense:
      e.TYPESENSE_URL || typesenseNodes
        ? {
            mode: 'remote',
            url: (typesenseNodes ?? [e.TYPESENSE_URL!])[0]!,
            nodes: typesenseNodes ?? [e.TYPESENSE_URL!],
            ...(e.TYPESENSE_NEAREST_NODE ? { nearestNode: e.TYPESENSE_NEAREST_NODE } : {}),
            apiKey: e.TYPESENSE_API_KEY!,
          }
        : { mode: 'embedded' },
  };
}

/** How access tokens are verified: the shared secret, or the project's published signing keys. */
function authSettings(e: Env): Config['auth'] {
  const supabaseRemote = e.SUPABASE_URL !== undefined;
  const jwtSecret = e.SUPABASE_JWT_SECRET ?? (supabaseRemote ? undefined : DEV_JWT_SECRET);
  const jwksUrl =
    e.SUPABASE_JWKS_URL ??
    (supabaseRemote && !e.SUPABASE_JWT_SECRET
      ? `${e.SUPABASE_URL!.replace(/\/$/, '')}/auth/v1/.well-known/jwks.json`
      : undefined);
  return {
    ...(jwtSecret ? { jwtSecret } : {}),
    ...(jwksUrl ? { jwksUrl } : {}),
    audience: e.SUPABASE_JWT_AUDIENCE,
    usingDevSecret: jwtSecret === DEV_JWT_SECRET,
  };
}

/** The request limits, CORS, APQ, trusted documents and rate limits. */
function securitySettings(e: Env, corsOrigins: string[] | undefined): Config['security'] {
  return {
    introspection: e.GRAPHQL_INTROSPECTION ?? e.NODE_ENV !== 'production',
    suggestions: e.GRAPHQL_SUGGESTIONS ?? e.NODE_ENV !== 'production',
    trustedDocuments: e.TRUSTED_DOCUMENTS,
    apq: { ttlSeconds: e.APQ_TTL_SECONDS, maxQueryBytes: e.APQ_MAX_QUERY_BYTES },
    cors: {
      origins: corsOrigins ?? (e.NODE_ENV === 'production' ? [] : null),
      credentials: e.CORS_CREDENTIALS,
      maxAgeSeconds: e.CORS_MAX_AGE_SECONDS,
    },
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    limits: {
      depth: e.LIMIT_MAX_DEPTH,
      aliases: e.LIMIT_MAX_ALIASES,
      tokens: e.LIMIT_MAX_TOKENS,
      directives: e.LIMIT_MAX_DIRECTIVES,
      cost: e.LIMIT_MAX_COST,
    },
    rateLimit: e.RATE_LIMIT_ENABLED
      ? {
          windowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
          messages: e.RATE_LIMIT_MESSAGES,
          sessions: e.RATE_LIMIT_SESSIONS,
          processBook: e.RATE_LIMIT_PROCESS_BOOK,
          search: e.RATE_LIMIT_SEARCHES,
        }
      : null,
  };
}

/** A comma-separated list, trimmed, empty items left out. */
function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** TYPESENSE_NODES: comma-separated `http(s)://host[:port][/path]` URLs, at least one. */
function parseNodes(raw: string | undefined, problems: string[]): string[] | undefined {
  if (raw === undefined) return undefined;
  const nodes = splitList(raw);
  if (nodes.length === 0) problems.push('TYPESENSE_NODES: no URL given');
  for (const node of nodes) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(node);
    } catch {}
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      problems.push(`TYPESENSE_NODES: ${JSON.stringify(node)} is not an http(s) URL`);
    }
  }
  return nodes;
}

/** CORS_ORIGINS: comma-separated exact origins (`scheme://host[:port]`, no path). */
function parseOrigins(raw: string | undefined, problems: string[]): string[] | undefined {
  if (raw === undefined) return undefined;
  const origins = splitList(raw);
  for (const origin of origins) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(origin);
    } catch {}
    if (!parsed || parsed.origin !== origin) {
      problems.push(
        `CORS_ORIGINS: ${JSON.stringify(origin)} is not an exact origin (scheme://host[:port])`,
      );
    }
  }
  return origins;
}

/**
 * REDIS_URL (one server; credentials and `rediss:` in the URL) or REDIS_CLUSTER_NODES
 * (comma-separated `host:port` seeds of a Redis Cluster, with REDIS_USERNAME, REDIS_PASSWORD and
 * REDIS_TLS for every node), not both; neither is the in-process Redis.
 */
function redisSettings(e: Env, problems: string[]): Config['redis'] {
  const clusterOnly = (['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'] as const).filter(
    (name) => e[name] !== undefined,
  );
  if (e.REDIS_CLUSTER_NODES === undefined) {
    for (const name of clusterOnly) {
      problems.push(`${name}: only with REDIS_CLUSTER_NODES (REDIS_URL carries its own)`);
    }
    return e.REDIS_URL ? { mode: 'remote', url: e.REDIS_URL } : { mode: 'embedded' };
  }
  if (e.REDIS_URL !== undefined) {
    problems.push('REDIS_URL and REDIS_CLUSTER_NODES: set one, not both');
  }
  const nodes: { host: string; port: number }[] = [];
  for (const raw of e.REDIS_CLUSTER_NODES.split(',').map((n) => n.trim())) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      problems.push(`REDIS_CLUSTER_NODES: ${JSON.stringify(raw)} is not host:port`);
      continue;
    }
    nodes.push({ host: m[1]!.replace(/^\[|\]$/g, ''), port });
  }
  return {
    mode: 'remote',
    cluster: {
      nodes,
      username: e.REDIS_USERNAME,
      password: e.REDIS_PASSWORD,
      tls: e.REDIS_TLS ?? false,
    },
  };
}

/**
 * Tracing is on when OTEL_TRACES_EXPORTER is `otlp` or `console`, or an OTLP endpoint is given
 * (exporter unset), unless OTEL_SDK_DISABLED. The traces URL follows the OTLP/HTTP convention.
 */
function tracingSettings(e: Env): Config['observability']['tracing'] {
  if (e.OTEL_SDK_DISABLED || e.OTEL_TRACES_EXPORTER === 'none') return null;
  const endpoint =
    e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (e.OTEL_EXPORTER_OTLP_ENDPOINT
      ? `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/$/, '')}/v1/traces`
      : undefined);
  const exporter = e.OTEL_TRACES_EXPORTER ?? (endpoint ? 'otlp' : undefined);
  if (!exporter) return null;
  return {
    exporter,
    endpoint: endpoint ?? 'http://localhost:4318/v1/traces',
    serviceName: e.OTEL_SERVICE_NAME,
  };
}

/** For the entry points: the configuration, or every problem printed and exit code 1. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}
