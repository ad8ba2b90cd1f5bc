import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createAuthenticator } from './auth.js';
import type { Config } from './config.js';
import { createDeps, type Deps } from './deps.js';
import { EMBEDDED_PG_POOL_SIZE, startEmbeddedPostgres } from './embedded/postgres.js';
import { signSupabaseJwt, startSupabaseStandIn } from './embedded/supabase/server.js';
import type { Logger } from './logger.js';
import { StoreCallCounter } from './stores/metrics.js';
import { createRedis } from './stores/redis.js';
import { createSupabase } from './stores/supabase.js';

/**
 * Starts what the configuration asks for: each store is real (its URL is set) or embedded
 * (PGlite behind the PostgREST stand-in, in-process Redis), independently. Closing stops them in
 * reverse order.
 */
export interface Runtime {
  deps: Deps;
  /** Development token for the fixed development reader (embedded auth only). */
  devToken?: string;
  devUserId?: string;
  close(): Promise<void>;
}

export const DEV_USER_ID = '00000000-0000-4000-8000-000000000001';

export async function startRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const fn of closers.reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.warn({ err }, 'error while closing a store');
      }
    }
  };
  try {
    const counter = new StoreCallCounter();
    let supabaseUrl: string;
    let serviceRoleKey: string;
    if (config.supabase.mode === 'remote') {
      supabaseUrl = config.supabase.url;
      serviceRoleKey = config.supabase.serviceRoleKey;
    } else {
      const dataDir = resolve(config.dataDir);
      await mkdir(dataDir, { recursive: true });
      const pg = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pglite') });
      closers.push(() => pg.close());
      const standIn = await startSupabaseStandIn({
        databaseUrl: pg.url,
        maxConnections: EMBEDDED_PG_POOL_SIZE,
        jwtSecret: config.auth.jwtSecret!,
        storageDir: join(dataDir, 'storage'),
        host: '127.0.0.1',
        port: 0,
      });
      closers.push(() => standIn.close());
      supabaseUrl = standIn.url;
      serviceRoleKey = await signSupabaseJwt(config.auth.jwtSecret!, {
        role: 'service_role',
        expiresInSeconds: 10 * 365 * 24 * 3600,
      });
    }
    const supabase = createSupabase({
      url: supabaseUrl,
      serviceRoleKey,
      timeoutMs: config.storeTimeoutMs,
      counter,
    });

    const redis = await createRedis(
      config.redis.mode === 'remote'
        ? { mode: 'remote', url: config.redis.url, timeoutMs: config.storeTimeoutMs }
        : { mode: 'embedded' },
    );
    closers.push(async () => {
      redis.disconnect();
    });

    const auth = createAuthenticator({
      ...(config.auth.jwtSecret ? { jwtSecret: config.auth.jwtSecret } : {}),
      ...(config.auth.jwksUrl ? { jwksUrl: config.auth.jwksUrl } : {}),
      timeoutMs: config.storeTimeoutMs,
    });
    const deps = createDeps({ config, logger, counter, auth, supabase, redis });

    logger.info(
      {
        supabase:
          config.supabase.mode === 'remote' ? 'remote' : `embedded (PGlite, ${supabaseUrl})`,
        redis: config.redis.mode === 'remote' ? 'remote' : 'embedded (in-process)',
        auth: config.auth.jwksUrl && !config.auth.jwtSecret ? 'jwks' : 'hs256',
      },
      'stores ready',
    );

    const runtime: Runtime = { deps, close };
    if (config.auth.usingDevSecret) {
      runtime.devUserId = DEV_USER_ID;
      runtime.devToken = await signSupabaseJwt(config.auth.jwtSecret!, {
        role: 'authenticated',
        sub: DEV_USER_ID,
        expiresInSeconds: 30 * 24 * 3600,
      });
    }
    return runtime;
  } catch (err) {
    await close();
    throw err;
  }
}
