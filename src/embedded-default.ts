import { join } from 'node:path';
import type { Config } from './config.js';
import { MIGRATIONS_DIR } from './migrations.js';
import type { RedisClient } from './stores/redis.js';

/**
 * The embedded default: the stores whose URL is not configured run in this process, from
 * `@falsafa/standins` (PGlite behind the PostgREST + Storage stand-in, the Qdrant and Typesense
 * stand-ins), keeping their data under `dataDir`, which is then locked (a second process is refused
 * with DataDirLockedError). The package is imported here only, and only when something is
 * embedded: a gateway given every URL loads none of it.
 */
export interface EmbeddedStores {
  supabase?: { url: string; serviceRoleKey: string; anonKey: string };
  qdrant?: { url: string };
  typesense?: { url: string; apiKey: string };
  /** A Supabase-shaped user access token for the development secret. */
  signUserToken(secret: string, sub: string, expiresInSeconds: number): Promise<string>;
  close(): Promise<void>;
}

const EMBEDDED_TYPESENSE_KEY = 'falsafa-embedded-typesense-key';
const TEN_YEARS = 10 * 365 * 24 * 3600;

export function anyEmbedded(config: Config): boolean {
  return (
    config.supabase.mode === 'embedded' ||
    config.qdrant.mode === 'embedded' ||
    config.typesense.mode === 'embedded'
  );
}

/** The in-process Redis (ioredis-mock) of a gateway given no REDIS_URL; loaded only then. */
export async function startEmbeddedRedis(): Promise<RedisClient> {
  const { default: RedisMock } = await import('ioredis-mock');
  return new (RedisMock as unknown as new () => RedisClient)();
}

export async function startEmbeddedStores(
  config: Config,
  dataDir: string,
): Promise<EmbeddedStores> {
  const standins = await import('@falsafa/standins');
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const fn of closers.reverse()) await fn();
    closers.length = 0;
  };
  const result: EmbeddedStores = {
    signUserToken: (secret, sub, expiresInSeconds) =>
      standins.signSupabaseJwt(secret, { role: 'authenticated', sub, expiresInSeconds }),
    close,
  };
  try {
    const lock = await standins.lockDataDir(dataDir);
    closers.push(() => lock.release());
    if (config.supabase.mode === 'embedded') {
      const secret = config.auth.jwtSecret!;
      const pg = await standins.startEmbeddedPostgres({
        dataDir: join(dataDir, 'pglite'),
        migrationsDir: MIGRATIONS_DIR,
      });
      closers.push(() => pg.close());
      const standIn = await standins.startSupabaseStandIn({
        databaseUrl: pg.url,
        maxConnections: standins.EMBEDDED_PG_POOL_SIZE,
        jwtSecret: secret,
        jwtAudience: config.auth.audience,
        storageDir: join(dataDir, 'storage'),
        host: '127.0.0.1',
        port: 0,
      });
      closers.push(() => standIn.close());
      result.supabase = {
        url: standIn.url,
        serviceRoleKey: await standins.signSupabaseJwt(secret, {
          role: 'service_role',
          expiresInSeconds: TEN_YEARS,
        }),
        anonKey: await standins.signSupabaseJwt(secret, {
          role: 'anon',
          expiresInSeconds: TEN_YEARS,
        }),
      };
    }
    if (config.qdrant.mode === 'embedded') {
      const q = await standins.startQdrantStandIn({
        dataDir: join(dataDir, 'qdrant'),
        host: '127.0.0.1',
        port: 0,
      });
      closers.push(() => q.close());
      result.qdrant = { url: q.url };
    }
    if (config.typesense.mode === 'embedded') {
      const t = await standins.startTypesenseStandIn({
        apiKey: EMBEDDED_TYPESENSE_KEY,
        dataDir: join(dataDir, 'typesense'),
        host: '127.0.0.1',
        port: 0,
      });
      closers.push(() => t.close());
      result.typesense = { url: t.url, apiKey: EMBEDDED_TYPESENSE_KEY };
    }
    return result;
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
}
