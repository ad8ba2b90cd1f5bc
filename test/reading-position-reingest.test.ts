import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import { createLogger } from '../src/logger.js';
import { type Runtime, startRuntime } from '../src/runtime.js';
import { ingestDemoBook, waitForIdleQueue, waitForStatus } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * A book processed again with another chunking (its chunk indexes move) keeps every session's
 * reading position where the reader is: the chapter or percent they set, bounded on the book as
 * it is indexed now, never on the chunk index saved for the old chunking. The demo book is first
 * indexed in small chunks, then again, by another worker, in the default (larger) ones: the old
 * bound of chapter 3 then lies in a later chapter.
 */

interface Chapter {
  number: number;
  title: string;
  firstChunkIndex: number;
  lastChunkIndex: number;
}
type Position = { chapter: number | null; percent: number | null; lastChunkIndex: number };

const SESSION_FIELDS = 'id readingPosition { chapter percent lastChunkIndex }';
const CREATE = `mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { ${SESSION_FIELDS} } }`;
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
  reply { citations { chunkIndex chapter } } } }`;
const SEARCH = `query ($b: ID!, $q: String!, $s: ID) {
  searchBook(bookId: $b, query: $q, limit: 20, sessionId: $s) { chunkIndex chapter } }`;
const SESSION = `query ($id: ID!) { chatSession(id: $id) { ${SESSION_FIELDS} } }`;
const QUESTIONS = [
  'What did the letter from the Admiralty say about the bell buoy?',
  'Who was right for forty years?',
  'What happened at the board meeting in Kestrel Bay?',
  'Tell me about the lighthouse stairs.',
];

let gw: TestGateway;
let second: Runtime | null = null;
let secondDir: string;
const reader = randomUUID();
let token: string;
let bookId: string;
let miraId: string;

async function chaptersOf(): Promise<Chapter[]> {
  const res = await gw.gql(
    'query ($id: ID!) { book(id: $id) { chapters { number title firstChunkIndex lastChunkIndex } } }',
    { id: bookId },
    { token },
  );
  expect(res.body.errors).toBeUndefined();
  return (res.body.data?.book as { chapters: Chapter[] }).chapters;
}

async function newSession(readingPosition: unknown): Promise<{ id: string; position: Position }> {
  const res = await gw.gql(CREATE, { input: { characterId: miraId, readingPosition } }, { token });
  expect(res.body.errors).toBeUndefined();
  const s = res.body.data?.createChatSession as { id: string; readingPosition: Position };
  return { id: s.id, position: s.readingPosition };
}

/** Every chunk index the session was shown: the turns' citations and searchBook's hits. */
async function shown(sessionId: string): Promise<{ chunkIndex: number; chapter: string }[]> {
  const seen: { chunkIndex: number; chapter: string }[] = [];
  for (const content of QUESTIONS) {
    const turn = await gw.gql(SEND, { input: { sessionId, content } }, { token });
    expect(turn.body.errors).toBeUndefined();
    seen.push(
      ...(turn.body.data?.sendMessage as { reply: { citations: typeof seen } }).reply.citations,
    );
    const search = await gw.gql(SEARCH, { b: bookId, q: content, s: sessionId }, { token });
    expect(search.body.errors).toBeUndefined();
    seen.push(...(search.body.data?.searchBook as typeof seen));
  }
  return seen;
}

beforeAll(async () => {
  gw = await startTestGateway({
    worker: true,
    env: { CHUNK_TARGET_CHARS: '400', CHUNK_OVERLAP_CHARS: '50' },
  });
  token = await gw.token(reader);
  bookId = await ingestDemoBook(gw, reader);
  const [mira] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} and name = 'Mira'`;
  miraId = mira!.id;
}, 90_000);
afterAll(async () => {
  await second?.close();
  await gw?.close();
  if (secondDir) await rm(secondDir, { recursive: true, force: true });
});

describe('a reading position after the book is processed again', () => {
  it('bounds retrieval at the chapter and percent the reader set, on the new chunks', async () => {
    const before = await chaptersOf();
    const byChapter = await newSession({ chapter: 3 });
    const byPercent = await newSession({ percent: 30 });
    const oldChapterBound = byChapter.position.lastChunkIndex;
    expect(oldChapterBound).toBe(before[2]!.lastChunkIndex);

    // Processed again by a worker with the default chunking; this gateway's worker stops first.
    await gw.runtime.stopWorker(5_000);
    secondDir = await mkdtemp(join(tmpdir(), 'falsafa-reingest-'));
    second = await startRuntime(
      loadConfig({
        ...gw.env,
        FALSAFA_DATA_DIR: secondDir,
        WORKER_CONCURRENCY: '1',
        CHUNK_TARGET_CHARS: '1500',
        CHUNK_OVERLAP_CHARS: '250',
      }),
      createLogger('silent'),
    );
    const again = await gw.gql(
      'mutation ($id: ID!) { processBook(bookId: $id) { id } }',
      { id: bookId },
      { token },
    );
    expect(again.body.errors).toBeUndefined();
    const [queued] = await gw.db.sql<{ processing_status: string }[]>`
      select processing_status from books where id = ${bookId}`;
    expect(queued!.processing_status).not.toBe('completed');
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'], 60_000)).toBe('completed');
    await waitForIdleQueue(gw);

    const after = await chaptersOf();
    expect(after.map((c) => c.title)).toEqual(before.map((c) => c.title));
    // The chunk indexes moved: the old bound of chapter 3 now lies past it, in a later chapter.
    expect(oldChapterBound).toBeGreaterThanOrEqual(after[3]!.firstChunkIndex);
    const outline = await gw.deps.vectors.outline(bookId);
    const length = Math.max(...outline.map((c) => c.end));
    const percentBound = Math.max(
      -1,
      ...outline.filter((c) => c.end <= 0.3 * length).map((c) => c.chunk_index),
    );

    const firstThree = new Set(after.slice(0, 3).map((c) => c.title));
    const chapterSeen = await shown(byChapter.id);
    expect(chapterSeen.length).toBeGreaterThan(0);
    for (const c of chapterSeen) {
      expect(c.chunkIndex).toBeLessThanOrEqual(after[2]!.lastChunkIndex);
      expect(firstThree.has(c.chapter), c.chapter).toBe(true);
    }
    for (const c of await shown(byPercent.id)) {
      expect(c.chunkIndex).toBeLessThanOrEqual(percentBound);
    }

    // The session says where the reader is on the book as it is now.
    const read = await gw.gql(SESSION, { id: byChapter.id }, { token });
    expect((read.body.data?.chatSession as { readingPosition: Position }).readingPosition).toEqual({
      chapter: 3,
      percent: null,
      lastChunkIndex: after[2]!.lastChunkIndex,
    });
    const readPercent = await gw.gql(SESSION, { id: byPercent.id }, { token });
    expect(
      (readPercent.body.data?.chatSession as { readingPosition: Position }).readingPosition,
    ).toEqual({ chapter: null, percent: 30, lastChunkIndex: percentBound });
  }, 180_000);

  it('never trusts a saved bound: one left by another chunking (a race, an older gateway) cuts nowhere', async () => {
    const chapters = await chaptersOf();
    const s = await newSession({ chapter: 2 });
    // The bound as a run of another chunking would have left it: past the whole book.
    await gw.db.sql`update chat_sessions set reading_max_chunk_index = 100000 where id = ${s.id}`;
    const firstTwo = new Set(chapters.slice(0, 2).map((c) => c.title));
    const seen = await shown(s.id);
    expect(seen.length).toBeGreaterThan(0);
    for (const c of seen) {
      expect(c.chunkIndex).toBeLessThanOrEqual(chapters[1]!.lastChunkIndex);
      expect(firstTwo.has(c.chapter), c.chapter).toBe(true);
    }
  }, 60_000);

  // Last: the book loses chapters for the rest of the file.
  it('a chapter the book no longer has shows nothing until the reader sets the position again', async () => {
    const atSix = await newSession({ chapter: 6 });
    const [book] = await gw.db.sql<{ storage_path: string }[]>`
      select storage_path from books where id = ${bookId}`;
    // The owner replaces the file with its first two chapters and has it processed again.
    const text = new TextDecoder().decode(await loadDemoBook());
    const shorter = text.slice(0, text.indexOf('# Chapter 3'));
    const up = await gw.deps.supabase.storage
      .from('books')
      .upload(book!.storage_path, new TextEncoder().encode(shorter), {
        contentType: 'text/markdown',
        upsert: true,
      });
    expect(up.error).toBeNull();
    const again = await gw.gql(
      'mutation ($id: ID!) { processBook(bookId: $id) { id } }',
      { id: bookId },
      { token },
    );
    expect(again.body.errors).toBeUndefined();
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'], 60_000)).toBe('completed');
    await waitForIdleQueue(gw);
    // The title's part and two chapters: chapter 6 is gone.
    expect((await chaptersOf()).length).toBeLessThan(6);

    const outdated = (r: {
      body: { errors?: readonly { extensions?: Record<string, unknown> }[] };
    }) => {
      const e = r.body.errors?.[0]?.extensions;
      return [e?.code, e?.reason];
    };
    const messages = async () =>
      (
        await gw.db.sql<{ n: number }[]>`
          select count(*)::int as n from messages where session_id = ${atSix.id}`
      )[0]!.n;
    const turn = await gw.gql(
      SEND,
      { input: { sessionId: atSix.id, content: QUESTIONS[3] } },
      { token },
    );
    expect(outdated(turn)).toEqual(['FAILED_PRECONDITION', 'reading_position_outdated']);
    expect(await messages()).toBe(0);
    const search = await gw.gql(SEARCH, { b: bookId, q: QUESTIONS[3], s: atSix.id }, { token });
    expect(outdated(search)).toEqual(['FAILED_PRECONDITION', 'reading_position_outdated']);
    expect(search.body.data?.searchBook ?? null).toBeNull();

    // Set again, within the book as it is now: the session answers, bounded there.
    const set = await gw.gql(
      `mutation ($input: SetReadingPositionInput!) { setReadingPosition(input: $input) { id } }`,
      { input: { sessionId: atSix.id, readingPosition: { chapter: 1 } } },
      { token },
    );
    expect(set.body.errors).toBeUndefined();
    const [first] = await chaptersOf();
    const seen = await shown(atSix.id);
    expect(seen.length).toBeGreaterThan(0);
    for (const c of seen) expect(c.chunkIndex).toBeLessThanOrEqual(first!.lastChunkIndex);
  }, 120_000);
});
