import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import { uploadBook, waitForIdleQueue, waitForStatus } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * The catalog response cache: a warm book page makes no store call at all; it is per reader;
 * per-reader data (sessions, messages, viewer) is never cached; a book changed by ingestion is
 * served fresh at once; an expired token is refused even when its response is cached.
 */
let gw: TestGateway;
const owner = randomUUID();
let token: string;

const BOOK_PAGE = `query ($id: ID!) { book(id: $id) { id title processingStatus category { name }
  characters { id name } } }`;

beforeAll(async () => {
  gw = await startTestGateway({ worker: true, env: { RESPONSE_CACHE_TTL_MS: '60000' } });
  token = await gw.token(owner);
});
afterAll(async () => {
  await gw?.close();
});

async function calls(run: () => Promise<unknown>) {
  gw.counter.reset();
  await run();
  return gw.counter.snapshot();
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
    const q = `query ($id: ID!) { chatSession(id: $id) { id messageCount messages(last: 5) { edges { node { id } } } } }`;
    await gw.gql(q, { id: sessionId }, { token });
    const again = await calls(() => gw.gql(q, { id: sessionId }, { token }));
    expect(again['supabase:GET chat_sessions']).toBe(1);
    const viewer = await calls(() => gw.gql('{ viewer { id } }', {}, { token }));
    expect(viewer).toEqual({});
    const res = await gw.gql('{ viewer { id } }', {}, { token: await gw.token(randomUUID()) });
    expect((res.body.data?.viewer as any).id).not.toBe(owner);
  });

  it('serves a book fresh as soon as ingestion changes it', async () => {
    const { bookId } = await uploadBook(gw, {
      bytes: await loadDemoBook(),
      fileName: 'fresh.md',
      contentType: 'text/markdown',
      owner,
    });
    const before = await gw.gql(BOOK_PAGE, { id: bookId }, { token });
    expect((before.body.data?.book as any).processingStatus).toBe('PENDING');
    expect((before.body.data?.book as any).characters).toEqual([]);
    await gw.gql(
      'mutation ($id: ID!) { processBook(bookId: $id) { id } }',
      { id: bookId },
      { token },
    );
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');
    await waitForIdleQueue(gw);
    const after = await gw.gql(BOOK_PAGE, { id: bookId }, { token });
    expect((after.body.data?.book as any).processingStatus).toBe('COMPLETED');
    expect((after.body.data?.book as any).characters.length).toBeGreaterThan(0);
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
