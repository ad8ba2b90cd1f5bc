import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type QdrantStandIn, startQdrantStandIn } from '@falsafa/standins';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChunkPayload } from '../src/stores/chunks.js';
import { StoreCallCounter } from '../src/stores/metrics.js';
import { migrateToSharedLayout } from '../src/stores/vector-layout-migration.js';
import { sharedPointId, VectorStore } from '../src/stores/vector-store.js';

/**
 * `npm run qdrant:migrate-layout` on the Qdrant stand-in over HTTP: per-book collections written by
 * the per-book layout are copied into the shared one, verified, resumed, and deleted only when
 * asked, while the per-book layout keeps answering.
 */
const space = { name: 'test-embedder', dimension: 4 };
const books = [
  'a0000000-0000-4000-8000-00000000000a',
  'b0000000-0000-4000-8000-00000000000b',
  'c0000000-0000-4000-8000-00000000000c',
];
const sizes = [5, 3, 301];
let qdrant: QdrantStandIn;
let perBook: VectorStore;
let shared: VectorStore;

const store = (layout: VectorStore['layout']) =>
  new VectorStore({ url: qdrant.url, timeoutMs: 5000, layout }, new StoreCallCounter());
const vectorOf = (book: number, i: number) => [1, book + 1, i + 1, (i * 7) % 5];
const chunksOf = (book: number): ChunkPayload[] =>
  Array.from({ length: sizes[book]! }, (_, i) => ({
    book_id: books[book]!,
    chunk_index: i,
    text: `book ${book} chunk ${i}`,
    chapter: i % 2 ? 'II' : null,
    start: i * 10,
    end: i * 10 + 9,
  }));

beforeAll(async () => {
  qdrant = await startQdrantStandIn({ host: '127.0.0.1', port: 0 });
  perBook = store({ kind: 'per-book' });
  shared = store({ kind: 'shared', collection: 'book_chunks' });
  for (const [b, bookId] of books.entries()) {
    const chunks = chunksOf(b);
    await perBook.ensureCollection(bookId, space);
    await perBook.upsert(
      bookId,
      chunks,
      chunks.map((_, i) => vectorOf(b, i)),
    );
  }
});
afterAll(async () => {
  await qdrant?.close();
});

const counts = async (s: VectorStore) => Promise.all(books.map((b) => s.count(b)));

describe('moving per-book collections into the shared one', () => {
  it('copies every book with its vectors and payloads, keeps the sources, and answers reads meanwhile', async () => {
    const expected = await perBook.search(books[2]!, vectorOf(2, 17), 5);
    const reads: Promise<unknown>[] = [];
    const results = await migrateToSharedLayout({
      client: shared.client,
      target: shared,
      batchSize: 64,
      onBook: () => reads.push(perBook.search(books[2]!, vectorOf(2, 17), 5)),
    });
    expect(await Promise.all(reads)).toEqual([expected, expected, expected]);
    expect(results.map((r) => [r.bookId, r.status, r.source, r.target, r.sourceDeleted])).toEqual(
      books.map((b, i) => [b, 'copied', sizes[i], sizes[i], false]),
    );
    expect(await counts(shared)).toEqual(sizes);
    expect(await counts(perBook)).toEqual(sizes);
    const [copy] = await shared.client.retrieve('book_chunks', {
      ids: [sharedPointId(books[1]!, 2)],
      with_payload: true,
      with_vector: true,
    });
    const [source] = await perBook.client.retrieve(books[1]!, {
      ids: [2],
      with_payload: true,
      with_vector: true,
    });
    expect(copy?.vector).toEqual(source?.vector);
    expect(copy?.payload).toEqual(source?.payload);
    expect((await shared.client.getCollection('book_chunks')).config.metadata).toEqual({
      embedder: space.name,
    });
    expect(await shared.search(books[2]!, vectorOf(2, 17), 5)).toEqual(expected);
  });

  it('is idempotent, and resumes a book whose copy is incomplete or has extra points', async () => {
    const again = await migrateToSharedLayout({ client: shared.client, target: shared });
    expect(again.map((r) => r.status)).toEqual(['up to date', 'up to date', 'up to date']);
    // An interrupted copy of one book, stale points of another.
    await shared.deleteFrom(books[2]!, 100);
    await shared.upsert(books[0]!, [{ ...chunksOf(0)[0]!, chunk_index: 40 }], [vectorOf(0, 40)]);
    const resumed = await migrateToSharedLayout({ client: shared.client, target: shared });
    expect(resumed.map((r) => r.status)).toEqual(['copied', 'up to date', 'copied']);
    expect(await counts(shared)).toEqual(sizes);
    expect((await shared.client.count('book_chunks', { exact: true })).count).toBe(
      sizes.reduce((a, b) => a + b),
    );
  });

  it('refuses a book of another vector space, writing nothing for it and keeping its source', async () => {
    const odd = 'd0000000-0000-4000-8000-00000000000d';
    await perBook.ensureCollection(odd, { name: 'other', dimension: 3 });
    await perBook.upsert(odd, [{ ...chunksOf(0)[0]!, book_id: odd }], [[1, 0, 0]]);
    const [result] = await migrateToSharedLayout({
      client: shared.client,
      target: shared,
      books: [odd],
      deleteSource: true,
    });
    expect(result).toMatchObject({ bookId: odd, status: 'failed', sourceDeleted: false });
    expect(result?.problem).toMatch(/made by test-embedder|size 4/);
    expect(await shared.count(odd)).toBe(0);
    expect(await perBook.count(odd)).toBe(1);
    await perBook.deleteBook(odd);
  });

  it('the command deletes the sources only with --delete-source, once each book is verified', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, QDRANT_URL: qdrant.url, LOG_LEVEL: 'silent' };
    const kept = await run('npx', ['tsx', 'src/qdrant-migrate-layout.ts'], { env });
    expect(kept.stdout).toMatch(/3 books, 3 verified, 0 failed; into book_chunks/);
    expect((await perBook.client.getCollections()).collections.length).toBe(4);
    const moved = await run('npx', ['tsx', 'src/qdrant-migrate-layout.ts', '--delete-source'], {
      env,
    });
    expect(moved.stdout).toContain(`${books[0]}: up to date, source 5, shared 5, source deleted`);
    const { collections } = await perBook.client.getCollections();
    expect(collections.map((c) => c.name)).toEqual(['book_chunks']);
    expect(await counts(shared)).toEqual(sizes);
    await expect(
      run('npx', ['tsx', 'src/qdrant-migrate-layout.ts', '--bogus'], { env }),
    ).rejects.toMatchObject({ code: 1 });
  }, 60_000);
});
