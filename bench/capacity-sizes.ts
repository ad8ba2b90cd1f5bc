import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createScratchDatabase,
  signSupabaseJwt,
  startQdrantStandIn,
  startSupabaseStandIn,
  startTypesenseStandIn,
} from '@falsafa/standins';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { loadConfig } from '../src/config.js';
import { chunkText } from '../src/ingest/chunker.js';
import { createLogger } from '../src/logger.js';
import { MIGRATIONS_DIR } from '../src/migrations.js';
import { startRuntime } from '../src/runtime.js';
import { createApp } from '../src/yoga.js';
import { claimRedisDatabase } from './environment.js';
import { megabyteBook } from './fixtures.js';

/**
 * Measures what `docs/capacity.md` sizes from: the bytes per row of every PostgreSQL table and the
 * bytes of every Redis key the gateway writes. A scratch database on the PostgreSQL server
 * (CAPACITY_PG_URL, migrations applied) and a claimed empty Redis logical database (CAPACITY_REDIS_URL)
 * behind the embedded Supabase, Qdrant and Typesense stand-ins; the gateway ingests a book of
 * about CAPACITY_BOOK_BYTES (500 KB), a reader opens its page, asks ten turns and reads the chat
 * page. Redis keys are measured with MEMORY USAGE as the gateway left them; the tables are then
 * filled with copies of those rows (so indexes have many entries) and measured with
 * pg_total_relation_size. Both are removed at the end. Prints one JSON object.
 *
 *   CAPACITY_PG_URL=postgres://postgres@127.0.0.1:5432/postgres \
 *   CAPACITY_REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/capacity-sizes.ts
 */
const PG_URL = process.env.CAPACITY_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.CAPACITY_REDIS_URL ?? 'redis://127.0.0.1:6379';
const BOOK_BYTES = Number(process.env.CAPACITY_BOOK_BYTES ?? 500_000);
const TURNS = 10;
const COPIES = 2000; // books, and sessions, after the copy; messages: COPIES × the session's messages
const JWT_SECRET = 'falsafa-capacity-jwt-secret-0123456789abcdef-xyz';
const KEY = 'falsafa-capacity-key';

const operation = (name: string) =>
  readFileSync(new URL(`../client/operations/${name}.graphql`, import.meta.url), 'utf8');

async function main() {
  const tmp = await mkdtemp(join(tmpdir(), 'falsafa-capacity-'));
  const scratch = await createScratchDatabase(PG_URL, 'falsafa_capacity', MIGRATIONS_DIR);
  const claimed = await claimRedisDatabase(REDIS_URL);
  const sql = postgres(scratch.url, { max: 2, onnotice: () => {} });
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const supabase = await startSupabaseStandIn({
      databaseUrl: scratch.url,
      jwtSecret: JWT_SECRET,
      storageDir: join(tmp, 'storage'),
      host: '127.0.0.1',
      port: 0,
    });
    closers.push(() => supabase.close());
    const qdrant = await startQdrantStandIn({
      dataDir: join(tmp, 'qdrant'),
      apiKey: KEY,
      host: '127.0.0.1',
      port: 0,
    });
    closers.push(() => qdrant.close());
    const typesense = await startTypesenseStandIn({
      dataDir: join(tmp, 'typesense'),
      apiKey: KEY,
      host: '127.0.0.1',
      port: 0,
    });
    closers.push(() => typesense.close());
    const config = loadConfig({
      NODE_ENV: 'production',
      LOG_LEVEL: 'silent',
      SUPABASE_URL: supabase.url,
      SUPABASE_SERVICE_ROLE_KEY: await signSupabaseJwt(JWT_SECRET, { role: 'service_role' }),
      SUPABASE_JWT_SECRET: JWT_SECRET,
      QDRANT_URL: qdrant.url,
      QDRANT_API_KEY: KEY,
      TYPESENSE_URL: typesense.url,
      TYPESENSE_API_KEY: KEY,
      REDIS_URL: claimed.url,
      FALSAFA_DATA_DIR: tmp,
      SYSTEM_PROMPT_STORAGE_PATH: join(tmp, 'prompts'),
      WORKER_CONCURRENCY: '1',
      // The offline embedder and model: the sizes do not depend on which model wrote the text.
      EMBEDDING_PROVIDER: 'local',
      LLM_LOCAL_STREAM_DELAY_MS: '0',
    });
    const runtime = await startRuntime(config, createLogger('silent'));
    closers.unshift(() => runtime.close());
    const app = createApp(runtime.deps);
    closers.unshift(async () => app.dispose());

    const reader = randomUUID();
    const token = await signSupabaseJwt(JWT_SECRET, { role: 'authenticated', sub: reader });
    const gql = async (query: string, variables: Record<string, unknown>, extra = {}) => {
      const res = await app.fetch('http://gateway.capacity/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables, ...extra }),
      });
      const body = (await res.json()) as { data?: any; errors?: unknown[] };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    };

    // A book as the frontend makes it, processed by the gateway's worker.
    const bytes = await megabyteBook(BOOK_BYTES);
    const path = `${reader}/${randomUUID()}/novel.md`;
    const up = await runtime.deps.supabase.storage
      .from('books')
      .upload(path, bytes, { contentType: 'text/markdown' });
    if (up.error) throw new Error(up.error.message);
    const [category] = await sql<{ id: string }[]>`
      insert into categories (name, slug, description)
      values ('Literary fiction', 'literary-fiction', 'Novels of character and voice') returning id`;
    const [book] = await sql<{ id: string }[]>`
      insert into books (title, author, description, category_id, user_id, storage_path, processing_status)
      values ('The Lamp at Salt Hollow', 'An Author', ${'A keeper, a storm and a logbook. '.repeat(6)},
              ${category!.id}, ${reader}, ${path}, 'pending') returning id`;
    const bookId = book!.id;
    await gql('mutation ($id: ID!) { processBook(bookId: $id) { id } }', { id: bookId });
    for (let i = 0; ; i++) {
      const [row] = await sql<{ processing_status: string }[]>`
        select processing_status from books where id = ${bookId}`;
      if (row?.processing_status === 'completed') break;
      if (row?.processing_status === 'failed' || i > 1200) throw new Error('ingestion failed');
      await sleep(100);
    }

    // The reader's requests: the book page (once as an automatic persisted query), ten turns, the chat page.
    const bookPage = operation('BookPage');
    const hash = createHash('sha256').update(bookPage).digest('hex');
    await gql(
      bookPage,
      { id: bookId },
      {
        extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
      },
    );
    const characters = await sql<{ id: string }[]>`
      select id from characters where book_id = ${bookId} order by name`;
    const session = await gql(
      'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
      { input: { characterId: characters[0]!.id } },
    );
    const sessionId = session.createChatSession.id as string;
    const questions = [
      'Tell me about the lighthouse keeper and the hundred and twelve stairs.',
      'What happened on the night of the storm?',
      'Who wrote in the logbook, and what did they write?',
      'Why did the stranger bring maps to the village?',
      'What do you remember about the lamp when it first failed?',
      'How did the village treat you after the wreck?',
      'Is there anything you regret about that winter?',
      'Who taught you to trim the wick?',
      'What would you tell a new keeper on their first night?',
      'Where do you go when the fog comes in?',
    ];
    for (const content of questions.slice(0, TURNS)) {
      await gql(operation('SendMessage'), { sessionId, content, clientMessageId: randomUUID() });
    }
    await gql(operation('ChatPage'), { sessionId });
    // Stop the worker's and the gateway's own writes before reading the keys.
    await sleep(300);

    const redis = await measureRedis(claimed.url);
    // Keys a quiet moment does not show, written with the gateway's shapes once it has stopped: a
    // held session lock (16 random bytes in hex, PX 30000) and one queued job.
    await app.dispose();
    await runtime.close();
    closers.splice(0, 2);
    Object.assign(redis, await measureShapes(claimed.url, sessionId, bookId));
    const pg = await measurePostgres(sql, bookId, sessionId);
    const chunksPerBook = chunkText(new TextDecoder().decode(bytes), {
      targetChars: config.ingestion.chunkTargetChars,
      overlapChars: config.ingestion.chunkOverlapChars,
    });
    const points = await runtime.deps.vectors.client.scroll(bookId, {
      limit: 100_000,
      with_payload: true,
    });
    const payloadBytes = points.points.map((p) => Buffer.byteLength(JSON.stringify(p.payload)));
    const indexedBytes = points.points.map(
      (p) =>
        Buffer.byteLength(String(p.payload?.text ?? '')) +
        Buffer.byteLength(String(p.payload?.chapter ?? '')),
    );
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    console.log(
      JSON.stringify(
        {
          measuredAt: new Date().toISOString(),
          book: {
            bytes: bytes.length,
            chunks: points.points.length,
            chunksByChunker: chunksPerBook.length,
            chunkTargetChars: config.ingestion.chunkTargetChars,
            chunkOverlapChars: config.ingestion.chunkOverlapChars,
            payloadJsonBytesPerPoint: Math.round(sum(payloadBytes) / payloadBytes.length),
            indexedFieldBytesPerBook: sum(indexedBytes),
            charactersFound: characters.length,
          },
          redis,
          postgres: pg,
        },
        null,
        2,
      ),
    );
  } finally {
    for (const close of closers) await close().catch(() => {});
    await sql.end();
    await claimed.release();
    await scratch.drop();
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Every key, grouped by its pattern (ids replaced), with MEMORY USAGE, TTL and value length. */
async function measureRedis(url: string) {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const keys = (await r.keys('*')).filter((k) => k !== 'falsafa:bench:claim').sort();
    const groups = new Map<
      string,
      { keys: number; bytes: number[]; ttl: number[]; value: number[] }
    >();
    for (const key of keys) {
      const pattern = key
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '{id}')
        .replace(/\b[0-9a-f]{64}\b/g, '{sha256}')
        .replace(/^(\{processing_queue\}:[a-z]+:).+$/, '$1{worker}');
      const type = await r.type(key);
      const bytes = Number(await r.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      const ttl = await r.ttl(key);
      const value =
        type === 'string'
          ? await r.strlen(key)
          : type === 'list'
            ? await r.llen(key)
            : type === 'hash'
              ? await r.hlen(key)
              : -1;
      const g = groups.get(`${type} ${pattern}`) ?? { keys: 0, bytes: [], ttl: [], value: [] };
      g.keys++;
      g.bytes.push(bytes);
      g.ttl.push(ttl);
      g.value.push(value);
      groups.set(`${type} ${pattern}`, g);
    }
    return Object.fromEntries(
      [...groups].map(([k, g]) => [
        k,
        {
          keys: g.keys,
          memoryUsageBytes: `${Math.min(...g.bytes)}–${Math.max(...g.bytes)}`,
          ttlSeconds: `${Math.min(...g.ttl)}–${Math.max(...g.ttl)}`,
          valueLength: `${Math.min(...g.value)}–${Math.max(...g.value)}`,
        },
      ]),
    );
  } finally {
    r.disconnect();
  }
}

async function measureShapes(url: string, sessionId: string, bookId: string) {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const lock = `chat:lock:${sessionId}`;
    await r.set(lock, randomBytes(16).toString('hex'), 'PX', 30_000, 'NX');
    const job = JSON.stringify({
      job_id: randomUUID(),
      type: 'process_book',
      book_id: bookId,
      enqueued_at: new Date().toISOString(),
    });
    await r.rpush('processing_queue', job);
    const usage = async (key: string) =>
      Number(await r.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    const out = {
      'string chat:lock:{id} (shape)': {
        keys: 1,
        memoryUsageBytes: await usage(lock),
        ttlSeconds: 30,
      },
      'list processing_queue (shape, one job)': {
        keys: 1,
        memoryUsageBytes: await usage('processing_queue'),
        jobJsonBytes: Buffer.byteLength(job),
      },
    };
    await r.del(lock, 'processing_queue');
    return out;
  } finally {
    r.disconnect();
  }
}

const TABLES = [
  'categories',
  'books',
  'characters',
  'chat_sessions',
  'messages',
  'chat_turn_fences',
  'book_jobs',
] as const;

/** Bytes per row as the gateway wrote them, then per row with indexes over many copies. */
async function measurePostgres(sql: postgres.Sql, bookId: string, sessionId: string) {
  const rowBytes: Record<string, { rows: number; avgRowBytes: number }> = {};
  for (const t of TABLES) {
    const [r] = await sql<{ n: number; avg: number | null }[]>`
      select count(*)::int as n, avg(pg_column_size(t.*))::float8 as avg from ${sql(t)} t`;
    rowBytes[t] = { rows: r!.n, avgRowBytes: Math.round(r!.avg ?? 0) };
  }
  // Copies of the gateway's rows: COPIES books with the book's characters and job, one session per
  // book with the session's fence and messages.
  await sql`
    insert into books (title, author, description, category_id, user_id, storage_path, processing_status)
    select title, author, description, category_id, gen_random_uuid(), storage_path, processing_status
    from books, generate_series(2, ${COPIES}) where id = ${bookId}`;
  await sql`
    insert into characters (book_id, name, safe_name, description, personality, system_prompt, avatar_url)
    select b.id, c.name, c.safe_name, c.description, c.personality, c.system_prompt, c.avatar_url
    from books b cross join characters c where b.id <> ${bookId} and c.book_id = ${bookId}`;
  await sql`
    insert into book_jobs (book_id, job_id, state, requested_at, worker, lease_until, finished_at)
    select b.id, gen_random_uuid()::text, j.state, j.requested_at, j.worker, j.lease_until, j.finished_at
    from books b cross join book_jobs j where b.id <> ${bookId} and j.book_id = ${bookId}`;
  await sql`
    insert into chat_sessions (user_id, character_id, book_id, title, message_count, preview)
    select distinct on (c.book_id) gen_random_uuid(), c.id, c.book_id, s.title, s.message_count, s.preview
    from characters c cross join chat_sessions s where s.id = ${sessionId} and c.book_id <> ${bookId}
    order by c.book_id, c.name`;
  await sql`
    insert into chat_turn_fences (session_id, fence, taken_at)
    select s.id, f.fence, f.taken_at from chat_sessions s cross join chat_turn_fences f
    where s.id <> ${sessionId} and f.session_id = ${sessionId}`;
  await sql`
    insert into messages (session_id, role, content, citations, client_message_id, created_at)
    select s.id, m.role, m.content, m.citations, gen_random_uuid(), m.created_at
    from chat_sessions s cross join messages m where s.id <> ${sessionId} and m.session_id = ${sessionId}`;
  await sql.unsafe(`vacuum analyze ${TABLES.join(', ')}`);
  const out: Record<string, unknown> = {};
  for (const t of TABLES) {
    const [r] = await sql<
      { n: number; tbl: number; idx: number; total: number; toast: number; indexes: number }[]
    >`
      select count(*)::int as n,
        pg_table_size(${t}::regclass)::float8 as tbl,
        pg_indexes_size(${t}::regclass)::float8 as idx,
        pg_total_relation_size(${t}::regclass)::float8 as total,
        coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)::float8 as toast,
        (select count(*)::int from pg_index where indrelid = ${t}::regclass) as indexes
      from ${sql(t)} t, pg_class c where c.oid = ${t}::regclass group by c.reltoastrelid`;
    const n = r!.n || 1;
    out[t] = {
      ...rowBytes[t],
      copies: r!.n,
      indexes: r!.indexes,
      tableBytesPerRow: Math.round(r!.tbl / n),
      toastBytesPerRow: Math.round(r!.toast / n),
      indexBytesPerRow: Math.round(r!.idx / n),
      totalBytesPerRow: Math.round(r!.total / n),
    };
  }
  const [m] = await sql<{ avg: number; content: number; citations: number }[]>`
    select avg(pg_column_size(m.*))::float8 as avg, avg(length(content))::float8 as content,
      avg(coalesce(octet_length(citations::text), 0))::float8 as citations
    from messages m where session_id = ${sessionId}`;
  out.messageText = {
    avgContentChars: Math.round(m!.content),
    avgCitationsJsonBytes: Math.round(m!.citations),
    avgStoredRowBytes: Math.round(m!.avg),
  };
  return out;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
