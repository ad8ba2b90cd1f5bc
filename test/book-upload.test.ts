import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import { waitForIdleQueue } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { storeSnapshot } from './support/snapshot.js';

/**
 * A reader's own book in through `createBook`, a GraphQL multipart request over real HTTP (the
 * request a browser's FormData or curl -F makes): the file lands under the reader's prefix,
 * written as the reader, the book is pending and queued, bookProcessing follows it to COMPLETED,
 * and its characters can be talked to. Every refused upload leaves every store as it was: no
 * object (row or file), no book, nothing in Redis, Qdrant or Typesense.
 */

const MAX_BYTES = 64 * 1024;
let gw: TestGateway;
let server: Server;
let url: string;
const reader = randomUUID();
const other = randomUUID();
let token: string;

const CREATE = `mutation ($input: CreateBookInput!, $file: File!) {
  createBook(input: $input, file: $file) { id title author processingStatus category { id } }
}`;

const fixture = (name: string) =>
  readFile(new URL(`./fixtures/${name}`, import.meta.url)).then((b) => new Uint8Array(b));

interface Sent {
  status: number;
  body: {
    data?: { createBook?: { id: string; processingStatus: string } } | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

/** The GraphQL multipart request spec: `operations`, `map`, then the file part. */
async function upload(
  input: Record<string, unknown>,
  file: { bytes: Uint8Array; name: string; type?: string },
  o: { headers?: Record<string, string>; query?: string; token?: string | null } = {},
): Promise<Sent> {
  const form = new FormData();
  form.set(
    'operations',
    JSON.stringify({ query: o.query ?? CREATE, variables: { input, file: null } }),
  );
  form.set('map', JSON.stringify({ 0: ['variables.file'] }));
  form.set('0', new Blob([new Uint8Array(file.bytes)], { type: file.type ?? '' }), file.name);
  const bearer = o.token === undefined ? token : o.token;
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      accept: 'application/graphql-response+json',
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      ...o.headers,
    },
    body: form,
  });
  return { status: res.status, body: (await res.json()) as Sent['body'] };
}

async function post(query: string, variables: Record<string, unknown>) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as Sent['body'] & { data?: Record<string, any> | null };
}

/** bookProcessing over SSE, from its first event until COMPLETED or FAILED. */
async function watch(bookId: string): Promise<{ stage: string; status: string }[]> {
  const query = `subscription { bookProcessing(bookId: "${bookId}") { stage progress status } }`;
  const res = await fetch(`${url}?query=${encodeURIComponent(query)}`, {
    headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: { stage: string; status: string }[] = [];
  let buffer = '';
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
      const data = buffer
        .slice(0, i)
        .split('\n')
        .find((l) => l.startsWith('data:'));
      buffer = buffer.slice(i + 2);
      if (!data?.slice(5).trim()) continue;
      const payload = JSON.parse(data.slice(5));
      if (payload.data?.bookProcessing) events.push(payload.data.bookProcessing);
    }
    if (['COMPLETED', 'FAILED'].includes(events.at(-1)?.stage ?? '')) break;
  }
  await reader.cancel();
  return events;
}

async function storageFiles(): Promise<string[]> {
  const dir = join(gw.tmpDir, 'storage');
  try {
    return (await readdir(dir, { recursive: true })).map(String).sort();
  } catch {
    return [];
  }
}

/** Every store, Storage objects (rows and files) included. */
async function everything() {
  const objects = await gw.db.sql`
    select bucket_id, name, owner::text from storage.objects order by bucket_id, name`;
  const stores = await storeSnapshot(gw);
  // The worker's heartbeat ticks on its own.
  for (const key of Object.keys(stores.redis)) {
    if (key.startsWith('{processing_queue}:heartbeat:')) delete stores.redis[key];
  }
  return { stores, objects: [...objects], files: await storageFiles() };
}

beforeAll(async () => {
  gw = await startTestGateway({ worker: true, env: { UPLOAD_MAX_BYTES: String(MAX_BYTES) } });
  token = await gw.token(reader);
  server = createServer(gw.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
}, 60_000);
afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await gw?.close();
});

describe('createBook (GraphQL multipart)', () => {
  it("takes a reader's .txt and .epub, processes them and lets them chat with a character", async () => {
    // The category is made after the gateway cached the list of categories.
    expect((await post('{ categories { id } }', {})).errors).toBeUndefined();
    const categoryId = await gw.seed.category('Sea stories');
    const txt = await upload(
      { title: 'My lamp', author: 'Me', categoryId },
      { bytes: await loadDemoBook(), name: 'lamp.txt', type: 'text/plain' },
    );
    expect(txt.body.errors).toBeUndefined();
    expect(txt.body.data?.createBook).toMatchObject({
      title: 'My lamp',
      author: 'Me',
      processingStatus: 'PENDING',
      category: { id: categoryId },
    });
    const txtId = txt.body.data!.createBook!.id;
    const txtEvents = await watch(txtId);
    expect(txtEvents.at(-1)).toMatchObject({ stage: 'COMPLETED', status: 'COMPLETED' });

    // The EPUB is told apart by its content: its name and type say nothing.
    const epub = await upload(
      { title: 'My sample' },
      { bytes: await fixture('sample.epub'), name: 'upload.bin', type: 'application/octet-stream' },
    );
    expect(epub.body.errors).toBeUndefined();
    const epubId = epub.body.data!.createBook!.id;
    expect((await watch(epubId)).at(-1)).toMatchObject({ stage: 'COMPLETED' });
    await waitForIdleQueue(gw);

    // Rows as the frontend makes them; the objects written as the reader, under their prefix.
    const books = await gw.db.sql<{ id: string; user_id: string; storage_path: string }[]>`
      select id, user_id::text, storage_path, processing_status from books
      where id in ${gw.db.sql([txtId, epubId])} order by title`;
    expect(books).toMatchObject([
      { id: txtId, user_id: reader, processing_status: 'completed' },
      { id: epubId, user_id: reader, processing_status: 'completed' },
    ]);
    expect(books[0]!.storage_path).toMatch(new RegExp(`^${reader}/[0-9a-f-]{36}\\.txt$`));
    expect(books[1]!.storage_path).toMatch(new RegExp(`^${reader}/[0-9a-f-]{36}\\.epub$`));
    const objects = await gw.db.sql<{ name: string; owner: string }[]>`
      select name, owner::text from storage.objects
      where bucket_id = 'books' and name in ${gw.db.sql(books.map((b) => b.storage_path))}`;
    expect(objects.map((o) => o.owner)).toEqual([reader, reader]);

    const page = await post('query ($id: ID!) { book(id: $id) { characters { id name } } }', {
      id: txtId,
    });
    const characters = page.data!.book.characters as { id: string; name: string }[];
    expect(characters.length).toBeGreaterThan(0);
    const session = await post(
      'mutation ($c: ID!) { createChatSession(input: { characterId: $c }) { id } }',
      { c: characters[0]!.id },
    );
    expect(session.errors).toBeUndefined();
    const turn = await post(
      'mutation ($s: ID!) { sendMessage(input: { sessionId: $s, content: "What happened in the storm?" }) { reply { content citations { chunkIndex } } } }',
      { s: session.data!.createChatSession.id },
    );
    expect(turn.errors).toBeUndefined();
    expect(turn.data!.sendMessage.reply.content.length).toBeGreaterThan(0);
    expect(turn.data!.sendMessage.reply.citations.length).toBeGreaterThan(0);
  }, 120_000);

  it('stores a file named for another reader under the uploader own prefix', async () => {
    const res = await upload(
      { title: 'Sneaky' },
      { bytes: await fixture('sample.txt'), name: `../${other}/planted.txt`, type: 'text/plain' },
    );
    expect(res.body.errors).toBeUndefined();
    const id = res.body.data!.createBook!.id;
    await watch(id);
    await waitForIdleQueue(gw);
    const [row] = await gw.db.sql<{ storage_path: string }[]>`
      select storage_path from books where id = ${id}`;
    expect(row!.storage_path.startsWith(`${reader}/`)).toBe(true);
    const [{ n }] = (await gw.db.sql`
      select count(*)::int as n from storage.objects where name like ${`%${other}%`}`) as unknown as [
      { n: number },
    ];
    expect(n).toBe(0);
  }, 60_000);

  const pngBytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
  const refused: {
    name: string;
    send: () => Promise<Sent>;
    status: number;
    code: string;
  }[] = [
    {
      name: 'an image named .txt',
      send: () =>
        upload({ title: 'Pic' }, { bytes: pngBytes, name: 'book.txt', type: 'text/plain' }),
      status: 200,
      code: 'UNSUPPORTED_FILE_TYPE',
    },
    {
      name: 'text that is not UTF-8',
      send: () =>
        upload(
          { title: 'Latin-1' },
          {
            bytes: new Uint8Array(Buffer.from('Caf\xe9 cr\xe8me, ol\xe9.', 'latin1')),
            name: 'b.md',
          },
        ),
      status: 200,
      code: 'UNSUPPORTED_FILE_TYPE',
    },
    {
      name: 'a damaged PDF',
      send: async () =>
        upload({ title: 'Broken' }, { bytes: await fixture('corrupt.pdf'), name: 'b.pdf' }),
      status: 200,
      code: 'UNREADABLE_FILE',
    },
    {
      name: 'a damaged EPUB',
      send: async () =>
        upload({ title: 'Zip' }, { bytes: await fixture('corrupt.epub'), name: 'b.epub' }),
      status: 200,
      code: 'UNREADABLE_FILE',
    },
    {
      name: 'a file over UPLOAD_MAX_BYTES',
      send: () =>
        upload(
          { title: 'Too long' },
          { bytes: new TextEncoder().encode('a'.repeat(MAX_BYTES + 1)), name: 'long.txt' },
        ),
      status: 200,
      code: 'FILE_TOO_LARGE',
    },
    {
      name: 'a body over the upload limit',
      send: () =>
        upload(
          { title: 'Far too long' },
          { bytes: new TextEncoder().encode('a'.repeat(MAX_BYTES + 70_000)), name: 'long.txt' },
        ),
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    },
    {
      name: 'no CSRF header and no Authorization (a cross-site form)',
      send: async () =>
        upload(
          { title: 'Forged' },
          { bytes: await fixture('sample.txt'), name: 'a.txt' },
          {
            token: null,
          },
        ),
      status: 403,
      code: 'CSRF_HEADER_REQUIRED',
    },
    {
      name: 'the CSRF header but no token',
      send: async () =>
        upload(
          { title: 'Anonymous' },
          { bytes: await fixture('sample.txt'), name: 'a.txt' },
          { token: null, headers: { 'x-graphql-yoga-csrf': '1' } },
        ),
      status: 401,
      code: 'UNAUTHENTICATED',
    },
    {
      name: 'a storage path of its own choosing',
      send: async () =>
        upload(
          { title: 'Elsewhere', storagePath: `${other}/mine.txt` },
          { bytes: await fixture('sample.txt'), name: 'a.txt' },
        ),
      status: 400,
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'an unknown category',
      send: async () =>
        upload(
          { title: 'Lost', categoryId: randomUUID() },
          { bytes: await fixture('sample.txt'), name: 'a.txt' },
        ),
      status: 200,
      code: 'NOT_FOUND',
    },
    {
      name: 'an empty title',
      send: async () =>
        upload({ title: '  ' }, { bytes: await fixture('sample.txt'), name: 'a.txt' }),
      status: 200,
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'another operation sent as multipart',
      send: async () =>
        upload(
          {},
          { bytes: await fixture('sample.txt'), name: 'a.txt' },
          {
            query: `mutation { processBook(bookId: "${randomUUID()}") { id } }`,
          },
        ),
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'createBook with another field beside it',
      send: async () =>
        upload(
          { title: 'Two things' },
          { bytes: await fixture('sample.txt'), name: 'a.txt' },
          {
            query: `mutation ($input: CreateBookInput!, $file: File!) {
              createBook(input: $input, file: $file) { id }
              createChatSession(input: { characterId: "${randomUUID()}" }) { id }
            }`,
          },
        ),
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
  ];

  for (const c of refused) {
    it(`refuses ${c.name} and writes nothing`, async () => {
      await waitForIdleQueue(gw);
      const before = await everything();
      const res = await c.send();
      expect(res.status).toBe(c.status);
      expect(res.body.errors?.[0]?.extensions?.code).toBe(c.code);
      expect(res.body.data?.createBook ?? null).toBeNull();
      expect(await everything()).toEqual(before);
    });
  }
});
