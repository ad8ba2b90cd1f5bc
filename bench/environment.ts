import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/**
 * Which stores the benchmark uses, from the environment of `npm run bench`:
 * - PostgreSQL: BENCH_DATABASE_URL names a PostgreSQL server (trust auth) on which a fresh
 *   database is created for the run and dropped after, behind the Supabase stand-in; else a real
 *   Supabase project when SUPABASE_URL is set (with SUPABASE_SERVICE_ROLE_KEY and
 *   SUPABASE_JWT_SECRET, to sign readers' tokens; the rows made are deleted after); else
 *   embedded PGlite behind the stand-in.
 * - Redis: BENCH_REDIS_URL, else REDIS_URL: a free logical database (1-15, empty) is claimed
 *   for the run and emptied after; else the embedded in-process Redis, as `npm start` runs it.
 * - Qdrant and Typesense: QDRANT_URL (QDRANT_API_KEY) and TYPESENSE_URL (TYPESENSE_API_KEY), else
 *   the stand-ins.
 */
export const BENCH_JWT_SECRET = 'falsafa-bench-jwt-secret-0123456789abcdef-xyz';
export const BENCH_TYPESENSE_KEY = 'falsafa-bench-typesense-key';
const CLAIM_KEY = 'falsafa:bench:claim';

export interface StoreChoice {
  pgServerUrl: string | undefined;
  supabase: { url: string; serviceRoleKey: string; jwtSecret: string } | null;
  redisUrl: string | undefined;
  qdrant: { url: string; apiKey?: string } | null;
  typesense: { url: string; apiKey: string } | null;
  jwtSecret: string;
}

export function chooseStores(env: NodeJS.ProcessEnv): StoreChoice {
  const pgServerUrl = env.BENCH_DATABASE_URL || undefined;
  let supabase: StoreChoice['supabase'] = null;
  if (!pgServerUrl && env.SUPABASE_URL) {
    if (!env.SUPABASE_SERVICE_ROLE_KEY || !env.SUPABASE_JWT_SECRET) {
      throw new Error(
        'with SUPABASE_URL, the benchmark needs SUPABASE_SERVICE_ROLE_KEY and SUPABASE_JWT_SECRET',
      );
    }
    supabase = {
      url: env.SUPABASE_URL,
      serviceRoleKey: env.SUPABASE_SERVICE_ROLE_KEY,
      jwtSecret: env.SUPABASE_JWT_SECRET,
    };
  }
  if (env.TYPESENSE_URL && !env.TYPESENSE_API_KEY) {
    throw new Error('with TYPESENSE_URL, the benchmark needs TYPESENSE_API_KEY');
  }
  return {
    pgServerUrl,
    supabase,
    redisUrl: env.BENCH_REDIS_URL || env.REDIS_URL || undefined,
    qdrant: env.QDRANT_URL
      ? { url: env.QDRANT_URL, ...(env.QDRANT_API_KEY ? { apiKey: env.QDRANT_API_KEY } : {}) }
      : null,
    typesense: env.TYPESENSE_URL
      ? { url: env.TYPESENSE_URL, apiKey: env.TYPESENSE_API_KEY! }
      : null,
    jwtSecret: supabase?.jwtSecret ?? BENCH_JWT_SECRET,
  };
}

/** Claims an empty logical database on the Redis server; `release` empties it again. */
export async function claimRedisDatabase(
  serverUrl: string,
): Promise<{ url: string; db: number; release(): Promise<void> }> {
  const runId = randomBytes(4).toString('hex');
  const redis = new Redis(serverUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let claimed = -1;
  try {
    for (let db = 1; db < 16 && claimed < 0; db++) {
      await redis.select(db);
      if ((await redis.dbsize()) !== 0) continue;
      const ok = await redis.set(CLAIM_KEY, runId, 'EX', 7200, 'NX');
      if (ok === 'OK' && (await redis.dbsize()) === 1) claimed = db;
    }
  } finally {
    await redis.quit();
  }
  if (claimed < 0) throw new Error('no free Redis logical database (1-15) for the benchmark');
  const url = new URL(serverUrl);
  url.pathname = `/${claimed}`;
  return {
    url: url.toString(),
    db: claimed,
    async release() {
      const r = new Redis(url.toString(), { maxRetriesPerRequest: 1 });
      try {
        await r.flushdb();
      } finally {
        await r.quit();
      }
    },
  };
}

/** A URL without its password, for the report (other values as they are). */
export function redact(value: string): string {
  try {
    const u = new URL(value);
    if (u.password) u.password = '***';
    return u.protocol === 'file:' ? value : u.toString();
  } catch {
    return value;
  }
}
