import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkText } from '../src/ingest/chunker.js';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import { readBookText } from '../src/ingest/readers.js';
import { makeEpub, makePdf } from './fixtures/books.js';
import {
  openProgress,
  uploadBook,
  waitForIdleQueue,
  waitForStatus,
  waitUntil,
} from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { channelSubscribers, keysOf } from './support/redis.js';

let gw: TestGateway;
const owner = randomUUID();
let token: string;
let demo: Uint8Array;

beforeAll(async () => {
  gw = await startTestGateway({
    worker: true,
    env: { CHUNK_TARGET_CHARS: '600', CHUNK_OVERLAP_CHARS: '100' },
  });
  token = await gw.token(owner);
  demo = await loadDemoBook();
});
afterAll(async () => {
  await gw?.close();
});

const PROCESS = 'mutation ($id: ID!) { processBook(bookId: $id) { id processingStatus } }';

async function expectedChunks(bytes: Uint8Array, path: string) {
  const { text } = await readBookText(bytes, { path });
  return chunkText(text, { targetChars: 600, overlapChars: 100 });
}

async function indexedIds(bookId: string) {
  const qd = gw.deps.vectors.client;
  const points: number[] = [];
  let offset: number | string | undefined | null;
  do {
    const page = await qd.scroll(bookId, {
      limit: 256,
      with_payload: true,
      ...(offset != null ? { offset } : {}),
    });
    for (const p of page.points) points.push(Number(p.id));
    offset = page.next_page_offset as number | null | undefined;
  } while (offset != null);
  const docs: string[] = [];
  const exported = await gw.deps.keywords.client.collections(bookId).documents().export();
  for (const line of String(exported).split('\n')) if (line.trim()) docs.push(JSON.parse(line).id);
  return { points: points.sort((a, b) => a - b), docs: docs.sort() };
}

const FORMATS = [
  { name: 'plain text', fileName: 'lamp.txt', contentType: 'text/plain', bytes: async () => demo },
  { name: 'Markdown', fileName: 'lamp.md', contentType: 'text/markdown', bytes: async () => demo },
  {
    name: 'EPUB',
    fileName: 'lamp.epub',
    contentType: 'application/epub+zip',
    bytes: async () =>
      makeEpub(
        [
          {
            id: 'c1',
            title: 'Chapter 1: The Keeper',
            body: `<p>“Can you climb stairs?” Tomas asked.</p><p>“I can climb anything,” said Mira.</p><p>${'The lamp turned slowly over the dark water. '.repeat(30)}</p>`,
          },
          {
            id: 'c2',
            title: 'Chapter 2: The Storm',
            body: `<p>“Hold the rail,” said Tomas.</p><p>“I am holding it,” said Mira.</p><p>${'Rain beat against the glass of the lantern room. '.repeat(30)}</p>`,
          },
        ],
        { title: 'Lamp', author: 'Test' },
      ),
  },
  {
    name: 'PDF',
    fileName: 'lamp.pdf',
    contentType: 'application/pdf',
    bytes: async () =>
      makePdf([
        [
          'Chapter 1',
          '',
          '"Can you climb stairs?" Tomas asked.',
          '"I can climb anything," said Mira.',
          ...Array(20).fill('The lamp turned slowly over the dark water of the bay.'),
        ],
        [
          'Chapter 2',
          '',
          '"Hold the rail," said Tomas.',
          '"I am holding it," said Mira.',
          ...Array(20).fill('Rain beat against the glass of the lantern room all night.'),
        ],
      ]),
  },
];

describe('ingestion, end to end', () => {
  it.each(FORMATS)(
    'a $name book becomes chat-ready with ids and names as docs/data-layout.md says',
    async (f) => {
      const bytes = await f.bytes();
      const { bookId, path } = await uploadBook(gw, {
        bytes,
        fileName: f.fileName,
        contentType: f.contentType,
        owner,
      });
      const res = await gw.gql(PROCESS, { id: bookId }, { token });
      expect(res.body.errors).toBeUndefined();
      expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');

      const chunks = await expectedChunks(bytes, path);
      expect(chunks.length).toBeGreaterThan(0);
      expect(await gw.deps.vectors.count(bookId)).toBe(chunks.length);
      expect(await gw.deps.keywords.count(bookId)).toBe(chunks.length);
      const { points, docs } = await indexedIds(bookId);
      expect(points).toEqual(chunks.map((c) => c.chunkIndex));
      expect(docs).toEqual(chunks.map((c) => `${bookId}:${c.chunkIndex}`).sort());
      const info = await gw.deps.vectors.client.getCollection(bookId);
      expect(info.config.params.vectors).toMatchObject({ size: 384, distance: 'Cosine' });
      const [point] = await gw.deps.vectors.client.retrieve(bookId, {
        ids: [0],
        with_payload: true,
      });
      expect(point?.payload).toMatchObject({
        book_id: bookId,
        chunk_index: 0,
        text: chunks[0]!.text,
        start: chunks[0]!.start,
        end: chunks[0]!.end,
      });

      const characters = await gw.db.sql<
        { name: string; safe_name: string; system_prompt: string }[]
      >`
      select name, safe_name, system_prompt from characters where book_id = ${bookId} order by name`;
      expect(characters.map((c) => c.name)).toEqual(expect.arrayContaining(['Mira', 'Tomas']));
      for (const c of characters) {
        const file = join(gw.env.SYSTEM_PROMPT_STORAGE_PATH!, bookId, `${c.safe_name}.md`);
        expect(existsSync(file), file).toBe(true);
        expect(readFileSync(file, 'utf8')).toBe(c.system_prompt);
      }
      // The job is gone: nothing queued, nothing left in flight.
      expect(await gw.redis.llen('processing_queue')).toBe(0);
      for (const key of await keysOf(gw.redis, '{processing_queue}:inflight:*')) {
        expect(await gw.redis.llen(key)).toBe(0);
      }
    },
  );

  it('re-processing is idempotent: same ids, no duplicates, no stale chunks, prompt files untouched', async () => {
    const { bookId, path } = await uploadBook(gw, {
      bytes: demo,
      fileName: 'again.md',
      contentType: 'text/markdown',
      owner,
    });
    await gw.gql(PROCESS, { id: bookId }, { token });
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');
    const first = await indexedIds(bookId);
    const chars1 = await gw.db
      .sql`select id, safe_name from characters where book_id = ${bookId} order by id`;
    const promptFile = join(
      gw.env.SYSTEM_PROMPT_STORAGE_PATH!,
      bookId,
      `${chars1[0]!.safe_name}.md`,
    );
    const promptBefore = readFileSync(promptFile, 'utf8');

    // The file shrinks to its first chapter: the chunks past the end must go.
    const short = new TextEncoder().encode(
      new TextDecoder()
        .decode(demo)
        .split(/\n# /)[0]!
        .concat('\n\n# Chapter Two\n\n"Good night," said Mira.\n'),
    );
    await gw.deps.supabase.storage
      .from('books')
      .upload(path, short, { contentType: 'text/markdown', upsert: true });
    await gw.gql(PROCESS, { id: bookId }, { token });
    await waitForIdleQueue(gw);
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');
    const chunks = await expectedChunks(short, path);
    const second = await indexedIds(bookId);
    expect(second.points).toEqual(chunks.map((c) => c.chunkIndex));
    expect(second.points.length).toBeLessThan(first.points.length);
    expect(second.docs).toEqual(chunks.map((c) => `${bookId}:${c.chunkIndex}`).sort());
    const chars2 = await gw.db
      .sql`select id, safe_name from characters where book_id = ${bookId} order by id`;
    // Characters found again keep their rows (upsert on book_id + safe_name).
    for (const c of chars2) {
      const old = chars1.find((o) => o.safe_name === c.safe_name);
      if (old) expect(c.id).toBe(old.id);
    }
    expect(new Set(chars2.map((c) => c.safe_name)).size).toBe(chars2.length);
    expect(readFileSync(promptFile, 'utf8')).toBe(promptBefore);
  });

  it('only the owner may process a book; others get FORBIDDEN, unknown books NOT_FOUND', async () => {
    const { bookId } = await uploadBook(gw, {
      bytes: demo,
      fileName: 'mine.md',
      contentType: 'text/markdown',
      owner,
    });
    const stranger = await gw.token(randomUUID());
    const before = await gw.redis.llen('processing_queue');
    const res = await gw.gql(PROCESS, { id: bookId }, { token: stranger });
    expect(res.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const missing = await gw.gql(PROCESS, { id: randomUUID() }, { token });
    expect(missing.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await gw.redis.llen('processing_queue')).toBe(before);
  });

  it('enqueues jobs in the shared shape, and runs jobs other instances pushed', async () => {
    const { bookId } = await uploadBook(gw, {
      bytes: demo,
      fileName: 'shared.md',
      contentType: 'text/markdown',
      owner,
    });
    await gw.redis.rpush(
      'processing_queue',
      JSON.stringify({
        job_id: 'other-instance-1',
        type: 'process_book',
        book_id: bookId,
        enqueued_at: new Date().toISOString(),
      }),
    );
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');

    // Peek at what processBook pushes: stop nothing, read the raw job as it passes.
    const queued: string[] = [];
    const { bookId: b2 } = await uploadBook(gw, {
      bytes: demo,
      fileName: 'peek.md',
      contentType: 'text/markdown',
      owner,
    });
    await gw.runtime.worker!.stop(5000);
    await gw.gql(PROCESS, { id: b2 }, { token });
    queued.push(...(await gw.redis.lrange('processing_queue', 0, -1)));
    const job = JSON.parse(queued.at(-1)!);
    expect(Object.keys(job).sort()).toEqual(['book_id', 'enqueued_at', 'job_id', 'type']);
    expect(job).toMatchObject({ type: 'process_book', book_id: b2 });
    await gw.runtime.worker!.start();
    expect(await waitForStatus(gw, b2, ['completed', 'failed'])).toBe('completed');
  });
});

describe('bad jobs end as logged failures and the worker goes on', () => {
  it('malformed JSON, a malformed job, an unknown book and an unreadable file', async () => {
    const unreadable = await uploadBook(gw, {
      bytes: new Uint8Array([0x00, 0xff, 0x13, 0x37, 0x00, 0x00, 0x42, 0x99]),
      fileName: 'broken.bin',
      contentType: 'application/octet-stream',
      owner,
    });
    const good = await uploadBook(gw, {
      bytes: demo,
      fileName: 'after-bad.md',
      contentType: 'text/markdown',
      owner,
    });
    await gw.redis.rpush(
      'processing_queue',
      '{not json',
      JSON.stringify({ job_id: 'j-bad-shape', type: 'process_book', book_id: 'not-a-uuid' }),
      JSON.stringify({ job_id: 'j-unknown', type: 'process_book', book_id: randomUUID() }),
      JSON.stringify({ job_id: 'j-unreadable', type: 'process_book', book_id: unreadable.bookId }),
      JSON.stringify({ job_id: 'j-good', type: 'process_book', book_id: good.bookId }),
    );
    expect(await waitForStatus(gw, good.bookId, ['completed', 'failed'])).toBe('completed');
    expect(await waitForStatus(gw, unreadable.bookId, ['completed', 'failed'])).toBe('failed');
    await waitUntil(
      async () => (await gw.redis.llen('processing_queue')) === 0,
      5000,
      'empty queue',
    );
    const inflight = await keysOf(gw.redis, '{processing_queue}:inflight:*');
    for (const key of inflight) expect(await gw.redis.llen(key)).toBe(0);
  });
});

describe('embedding dimension', () => {
  it('a book collection that exists with another vector size fails the job with a clear error, not a silent mix', async () => {
    const { bookId } = await uploadBook(gw, {
      bytes: demo,
      fileName: 'sized.md',
      contentType: 'text/markdown',
      owner,
    });
    await gw.deps.vectors.client.createCollection(bookId, {
      vectors: { size: 8, distance: 'Cosine' },
    });
    const failures: string[] = [];
    const stop = await gw.deps.progress.listen(bookId, (e) => {
      if (e.stage === 'failed' && e.message) failures.push(e.message);
    });
    await gw.gql(PROCESS, { id: bookId }, { token });
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('failed');
    await waitUntil(async () => failures.length > 0, 5000, 'the failure event');
    await stop();
    expect(failures[0]).toMatch(/size 8.*hashing with size 384/);
    expect(await gw.deps.vectors.count(bookId)).toBe(0);
  });
});

describe('progress', () => {
  it('bookProcessing streams the stages over SSE until completed', async () => {
    const { bookId } = await uploadBook(gw, {
      bytes: demo,
      fileName: 'watched.md',
      contentType: 'text/markdown',
      owner,
    });
    const stream = await openProgress(gw, bookId, token);
    const events: { stage: string; progress: number; status: string }[] = [];
    for (let e = await stream.next(); e; e = await stream.next()) {
      events.push(e);
      if (events.length === 1) await gw.gql(PROCESS, { id: bookId }, { token });
      if (e.stage === 'COMPLETED' || e.stage === 'FAILED') break;
    }
    await stream.close();
    expect(events[0]).toMatchObject({ status: 'PENDING' });
    const stages = events.map((e) => e.stage);
    expect(stages).toContain('INDEXING');
    expect(stages.at(-1)).toBe('COMPLETED');
    const progress = events.map((e) => e.progress);
    expect(progress.at(-1)).toBe(1);
  });

  it('a watcher that goes away stops listening: the book channel is unsubscribed', async () => {
    const { bookId } = await uploadBook(gw, {
      bytes: demo,
      fileName: 'left.md',
      contentType: 'text/markdown',
      owner,
    });
    const subscribers = () => channelSubscribers(gw.redis, `book_progress:${bookId}`);
    const stream = await openProgress(gw, bookId, token);
    expect(await stream.next()).toMatchObject({ status: 'PENDING' });
    expect(await subscribers()).toBe(1);
    await stream.close();
    await waitUntil(async () => (await subscribers()) === 0, 10_000, 'the channel unsubscribed');
  });

  it.each([
    { name: 'completed', fails: false },
    { name: 'failed', fails: true },
  ])(
    'processBook on a $name book queues a new run: it answers PENDING and bookProcessing follows that run to COMPLETED',
    async ({ fails }) => {
      const { bookId } = await uploadBook(gw, {
        bytes: demo,
        fileName: 'rerun.md',
        contentType: 'text/markdown',
        owner,
      });
      // A collection of another vector size fails the first run; dropped, the re-run succeeds.
      if (fails) {
        await gw.deps.vectors.client.createCollection(bookId, {
          vectors: { size: 8, distance: 'Cosine' },
        });
      }
      await gw.gql(PROCESS, { id: bookId }, { token });
      const first = fails ? 'failed' : 'completed';
      expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe(first);
      await waitForIdleQueue(gw);
      if (fails) await gw.deps.vectors.client.deleteCollection(bookId);

      // The worker waits, so the subscription surely opens before the new run starts.
      await gw.runtime.worker!.stop(5000);
      const events: { stage: string; progress: number; status: string }[] = [];
      let restarted = false;
      try {
        const res = await gw.gql(PROCESS, { id: bookId }, { token });
        expect(res.body.errors).toBeUndefined();
        expect(res.body.data?.processBook).toMatchObject({ processingStatus: 'PENDING' });
        const stream = await openProgress(gw, bookId, token);
        const opening = await stream.next();
        expect(opening).toMatchObject({ stage: 'QUEUED', status: 'PENDING' });
        restarted = true;
        await gw.runtime.worker!.start();
        for (let e = await stream.next(); e; e = await stream.next()) {
          events.push(e);
          if (e.stage === 'COMPLETED' || e.stage === 'FAILED') break;
        }
        await stream.close();
      } finally {
        if (!restarted) await gw.runtime.worker!.start();
      }
      expect(events.map((e) => e.stage)).toContain('INDEXING');
      expect(events.map((e) => e.stage)).not.toContain('FAILED');
      expect(events.at(-1)).toMatchObject({ stage: 'COMPLETED', status: 'COMPLETED', progress: 1 });
      expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');
    },
  );
});
