import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestDemoBook } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { keysOf } from './support/redis.js';

/**
 * The store calls of one book page (cold and warm) and of one chat turn (cold and warm), counted
 * at the store clients, by store and operation: the figures `docs/capacity.md` quotes. The rate
 * limit is on, as in production (one EVAL per turn); the catalog response cache is off, so the
 * book page counts are those of a response-cache miss.
 */

const BOOK_PAGE = readFileSync(
  new URL('../client/operations/BookPage.graphql', import.meta.url),
  'utf8',
);
const SEND = readFileSync(
  new URL('../client/operations/SendMessage.graphql', import.meta.url),
  'utf8',
);

let gw: TestGateway;
const reader = randomUUID();
let token: string;
let bookId: string;
let characterId: string;

beforeAll(async () => {
  gw = await startTestGateway({
    worker: true,
    // The worker's heartbeat is a Redis call too: slow enough not to land inside a counted request.
    env: {
      RATE_LIMIT_ENABLED: 'true',
      WORKER_HEARTBEAT_MS: '60000',
      WORKER_DEAD_AFTER_MS: '300000',
    },
  });
  token = await gw.token(reader);
  bookId = await ingestDemoBook(gw, reader);
  const [row] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  characterId = row!.id;
}, 90_000);
afterAll(async () => {
  await gw?.close();
});

/** Empties the caches (Redis keys of the contract and the in-process lists), not the queue keys. */
async function coldCaches() {
  const keys = (await keysOf(gw.redis)).filter(
    (k) => !k.startsWith('processing_queue') && !k.startsWith('ratelimit:'),
  );
  if (keys.length > 0) await gw.redis.del(...keys);
  gw.deps.caches.characterIdsByBook.clear();
}

/** Calls by store, and by store operation, made while `fn` runs. */
async function calls(fn: () => Promise<void>) {
  gw.counter.reset();
  await fn();
  const byOp = gw.counter.snapshot();
  const byStore: Record<string, number> = {};
  for (const [key, n] of Object.entries(byOp)) {
    const store = key.slice(0, key.indexOf(':'));
    byStore[store] = (byStore[store] ?? 0) + n;
  }
  return { byStore, byOp };
}

async function bookPage() {
  const res = await gw.gql(BOOK_PAGE, { id: bookId }, { token });
  expect(res.body.errors).toBeUndefined();
  expect((res.body.data?.book as { characters: unknown[] }).characters.length).toBeGreaterThan(0);
}

async function newSession(readingPosition?: { chapter: number }): Promise<string> {
  const res = await gw.gql(
    'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
    { input: { characterId, ...(readingPosition ? { readingPosition } : {}) } },
    { token },
  );
  expect(res.body.errors).toBeUndefined();
  return (res.body.data?.createChatSession as { id: string }).id;
}

async function turn(sessionId: string, content: string) {
  const res = await gw.gql(SEND, { sessionId, content, clientMessageId: randomUUID() }, { token });
  expect(res.body.errors).toBeUndefined();
  expect((res.body.data?.sendMessage as { replayed: boolean }).replayed).toBe(false);
}

describe('store calls of one book page', () => {
  it('cold: Redis 3 (the book, two write-backs), Supabase 2 (book with category, characters)', async () => {
    await coldCaches();
    const { byStore, byOp } = await calls(bookPage);
    expect(byStore).toEqual({ redis: 3, supabase: 2 });
    expect(byOp).toEqual({
      'redis:mget': 1,
      'redis:pipeline': 2,
      'supabase:GET books': 1,
      'supabase:GET characters': 1,
    });
  });

  it('warm: Redis 2 (the book, then its characters), no Supabase call', async () => {
    await bookPage();
    const { byStore, byOp } = await calls(bookPage);
    expect(byStore).toEqual({ redis: 2 });
    expect(byOp).toEqual({ 'redis:mget': 2 });
  });
});

describe('store calls of one chat turn', () => {
  // The offline model rewrites the query in process (no llm:rewrite call); an OpenAI-compatible
  // model adds one llm:rewrite per turn whose rewrite is not cached.
  it('cold (caches emptied, first search of the book in this process): Redis 13, Supabase 6', async () => {
    const sessionId = await newSession();
    await coldCaches();
    const { byStore, byOp } = await calls(() =>
      turn(sessionId, 'Tell me about the lighthouse keeper and the stairs.'),
    );
    expect(byStore).toEqual({
      embeddings: 1,
      llm: 1,
      qdrant: 2,
      redis: 13,
      supabase: 6,
      typesense: 1,
    });
    expect(byOp).toEqual({
      'embeddings:embed': 1,
      'llm:generate': 1,
      'qdrant:get': 1, // the embedder check of the book's collection, once per process
      'qdrant:query': 1,
      'redis:eval': 2, // rate limit, lock release
      'redis:get': 3, // session context, rewrite cache, lock check before saving
      'redis:mget': 2, // character, book
      'redis:pipeline': 2, // character and book write-backs
      'redis:set': 4, // lock take, rewrite cache, chat page version, session context
      'supabase:GET books': 1,
      'supabase:GET characters': 1,
      'supabase:GET chat_sessions': 1,
      'supabase:GET messages': 1, // the session context's last messages
      'supabase:POST rpc/begin_chat_turn': 1,
      'supabase:POST rpc/save_chat_turn': 1,
      'typesense:search': 1,
    });
  });

  it('warm (the second turn of a session): Redis 11, Supabase 3 (session row, begin, save)', async () => {
    const sessionId = await newSession();
    await turn(sessionId, 'Who keeps the lamp?');
    const { byStore, byOp } = await calls(() => turn(sessionId, 'What happened in the storm?'));
    expect(byStore).toEqual({
      embeddings: 1,
      llm: 1,
      qdrant: 1,
      redis: 11,
      supabase: 3,
      typesense: 1,
    });
    expect(byOp).toEqual({
      'embeddings:embed': 1,
      'llm:generate': 1,
      'qdrant:query': 1,
      'redis:eval': 2,
      'redis:get': 3,
      'redis:mget': 2,
      'redis:set': 4,
      'supabase:GET chat_sessions': 1,
      'supabase:POST rpc/begin_chat_turn': 1,
      'supabase:POST rpc/save_chat_turn': 1,
      'typesense:search': 1,
    });
  });

  it('warm, in a session with a reading position: one Qdrant scroll more (the bound on the chunks as indexed now)', async () => {
    const sessionId = await newSession({ chapter: 2 });
    await turn(sessionId, 'Who keeps the lamp?');
    const { byStore, byOp } = await calls(() => turn(sessionId, 'What happened in the storm?'));
    expect(byStore).toEqual({
      embeddings: 1,
      llm: 1,
      qdrant: 2,
      redis: 11,
      supabase: 3,
      typesense: 1,
    });
    expect(byOp['qdrant:scroll']).toBe(1);
    expect(byOp['qdrant:query']).toBe(1);
  });
});
