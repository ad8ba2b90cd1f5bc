/**
 * The package's commands: `supabase`, `qdrant`, `typesense` (one server each) and `stack` (all of
 * them plus PGlite). Each prints what it serves as `NAME=value` lines, then `ready`, and stops
 * cleanly on SIGINT or SIGTERM.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { lockDataDir } from './data-dir-lock.js';
import { bootstrapDatabase } from './database.js';
import { EMBEDDED_PG_POOL_SIZE, startEmbeddedPostgres } from './postgres.js';
import { startQdrantStandIn } from './qdrant/server.js';
import { startStack } from './stack.js';
import { signSupabaseJwt, startSupabaseStandIn } from './supabase/server.js';
import { startTypesenseStandIn } from './typesense/server.js';

const USAGE = `usage:
  falsafa-standins stack      [--data-dir DIR] [--port BASE] [--host H] [--api-key K] [--jwt-secret S] [--migrations DIR] [--bucket NAME]...
  falsafa-supabase-standin    [--data-dir DIR] [--port P] [--host H] --api-key JWT_SECRET [--database-url URL] [--max-connections N] [--storage-dir DIR] [--migrations DIR] [--bucket NAME]...
  falsafa-qdrant-standin      [--data-dir DIR] [--port P] [--host H] [--api-key K]
  falsafa-typesense-standin   [--data-dir DIR] [--port P] [--host H] --api-key K`;

const OPTIONS = {
  'data-dir': { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  'api-key': { type: 'string' },
  'jwt-secret': { type: 'string' },
  'database-url': { type: 'string' },
  'storage-dir': { type: 'string' },
  'max-connections': { type: 'string' },
  migrations: { type: 'string' },
  bucket: { type: 'string', multiple: true },
  help: { type: 'boolean' },
} as const;

type Closer = () => Promise<void>;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function port(value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`--port: not a port: ${value}`);
  return n;
}

/** `--storage-dir`, else `{data-dir}/storage`, else a temporary directory removed at close. */
async function storageDir(
  given: string | undefined,
  dataDir: string | undefined,
  closers: Closer[],
): Promise<string> {
  if (given) return given;
  if (dataDir) return join(dataDir, 'storage');
  const dir = await mkdtemp(join(tmpdir(), 'falsafa-storage-'));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function print(env: Record<string, string>) {
  for (const [name, value] of Object.entries(env)) console.log(`${name}=${value}`);
  console.log('ready');
}

function stopOnSignal(close: Closer) {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    close().then(
      () => process.exit(0),
      (error) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** Runs one command; `command` is the server name or `stack`, `argv` its options. */
export async function run(command: string, argv: string[]): Promise<void> {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true }));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const host = values.host ?? '127.0.0.1';
  const dataDir = values['data-dir'];
  const closers: Closer[] = [];
  const close = async () => {
    for (const fn of closers.reverse()) await fn().catch(() => {});
  };
  try {
    if (command !== 'stack' && dataDir) {
      const lock = await lockDataDir(dataDir);
      closers.push(() => lock.release());
    }
    if (command === 'stack') {
      const stack = await startStack({
        dataDir: dataDir ?? 'standins-data',
        host,
        port: port(values.port),
        ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
        ...(values['jwt-secret'] ? { jwtSecret: values['jwt-secret'] } : {}),
        ...(values.migrations ? { migrationsDir: values.migrations } : {}),
        buckets: values.bucket ?? [],
      });
      closers.push(() => stack.close());
      print(stack.env);
    } else if (command === 'supabase') {
      const jwtSecret = values['api-key'] ?? values['jwt-secret'];
      if (!jwtSecret || jwtSecret.length < 32)
        fail('--api-key: the JWT secret (at least 32 characters) is required');
      let databaseUrl = values['database-url'];
      let maxConnections = Number(values['max-connections'] ?? 10);
      if (!Number.isInteger(maxConnections) || maxConnections < 1)
        fail('--max-connections: a positive integer');
      if (databaseUrl) {
        const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
        try {
          await bootstrapDatabase(sql, values.migrations);
        } finally {
          await sql.end();
        }
      } else {
        const pg = await startEmbeddedPostgres({
          ...(dataDir ? { dataDir: join(dataDir, 'pglite') } : {}),
          ...(values.migrations ? { migrationsDir: values.migrations } : {}),
        });
        closers.push(() => pg.close());
        databaseUrl = pg.url;
        maxConnections = EMBEDDED_PG_POOL_SIZE;
      }
      const s = await startSupabaseStandIn({
        databaseUrl,
        maxConnections,
        jwtSecret,
        storageDir: await storageDir(values['storage-dir'], dataDir, closers),
        buckets: values.bucket ?? [],
        host,
        port: port(values.port),
      });
      closers.push(() => s.close());
      print({
        SUPABASE_URL: s.url,
        SUPABASE_ANON_KEY: await signSupabaseJwt(jwtSecret, { role: 'anon' }),
        SUPABASE_SERVICE_ROLE_KEY: await signSupabaseJwt(jwtSecret, { role: 'service_role' }),
      });
    } else if (command === 'qdrant') {
      const q = await startQdrantStandIn({
        ...(dataDir ? { dataDir } : {}),
        ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
        host,
        port: port(values.port),
      });
      closers.push(() => q.close());
      print({ QDRANT_URL: q.url });
    } else if (command === 'typesense') {
      const apiKey = values['api-key'];
      if (!apiKey) fail('--api-key is required');
      const t = await startTypesenseStandIn({
        ...(dataDir ? { dataDir } : {}),
        apiKey,
        host,
        port: port(values.port),
      });
      closers.push(() => t.close());
      print({ TYPESENSE_URL: t.url, TYPESENSE_API_KEY: apiKey });
    } else {
      fail(`unknown command: ${command}`);
    }
  } catch (error) {
    await close();
    throw error;
  }
  stopOnSignal(close);
}
