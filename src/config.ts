import { z } from 'zod';

/**
 * All configuration, read and checked once. Nothing else reads `process.env`.
 * `loadConfig` collects every problem and throws one ConfigError listing them all.
 */

export const DEV_JWT_SECRET = 'falsafa-development-jwt-secret-change-me-0123456789';

const optionalUrl = z.url().optional();
const intFromEnv = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);
const boolFromEnv = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: intFromEnv(4000, 0, 65535),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  SUPABASE_URL: optionalUrl,
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(1).optional(),
  SUPABASE_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SUPABASE_JWKS_URL: optionalUrl,
  REDIS_URL: optionalUrl,
  QDRANT_URL: optionalUrl,
  QDRANT_API_KEY: z.string().min(1).optional(),
  TYPESENSE_URL: optionalUrl,
  TYPESENSE_API_KEY: z.string().min(1).optional(),

  SYSTEM_PROMPT_STORAGE_PATH: z.string().min(1).optional(),
  FALSAFA_DATA_DIR: z.string().min(1).default('.falsafa'),

  STORE_TIMEOUT_MS: intFromEnv(5000, 50, 120_000),
  CACHE_TTL_SECONDS: intFromEnv(3600, 1, 86_400 * 30),
  PAGE_SIZE_DEFAULT: intFromEnv(20, 1, 500),
  PAGE_SIZE_MAX: intFromEnv(100, 1, 1000),
  GRAPHIQL: boolFromEnv(true),
});

export type Env = z.input<typeof envSchema>;

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
  auth: { jwtSecret?: string; jwksUrl?: string; usingDevSecret: boolean };
  redis: { mode: 'remote'; url: string } | { mode: 'embedded' };
  qdrant: { mode: 'remote'; url: string; apiKey?: string } | { mode: 'embedded' };
  typesense: { mode: 'remote'; url: string; apiKey: string } | { mode: 'embedded' };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = envSchema.safeParse(cleaned);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.join('.') || '(env)'}: ${issue.message}`);
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;

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
  if (e.TYPESENSE_URL && !e.TYPESENSE_API_KEY) {
    problems.push('TYPESENSE_API_KEY: required when TYPESENSE_URL is set');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const jwtSecret = e.SUPABASE_JWT_SECRET ?? (supabaseRemote ? undefined : DEV_JWT_SECRET);
  // With a real Supabase and no shared secret, verify with the project's published signing keys.
  const jwksUrl =
    e.SUPABASE_JWKS_URL ??
    (supabaseRemote && !e.SUPABASE_JWT_SECRET
      ? `${e.SUPABASE_URL!.replace(/\/$/, '')}/auth/v1/.well-known/jwks.json`
      : undefined);

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
    graphiql: e.GRAPHIQL,
    supabase: supabaseRemote
      ? { mode: 'remote', url: e.SUPABASE_URL!, serviceRoleKey: e.SUPABASE_SERVICE_ROLE_KEY! }
      : { mode: 'embedded' },
    auth: {
      ...(jwtSecret ? { jwtSecret } : {}),
      ...(jwksUrl ? { jwksUrl } : {}),
      usingDevSecret: jwtSecret === DEV_JWT_SECRET,
    },
    redis: e.REDIS_URL ? { mode: 'remote', url: e.REDIS_URL } : { mode: 'embedded' },
    qdrant: e.QDRANT_URL
      ? { mode: 'remote', url: e.QDRANT_URL, ...(e.QDRANT_API_KEY ? { apiKey: e.QDRANT_API_KEY } : {}) }
      : { mode: 'embedded' },
    typesense: e.TYPESENSE_URL
      ? { mode: 'remote', url: e.TYPESENSE_URL, apiKey: e.TYPESENSE_API_KEY! }
      : { mode: 'embedded' },
  };
}
