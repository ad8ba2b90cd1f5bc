import { randomUUID } from 'node:crypto';
import type { SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import type { ProgressEvent } from '../src/queue/progress.js';
import { waitForIdleQueue, waitForStatus } from './support/books.js';
import { readerClient, startTestGateway, type TestGateway } from './support/gateway.js';

// Reader A's private upload, and reader B who wants to read it.
const readerA = randomUUID();
const readerB = randomUUID();
const SECRET_PHRASE = 'quartzheron';
const PRIVATE_TEXT = Array.from(
  { length: 12 },
  (_, i) =>
    `Paragraph ${i + 1}. The keeper wrote that the vault opens with the word ${SECRET_PHRASE}, ` +
    'and that no one but the keeper may ever read these notes about the lamp and the sea.',
).join('\n\n');

let gw: TestGateway;

const frontend = (userId: string): Promise<SupabaseClient> => readerClient(gw, userId);

const PROCESS = 'mutation ($id: ID!) { processBook(bookId: $id) { id } }';
const SEARCH =
  'query ($id: ID!, $q: String!) { searchBook(bookId: $id, query: $q, limit: 20) { text } }';

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
});
afterAll(async () => {
  await gw?.close();
});

describe('private uploads', () => {
  it("keeps a reader's upload away from another reader, in Storage, PostgREST and ingestion", async () => {
    const a = await frontend(readerA);
    const b = await frontend(readerB);
    const privatePath = `${readerA}/private.md`;
    const uploaded = await a.storage
      .from('books')
      .upload(privatePath, new TextEncoder().encode(PRIVATE_TEXT), {
        contentType: 'text/markdown',
      });
    expect(uploaded.error).toBeNull();

    // Storage: B can neither read, overwrite, add under, nor remove A's prefix.
    const read = await b.storage.from('books').download(privatePath);
    expect(read.data).toBeNull();
    const overwrite = await b.storage
      .from('books')
      .upload(privatePath, new TextEncoder().encode('mine now'), { upsert: true });
    expect(overwrite.error).toMatchObject({ statusCode: '403' });
    const plant = await b.storage
      .from('books')
      .upload(`${readerA}/planted.md`, new TextEncoder().encode('planted'));
    expect(plant.error).toMatchObject({ statusCode: '403' });
    const removed = await b.storage.from('books').remove([privatePath]);
    expect(removed.data).toEqual([]);
    const still = await a.storage.from('books').download(privatePath);
    expect(await still.data?.text()).toBe(PRIVATE_TEXT);

    // PostgREST: B cannot make a book of A's file, directly or through a dot segment.
    for (const storagePath of [privatePath, `${readerB}/../${privatePath}`]) {
      const insert = await b.from('books').insert({
        user_id: readerB,
        title: 'Borrowed',
        storage_path: storagePath,
        processing_status: 'pending',
      });
      expect(insert, storagePath).toMatchObject({ status: 403, error: { code: '42501' } });
    }
    const [{ n }] = (await gw.db.sql`
      select count(*)::int as n from books where storage_path like ${`%${readerA}%`}`) as unknown as [
      { n: number },
    ];
    expect(n).toBe(0);

    // A row forged past the policies (the service role writes anything) still reads nothing.
    const [forged] = await gw.db.sql<{ id: string }[]>`
      insert into books (title, user_id, storage_path, processing_status)
      values ('Forged', ${readerB}, ${privatePath}, 'pending') returning id`;
    const bookId = forged!.id;
    const events: ProgressEvent[] = [];
    const stop = await gw.deps.progress.listen(bookId, (e) => events.push(e));
    const tokenB = await gw.token(readerB);
    const started = await gw.gql(PROCESS, { id: bookId }, { token: tokenB });
    expect(started.body.errors).toBeUndefined();
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('failed');
    await waitForIdleQueue(gw);
    await stop();
    const failed = events.find((e) => e.stage === 'failed');
    expect(failed?.message).toContain("not under the book owner's prefix");

    const search = await gw.gql(
      SEARCH,
      { id: bookId, q: `vault ${SECRET_PHRASE}` },
      { token: tokenB },
    );
    expect(JSON.stringify(search.body)).not.toContain(SECRET_PHRASE);
    const characters = await gw.db.sql`select id from characters where book_id = ${bookId}`;
    expect(characters).toHaveLength(0);
    const page = await gw.gql(
      'query ($id: ID!) { book(id: $id) { characters { id } } }',
      { id: bookId },
      { token: tokenB },
    );
    expect(page.body.data).toEqual({ book: { characters: [] } });
    const { collections } = await gw.deps.vectors.client.getCollections();
    expect(collections.map((c) => c.name)).not.toContain(bookId);
  });

  it('lets a reader upload under their own prefix, make the book and have it processed', async () => {
    const reader = randomUUID();
    const client = await frontend(reader);
    const path = `${reader}/x.txt`;
    const bytes = await loadDemoBook();
    const upload = await client.storage
      .from('books')
      .upload(path, bytes, { contentType: 'text/plain' });
    expect(upload.error).toBeNull();
    const back = await client.storage.from('books').download(path);
    expect(new Uint8Array(await back.data!.arrayBuffer())).toEqual(bytes);

    const created = await client
      .from('books')
      .insert({
        user_id: reader,
        title: 'My upload',
        storage_path: path,
        processing_status: 'pending',
      })
      .select('id')
      .single();
    expect(created.error).toBeNull();
    const bookId = (created.data as { id: string }).id;

    const res = await gw.gql(PROCESS, { id: bookId }, { token: await gw.token(reader) });
    expect(res.body.errors).toBeUndefined();
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');
    await waitForIdleQueue(gw);
    const characters = await gw.db.sql`select id from characters where book_id = ${bookId}`;
    expect(characters.length).toBeGreaterThan(0);

    // The reader may replace and remove their own file too.
    const replaced = await client.storage
      .from('books')
      .upload(path, new TextEncoder().encode('second draft'), { upsert: true });
    expect(replaced.error).toBeNull();
    const removed = await client.storage.from('books').remove([path]);
    expect(removed.data?.map((o) => o.name)).toEqual([path]);
    const gone = await client.storage.from('books').download(path);
    expect(gone.data).toBeNull();
  });
});
