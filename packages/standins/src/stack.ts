import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type DataDirLock, lockDataDir } from './data-dir-lock.js';
import { EMBEDDED_PG_POOL_SIZE, startEmbeddedPostgres } from './postgres.js';
import { startQdrantStandIn } from './qdrant/server.js';
import { signSupabaseJwt, startSupabaseStandIn } from './supabase/server.js';
import { startTypesenseStandIn } from './typesense/server.js';

export interface StackOptions {
  /** Everything persists under this directory, which the stack locks (one writer). */
  dataDir: string;
  /** Signs and verifies the Supabase keys (at least 32 characters; random when absent). */
  jwtSecret?: string;
  /** The Qdrant and Typesense API key (random when absent). */
  apiKey?: string;
  /** SQL migrations applied once each, in name order, after the Supabase shims. */
  migrationsDir?: string;
  /** Storage buckets created at start (private), if missing. */
  buckets?: string[];
  host?: string;
  /** PGlite listens on `port`, Supabase on +1, Qdrant on +2, Typesense on +3; 0: free ports. */
  port?: number;
}

/** The running stack: each server's URL and the keys to reach it, as environment variables. */
export interface Stack {
  env: {
    DATABASE_URL: string;
    SUPABASE_URL: string;
    SUPABASE_JWT_SECRET: string;
    SUPABASE_ANON_KEY: string;
    SUPABASE_SERVICE_ROLE_KEY: string;
    QDRANT_URL: string;
    QDRANT_API_KEY: string;
    TYPESENSE_URL: string;
    TYPESENSE_API_KEY: string;
  };
  close(): Promise<void>;
}

const TEN_YEARS = 10 * 365 * 24 * 3600;

/**
 * PGlite, the Supabase stand-in over it, and the Qdrant and Typesense stand-ins, as standalone
 * servers that any number of processes share. Data: `{dataDir}/pglite`, `storage`, `qdrant`,
 * `typesense`. A failed start stops what had started.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const fn of closers.reverse()) await fn().catch(() => {});
    closers.length = 0;
  };
  const host = options.host ?? '127.0.0.1';
  const base = options.port ?? 0;
  const at = (offset: number) => (base === 0 ? 0 : base + offset);
  const jwtSecret = options.jwtSecret ?? randomBytes(32).toString('hex');
  const apiKey = options.apiKey ?? randomBytes(16).toString('hex');
  try {
    const lock: DataDirLock = await lockDataDir(options.dataDir);
    closers.push(() => lock.release());
    const pg = await startEmbeddedPostgres({
      dataDir: join(options.dataDir, 'pglite'),
      ...(options.migrationsDir ? { migrationsDir: options.migrationsDir } : {}),
      host,
      port: at(0),
    });
    closers.push(() => pg.close());
    const supabase = await startSupabaseStandIn({
      databaseUrl: pg.url,
      maxConnections: EMBEDDED_PG_POOL_SIZE,
      jwtSecret,
      storageDir: join(options.dataDir, 'storage'),
      buckets: options.buckets ?? [],
      host,
      port: at(1),
    });
    closers.push(() => supabase.close());
    const qdrant = await startQdrantStandIn({
      dataDir: join(options.dataDir, 'qdrant'),
      apiKey,
      host,
      port: at(2),
    });
    closers.push(() => qdrant.close());
    const typesense = await startTypesenseStandIn({
      dataDir: join(options.dataDir, 'typesense'),
      apiKey,
      host,
      port: at(3),
    });
    closers.push(() => typesense.close());
    return {
      env: {
        DATABASE_URL: pg.url,
        SUPABASE_URL: supabase.url,
        SUPABASE_JWT_SECRET: jwtSecret,
        SUPABASE_ANON_KEY: await signSupabaseJwt(jwtSecret, {
          role: 'anon',
          expiresInSeconds: TEN_YEARS,
        }),
        SUPABASE_SERVICE_ROLE_KEY: await signSupabaseJwt(jwtSecret, {
          role: 'service_role',
          expiresInSeconds: TEN_YEARS,
        }),
        QDRANT_URL: qdrant.url,
        QDRANT_API_KEY: apiKey,
        TYPESENSE_URL: typesense.url,
        TYPESENSE_API_KEY: apiKey,
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
