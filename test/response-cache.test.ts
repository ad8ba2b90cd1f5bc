import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG_CHANNEL } from '../src/cache/invalidation.js';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import { uploadBook, waitForIdleQueue, waitForStatus, waitUntil } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * The catalog response cache: a warm book page makes no store call at all; it is per reader;
 * per-reader data (sessions, messages, viewer) is never cached; a book changed by ingestion is
 * served fresh at once; an expired token is refused even when its response is cached.
 */
let gw: TestGateway;
const owner = randomUUID();
let token: string;

const COMPLETED_BOOKS = '{ books(first: 100, status: COMPLETED) { edges { node { id } } } }';
const BOOK_PAGE = `query ($id: ID!) { book(id: $id) { id title processingStatus category { name }
  characters { id name } } }`;

beforeAll(async () => {
  gw = await startTestGateway({
    worker: true,
    // The worker's heartbeat is a Redis call too: slow enough not to land inside a counted request.
    env: {
      RESPONSE_CACHE_TTL_MS: '60000',
      WORKER_HEARTBEAT_MS: '60000',
      WORKER_DEAD_AFTER_MS: '300000',
    },
  });
  token = await gw.token(owner);
});
afterAll(async () => {
  await gw?.close();
});

async function uploadDemo(fileName: string): Promise<string> {
  const bytes = await loadDemoBook();
  return (await uploadBook(gw, { bytes, fileName, contentType: 'text/markdown', owner })).bookId;
}

async function processToCompletion(bookId: string) {
  await gw.gql(
    'mutation ($id: ID!) { processBook(bookId: $id) { id } }',
    { id: bookId },
    { token },
  );
  expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');
  await waitForIdleQueue(gw);
}

/** The ids of a list of books, as the reader is answered. */
async function listed(query = COMPLETED_BOOKS): Promise<string[]> {
  const res = await gw.gql(query, {}, { token });
  expect(res.body.errors).toBeUndefined();
  return (res.body.data?.books as any).edges.map((e: any) => e.node.id);
}

/** The store calls made while `run` runs, but the worker's own polls of the queue. */
async function calls(run: () => Promise<unknown>) {
  gw.counter.reset();
  await run();
  const { 'redis:lmove': _poll, ...made } = gw.counter.snapshot();
  return made;
}

describe('the catalog response cache', () => {
  it('answers a repeated book page without any store call, per reader', async () => {
    const bookId = await gw.seed.book({ title: 'Cached' });
    await gw.seed.characters(bookId, 3);
    const first = await gw.gql(BOOK_PAGE, { id: bookId }, { token });
    expect(first.body.errors).toBeUndefined();
    const again = await calls(() => gw.gql(BOOK_PAGE, { id: bookId }, { token }));
    expect(again).toEqual({});

    // Another reader is not served the first reader's entry.
    const other = await gw.token(randomUUID());
    const theirs = await calls(async () => {
      const res = await gw.gql(BOOK_PAGE, { id: bookId }, { token: other });
      expect(res.body.data).toEqual(first.body.data);
    });
    expect(Object.keys(theirs).length).toBeGreaterThan(0);
  });

  it('never caches per-reader data', async () => {
    const bookId = await gw.seed.book();
    const [characterId] = await gw.seed.characters(bookId, 1);
    const sessionId = await gw.seed.session(owner, characterId!, bookId);
    // With another root field beside it this is no chat page (test/chat-page-cache.test.ts caches
    // those per reader and session version): nothing of it is kept.
    const q = `query ($id: ID!) { viewer { id } chatSession(id: $id) { id messageCount messages(last: 5) { edges { node { id } } } } }`;
    await gw.gql(q, { id: sessionId }, { token });
    const again = await calls(() => gw.gql(q, { id: sessionId }, { token }));
    expect(again['supabase:GET chat_sessions']).toBe(1);
    const viewer = await calls(() => gw.gql('{ viewer { id } }', {}, { token }));
    expect(viewer).toEqual({});
    const res = await gw.gql('{ viewer { id } }', {}, { token: await gw.token(randomUUID()) });
    expect((res.body.data?.viewer as any).id).not.toBe(owner);
  });

  it('serves a book fresh as soon as ingestion changes it', async () => {
    const bookId = await uploadDemo('fresh.md');
    const before = await gw.gql(BOOK_PAGE, { id: bookId }, { token });
    expect((before.body.data?.book as any).processingStatus).toBe('PENDING');
    expect((before.body.data?.book as any).characters).toEqual([]);
    await processToCompletion(bookId);
    const after = await gw.gql(BOOK_PAGE, { id: bookId }, { token });
    expect((after.body.data?.book as any).processingStatus).toBe('COMPLETED');
    expect((after.body.data?.book as any).characters.length).toBeGreaterThan(0);
  });

  it('lists a book under its new status as soon as ingestion completes it', async () => {
    const bookId = await uploadDemo('listed.md');
    expect(await listed()).not.toContain(bookId);
    // Cached: the same list again costs no store call.
    expect(await calls(() => listed())).toEqual({});
    await processToCompletion(bookId);
    expect(await listed()).toContain(bookId);
  });

  it('lists a book at once when another process changes its status', async () => {
    const bookId = await gw.seed.book({ status: 'processing' });
    expect(await listed()).not.toContain(bookId);
    // What a worker elsewhere does: the status in the database, then the change on Redis.
    await gw.db.sql`update books set processing_status = 'completed' where id = ${bookId}`;
    await gw.redis.publish(CATALOG_CHANNEL, bookId);
    await waitUntil(async () => (await listed()).includes(bookId), 5000, 'the fresh list');
  });

  it('does not keep a list read before a status change that lands while it is answered', async () => {
    const bookId = await gw.seed.book({ status: 'processing' });
    // A list no earlier test has cached, so that this request reads the store.
    const FIRST_99 = COMPLETED_BOOKS.replace('first: 100', 'first: 99');
    const store = gw.deps.catalogStore;
    const original = store.booksPage;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reading!: () => void;
    const read = new Promise<void>((resolve) => {
      reading = resolve;
    });
    store.booksPage = async (args) => {
      const rows = await original.call(store, args);
      reading();
      await gate;
      return rows;
    };
    const slow = listed(FIRST_99);
    await read; // the list is read, without the book; the status changes before it is answered
    store.booksPage = original;
    // The change comes from another process, once, while the list is still being answered.
    const seen = new Promise<void>((resolve) => {
      const stop = gw.deps.invalidation.onChange((id) => {
        if (id !== bookId) return;
        stop();
        resolve();
      });
    });
    await gw.db.sql`update books set processing_status = 'completed' where id = ${bookId}`;
    await gw.redis.publish(CATALOG_CHANNEL, bookId);
    await seen;
    release();
    expect(await slow).not.toContain(bookId);
    expect(await listed(FIRST_99)).toContain(bookId);
  });

  it('still refuses a token that expired after its response was cached', async () => {
    const bookId = await gw.seed.book();
    const shortLived = await gw.token(randomUUID(), { expiresInSeconds: 2 });
    expect((await gw.gql(BOOK_PAGE, { id: bookId }, { token: shortLived })).status).toBe(200);
    await sleep(2200);
    const late = await gw.gql(BOOK_PAGE, { id: bookId }, { token: shortLived });
    expect(late.status).toBe(401);
    expect(late.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
