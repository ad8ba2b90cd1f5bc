import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createScratchDatabase } from '../src/embedded/database.js';
import { EMBEDDED_PG_POOL_SIZE, startEmbeddedPostgres } from '../src/embedded/postgres.js';
import { startQdrantStandIn } from '../src/embedded/qdrant/server.js';
import { startSupabaseStandIn } from '../src/embedded/supabase/server.js';
import { startTypesenseStandIn } from '../src/embedded/typesense/server.js';
import { type ChatRequestBody, startOpenAiServer } from '../test/support/openai-server.js';
import { failStartup, serveCommands } from './ipc.js';

/**
 * The stores the gateway under test talks to, in their own process so that they do not share the
 * gateway's event loop: PostgreSQL (embedded PGlite, or a fresh database on the server at
 * BENCH_PG_SERVER_URL) behind the Supabase stand-in, the Qdrant and Typesense stand-ins, and an
 * OpenAI-compatible model that answers at once. Each part is skipped when the parent says the real
 * service is used instead. Everything listens on 127.0.0.1 and is removed on `close`.
 */
const env = process.env;
const dataDir = env.BENCH_DATA_DIR!;
const jwtSecret = env.BENCH_JWT_SECRET!;
const typesenseKey = env.BENCH_TYPESENSE_KEY!;
const closers: (() => Promise<void>)[] = [];

async function closeAll() {
  for (const fn of closers.reverse()) await fn().catch(() => {});
  closers.length = 0;
}

/** A new database on a PostgreSQL server, bootstrapped like our Supabase project; dropped at the end. */
async function freshServerDatabase(serverUrl: string) {
  const scratch = await createScratchDatabase(serverUrl, 'falsafa_bench');
  closers.push(() => scratch.drop());
  return { url: scratch.url, name: scratch.name, maxConnections: 10 };
}

/** The model: a JSON object for query rewrites, a short reply otherwise, no delay. */
function instantAnswer(body: ChatRequestBody) {
  const last = body.messages?.findLast((m) => m.role === 'user')?.content ?? '';
  if (body.response_format?.type === 'json_object') {
    const words = last.split(/\W+/).filter((w) => w.length > 3);
    return {
      json: {
        narrative: `The reader asks about ${last}`.slice(0, 400),
        keyword: (words.slice(0, 6).join(' ') || 'lamp').slice(0, 200),
      },
    };
  }
  return {
    reply:
      'The lamp still turns over the water, and I remember the storm as if it were last night.',
  };
}

async function main() {
  const info: Record<string, unknown> = {};
  if (env.BENCH_START_SUPABASE === '1') {
    let databaseUrl: string;
    let maxConnections: number;
    if (env.BENCH_PG_SERVER_URL) {
      const db = await freshServerDatabase(env.BENCH_PG_SERVER_URL);
      databaseUrl = db.url;
      maxConnections = db.maxConnections;
      info.database = `PostgreSQL server, fresh database ${db.name}`;
      info.databaseUrl = db.url;
    } else {
      const pg = await startEmbeddedPostgres();
      closers.push(() => pg.close());
      databaseUrl = pg.url;
      maxConnections = EMBEDDED_PG_POOL_SIZE;
      info.database = 'embedded PGlite (in memory)';
    }
    const standIn = await startSupabaseStandIn({
      databaseUrl,
      maxConnections,
      jwtSecret,
      storageDir: join(dataDir, 'storage'),
      buckets: ['books'],
      host: '127.0.0.1',
      port: 0,
    });
    closers.push(() => standIn.close());
    info.supabaseUrl = standIn.url;
  }
  if (env.BENCH_START_QDRANT === '1') {
    const q = await startQdrantStandIn({
      dataDir: join(dataDir, 'qdrant'),
      host: '127.0.0.1',
      port: 0,
    });
    closers.push(() => q.close());
    info.qdrantUrl = q.url;
  }
  if (env.BENCH_START_TYPESENSE === '1') {
    const t = await startTypesenseStandIn({
      apiKey: typesenseKey,
      dataDir: join(dataDir, 'typesense'),
      host: '127.0.0.1',
      port: 0,
    });
    closers.push(() => t.close());
    info.typesenseUrl = t.url;
  }
  const llm = await startOpenAiServer({ dimension: 8 });
  llm.chatResponder = instantAnswer;
  closers.push(() => llm.close());
  info.llmUrl = llm.url;
  closers.push(() => rm(dataDir, { recursive: true, force: true }));

  serveCommands(info, {
    /** Model requests answered since the last call (the log is emptied: it would grow). */
    llmRequests: () => {
      const n = llm.requests.length;
      llm.requests.length = 0;
      return n;
    },
    memory: () => process.memoryUsage(),
    cpu: () => {
      const c = process.cpuUsage();
      return { userMs: c.user / 1000, systemMs: c.system / 1000 };
    },
    close: async () => {
      await closeAll();
      setTimeout(() => process.exit(0), 20).unref();
      return true;
    },
  });
}

main().catch(async (err) => {
  await closeAll();
  failStartup(err);
});
