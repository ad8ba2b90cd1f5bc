import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { deleteKeys, keysOf, mgetsOnServers, serverCalls } from './support/redis.js';

/**
 * One GraphQL request makes at most one Redis read and one Supabase call per entity type however
 * many rows it asks for; warm, it makes no Supabase call at all. Calls are counted where they
 * leave the gateway (the store clients) and, for Supabase, where they arrive (the stand-in).
 */
let gw: TestGateway;
let token: string;

beforeAll(async () => {
  gw = await startTestGateway();
  token = await gw.token(randomUUID());
});
afterAll(async () => {
  await gw?.close();
});

async function coldCaches() {
  await deleteKeys(gw.redis, await keysOf(gw.redis, 'chat:*'));
  gw.deps.caches.characterIdsByBook.clear();
}

/** The MGETs the Redis servers have run (null on ioredis-mock, which does not count them). */
const mgetCallsOnServer = async (): Promise<number | null> =>
  gw.redisIsReal ? serverCalls(gw.redis, 'mget') : null;

async function measure(query: string, variables: Record<string, unknown>) {
  gw.counter.reset();
  gw.standIn.resetCounters();
  const mgetBefore = await mgetCallsOnServer();
  const res = await gw.gql(query, variables, { token });
  expect(res.body.errors).toBeUndefined();
  const mgetAfter = await mgetCallsOnServer();
  return {
    res,
    supabase: gw.counter.count('supabase'),
    supabaseArrived: gw.standIn.requests.count,
    supabaseOps: Object.keys(gw.counter.snapshot()).filter((k) => k.startsWith('supabase:')),
    redisReads: gw.counter.count('redis:mget'),
    redisWrites: gw.counter.count('redis:pipeline'),
    redis: gw.counter.count('redis'),
    serverMgets: mgetBefore === null || mgetAfter === null ? null : mgetAfter - mgetBefore,
  };
}

const BOOK_WITH_CHARACTERS = `query ($id: ID!) { book(id: $id) { id title category { name }
  characters { id name book { id title } } } }`;

describe.each([1, 10, 100])('with %i rows', (n) => {
  it('a book and its characters: cold one call per entity type, warm no Supabase call', async () => {
    const categoryId = await gw.seed.category();
    const bookId = await gw.seed.book({ categoryId });
    const characterIds = await gw.seed.characters(bookId, n);
    await coldCaches();
    const bookKeys = [`chat:book:${bookId}`];
    const characterKeys = characterIds.map((id) => `chat:char:${id}`);

    const cold = await measure(BOOK_WITH_CHARACTERS, { id: bookId });
    expect(((cold.res.body.data?.book as any).characters as unknown[]).length).toBe(n);
    expect(cold.supabase).toBe(2); // books (with category) + characters of the book
    expect(cold.supabaseArrived).toBe(2);
    expect(new Set(cold.supabaseOps)).toEqual(
      new Set(['supabase:GET books', 'supabase:GET characters']),
    );
    expect(cold.redisReads).toBe(1); // chat:book; the characters came with the list
    expect(cold.redisWrites).toBe(2); // one write-back pipeline per entity type
    if (cold.serverMgets !== null) {
      expect(cold.serverMgets).toBe(mgetsOnServers(gw.redis, bookKeys));
    }

    const warm = await measure(BOOK_WITH_CHARACTERS, { id: bookId });
    expect(warm.res.body.data).toEqual(cold.res.body.data);
    expect(warm.supabase).toBe(0);
    expect(warm.supabaseArrived).toBe(0);
    expect(warm.redisReads).toBe(2); // chat:book:{id}, then all chat:char:{id} in one MGET
    expect(warm.redisWrites).toBe(0);
    // Two on a single Redis; on a cluster the characters' MGET is split per slot.
    if (warm.serverMgets !== null) {
      expect(warm.serverMgets).toBe(mgetsOnServers(gw.redis, bookKeys, characterKeys));
    }
  });

  it('characters asked by id in one request: one MGET, one Supabase call cold, none warm', async () => {
    const bookId = await gw.seed.book();
    const ids = await gw.seed.characters(bookId, n);
    await coldCaches();
    const query = `query (${ids.map((_, i) => `$c${i}: ID!`).join(', ')}) {
      ${ids.map((_, i) => `c${i}: character(id: $c${i}) { id name book { id } }`).join('\n')} }`;
    const vars = Object.fromEntries(ids.map((id, i) => [`c${i}`, id]));

    const cold = await measure(query, vars);
    expect(Object.keys(cold.res.body.data ?? {})).toHaveLength(n);
    expect(cold.supabaseOps.sort()).toEqual(['supabase:GET books', 'supabase:GET characters']);
    expect(cold.supabase).toBe(2);
    expect(cold.redisReads).toBe(2); // chat:char:* then chat:book:*

    const warm = await measure(query, vars);
    expect(warm.supabase).toBe(0);
    expect(warm.supabaseArrived).toBe(0);
    expect(warm.redisReads).toBe(2);
    if (warm.serverMgets !== null) {
      expect(warm.serverMgets).toBe(
        mgetsOnServers(
          gw.redis,
          ids.map((id) => `chat:char:${id}`),
          [`chat:book:${bookId}`],
        ),
      );
    }
  });

  it("a page of books with each book's characters: one characters call for all books", async () => {
    const categoryId = await gw.seed.category();
    for (let i = 0; i < n; i++) {
      const bookId = await gw.seed.book({ categoryId, title: `B${i}` });
      await gw.seed.characters(bookId, 2);
    }
    await coldCaches();
    const query = `query ($c: ID!, $n: Int!) { books(first: $n, categoryId: $c) {
      edges { node { id characters { id book { id } } } } } }`;
    const cold = await measure(query, { c: categoryId, n });
    const edges = (cold.res.body.data?.books as any).edges as any[];
    expect(edges).toHaveLength(n);
    expect(edges.every((e) => e.node.characters.length === 2)).toBe(true);
    // The page itself (a list read) and one characters call for every book on it;
    // the characters' books come primed from the page.
    expect(cold.supabase).toBe(2);
    expect(cold.redisReads).toBe(0);

    const warm = await measure(query, { c: categoryId, n });
    expect(warm.supabaseOps).toEqual(['supabase:GET books']); // the list read; characters warm
    expect(warm.redisReads).toBe(1);
  });
});
