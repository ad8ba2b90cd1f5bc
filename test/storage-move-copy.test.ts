import { randomUUID } from 'node:crypto';
import type { SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForIdleQueue, waitForStatus } from './support/books.js';
import { readerClient, startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * Storage's move and copy (supabase-js `storage.from(b).move/copy`) under the project's policies
 * on storage.objects, through the Supabase stand-in: reader B gets nothing of reader A's file and
 * puts nothing under A's prefix; A moves and copies within their own prefix.
 */

const readerA = randomUUID();
const readerB = randomUUID();
let gw: TestGateway;
let a: SupabaseClient;
let b: SupabaseClient;

const bytes = (text: string) => new TextEncoder().encode(text);

async function upload(client: SupabaseClient, path: string, text: string) {
  const { error } = await client.storage
    .from('books')
    .upload(path, bytes(text), { contentType: 'text/markdown' });
  expect(error).toBeNull();
}

/** What the file at `path` holds, read with the service role (null: there is none). */
async function contentAt(path: string): Promise<string | null> {
  const { data } = await gw.deps.supabase.storage.from('books').download(path);
  return data ? await data.text() : null;
}

const rowsNamed = async (name: string) =>
  (
    await gw.db.sql<{ owner_id: string | null }[]>`
      select owner_id from storage.objects where bucket_id = 'books' and name = ${name}`
  ).map((r) => r.owner_id);

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
  a = await readerClient(gw, readerA);
  b = await readerClient(gw, readerB);
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

describe('Storage move and copy', () => {
  it("refuses reader B every move or copy of A's file, into A's prefix or through a dot segment", async () => {
    const aFile = `${readerA}/a.md`;
    const bFile = `${readerB}/b.md`;
    await upload(a, aFile, '# A');
    await upload(b, bFile, '# B');

    // A's file: B cannot see it, so neither move nor copy finds it.
    const steal = await b.storage.from('books').move(aFile, `${readerB}/stolen.md`);
    expect(steal.error).toMatchObject({ statusCode: '404', message: 'Object not found' });
    const duplicateA = await b.storage.from('books').copy(aFile, `${readerB}/copied.md`);
    expect(duplicateA.error).toMatchObject({ statusCode: '404', message: 'Object not found' });
    const renameA = await b.storage.from('books').move(aFile, `${readerA}/renamed.md`);
    expect(renameA.error).toMatchObject({ statusCode: '404' });

    // B's own file into A's prefix: the policies refuse the destination.
    const plantByMove = await b.storage.from('books').move(bFile, `${readerA}/planted.md`);
    expect(plantByMove.error).toMatchObject({
      statusCode: '403',
      message: 'new row violates row-level security policy',
    });
    const plantByCopy = await b.storage.from('books').copy(bFile, `${readerA}/planted.md`);
    expect(plantByCopy.error).toMatchObject({
      statusCode: '403',
      message: 'new row violates row-level security policy',
    });

    // A dot segment is no key at all.
    for (const destination of [`${readerB}/../${readerA}/dots.md`, `${readerB}/./dots.md`]) {
      const moved = await b.storage.from('books').move(bFile, destination);
      expect(moved.error).toMatchObject({ statusCode: '400' });
      expect(moved.error?.message).toMatch(/^Invalid key/);
      const copied = await b.storage.from('books').copy(bFile, destination);
      expect(copied.error).toMatchObject({ statusCode: '400' });
    }
    const fromDots = await b.storage.from('books').move(`${readerB}/../${readerA}/a.md`, 'x/y.md');
    expect(fromDots.error).toMatchObject({ statusCode: '400' });

    // Everything is where it was, and nothing was added anywhere.
    expect(await contentAt(aFile)).toBe('# A');
    expect(await contentAt(bFile)).toBe('# B');
    for (const path of [
      `${readerB}/stolen.md`,
      `${readerB}/copied.md`,
      `${readerA}/renamed.md`,
      `${readerA}/planted.md`,
      `${readerA}/dots.md`,
      `${readerB}/dots.md`,
    ]) {
      expect(await contentAt(path), path).toBeNull();
      expect(await rowsNamed(path), path).toEqual([]);
    }
    expect(await rowsNamed(aFile)).toEqual([readerA]);
    expect(await rowsNamed(bFile)).toEqual([readerB]);
  });

  it('lets A move and copy within their own prefix', async () => {
    const first = `${readerA}/first.md`;
    await upload(a, first, '# First');
    const moved = await a.storage.from('books').move(first, `${readerA}/shelf/second.md`);
    expect(moved.error).toBeNull();
    expect(moved.data).toEqual({ message: 'Successfully moved' });
    expect(await contentAt(first)).toBeNull();
    expect(await rowsNamed(first)).toEqual([]);
    expect(await contentAt(`${readerA}/shelf/second.md`)).toBe('# First');
    const read = await a.storage.from('books').download(`${readerA}/shelf/second.md`);
    expect(await read.data?.text()).toBe('# First');

    const copied = await a.storage
      .from('books')
      .copy(`${readerA}/shelf/second.md`, `${readerA}/third.md`);
    expect(copied.error).toBeNull();
    expect(copied.data).toEqual({ path: `books/${readerA}/third.md` });
    expect(await contentAt(`${readerA}/shelf/second.md`)).toBe('# First');
    expect(await contentAt(`${readerA}/third.md`)).toBe('# First');
    expect(await rowsNamed(`${readerA}/third.md`)).toEqual([readerA]);

    // Onto a file that exists: a duplicate, both left as they were.
    await upload(a, `${readerA}/other.md`, '# Other');
    const over = await a.storage.from('books').move(`${readerA}/third.md`, `${readerA}/other.md`);
    expect(over.error).toMatchObject({ statusCode: '409' });
    const overCopy = await a.storage
      .from('books')
      .copy(`${readerA}/third.md`, `${readerA}/other.md`);
    expect(overCopy.error).toMatchObject({ statusCode: '409' });
    expect(await contentAt(`${readerA}/third.md`)).toBe('# First');
    expect(await contentAt(`${readerA}/other.md`)).toBe('# Other');
  });

  it("fails a book's ingestion clearly when its file was moved away", async () => {
    const path = `${readerA}/moving.md`;
    await upload(
      a,
      path,
      `# Chapter One\n\n${'The ferry crossed the grey water at dawn. '.repeat(40)}`,
    );
    const [row] = await gw.db.sql<{ id: string }[]>`
      insert into books (title, author, user_id, storage_path, processing_status)
      values ('Moving', 'A', ${readerA}, ${path}, 'pending') returning id`;
    const moved = await a.storage.from('books').move(path, `${readerA}/moved.md`);
    expect(moved.error).toBeNull();
    const token = await gw.token(readerA);
    const res = await gw.gql(
      'mutation ($id: ID!) { processBook(bookId: $id) { id } }',
      { id: row!.id },
      { token },
    );
    expect(res.body.errors).toBeUndefined();
    expect(await waitForStatus(gw, row!.id, ['completed', 'failed'])).toBe('failed');
    await waitForIdleQueue(gw);
  }, 60_000);
});
