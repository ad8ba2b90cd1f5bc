import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPrompt } from '../src/chat/prompt.js';
import { createApp } from '../src/yoga.js';
import { ingestDemoBook } from './support/books.js';
import { type GqlResult, startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * Spoiler-safe chats through GraphQL on the ingested demo book (real PostgreSQL and Redis, the
 * store stand-ins): a session's reading position bounds what the chat turn retrieves and cites,
 * it is checked (out of range: BAD_USER_INPUT, nothing saved), owned, and moving it back keeps the
 * later replies out of the session's context.
 */

const SESSION_FIELDS = 'id readingPosition { chapter percent lastChunkIndex }';
const CREATE = `mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { ${SESSION_FIELDS} } }`;
const SET = `mutation ($input: SetReadingPositionInput!) { setReadingPosition(input: $input) { ${SESSION_FIELDS} } }`;
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
  reply { id content citations { chunkIndex chapter } } } }`;

/** The answer is in the last chapter only: the Admiralty's letter and the bell buoy. */
const LAST_CHAPTER_QUESTION = 'What did the letter from the Admiralty say about the bell buoy?';

type Position = { chapter: number | null; percent: number | null; lastChunkIndex: number } | null;
interface Chapter {
  number: number;
  title: string;
  firstChunkIndex: number;
  lastChunkIndex: number;
}

let gw: TestGateway;
const reader = randomUUID();
const stranger = randomUUID();
let token: string;
let strangerToken: string;
let bookId: string;
let miraId: string;
let chapters: Chapter[];
let lastChapter: Chapter;

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
  token = await gw.token(reader);
  strangerToken = await gw.token(stranger);
  bookId = await ingestDemoBook(gw, reader);
  const [mira] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} and name = 'Mira'`;
  miraId = mira!.id;
  const res = await gw.gql(
    'query ($id: ID!) { book(id: $id) { chapters { number title firstChunkIndex lastChunkIndex } } }',
    { id: bookId },
    { token },
  );
  expect(res.body.errors).toBeUndefined();
  chapters = (res.body.data?.book as { chapters: Chapter[] }).chapters;
  lastChapter = chapters.at(-1)!;
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

async function create(readingPosition?: unknown, t = token): Promise<GqlResult> {
  return gw.gql(
    CREATE,
    { input: { characterId: miraId, ...(readingPosition !== undefined && { readingPosition }) } },
    { token: t },
  );
}

async function newSession(readingPosition?: unknown): Promise<{ id: string; position: Position }> {
  const res = await create(readingPosition);
  expect(res.body.errors).toBeUndefined();
  const s = res.body.data?.createChatSession as { id: string; readingPosition: Position };
  return { id: s.id, position: s.readingPosition };
}

async function ask(sessionId: string, content = LAST_CHAPTER_QUESTION) {
  const res = await gw.gql(SEND, { input: { sessionId, content } }, { token });
  expect(res.body.errors).toBeUndefined();
  return (
    res.body.data?.sendMessage as {
      reply: { id: string; content: string; citations: { chunkIndex: number; chapter: string }[] };
    }
  ).reply;
}

function setPosition(sessionId: string, readingPosition: unknown, t = token) {
  return gw.gql(SET, { input: { sessionId, readingPosition } }, { token: t });
}

async function storedPosition(sessionId: string) {
  const [row] = await gw.db.sql<
    {
      reading_chapter: number | null;
      reading_percent: number | null;
      reading_max_chunk_index: number | null;
    }[]
  >`select reading_chapter, reading_percent, reading_max_chunk_index from chat_sessions
    where id = ${sessionId}`;
  return row;
}

const codeOf = (res: GqlResult) => res.body.errors?.[0]?.extensions?.code;

describe('the book outline', () => {
  it("numbers the book's sections in order, each a run of chunks under one heading", () => {
    expect(chapters.map((c) => c.number)).toEqual(chapters.map((_, i) => i + 1));
    expect(chapters[0]!.title).toBe('The Lamp at Salt Hollow');
    expect(lastChapter.title).toBe('Chapter 7: The Light Still Burns');
    for (let i = 1; i < chapters.length; i++) {
      expect(chapters[i]!.firstChunkIndex).toBe(chapters[i - 1]!.lastChunkIndex + 1);
    }
  });
});

describe('retrieval bounded by the reading position', () => {
  it('finds nothing of the last chapter at an early position, and finds it at the end', async () => {
    const early = await newSession({ chapter: 3 });
    expect(early.position).toEqual({
      chapter: 3,
      percent: null,
      lastChunkIndex: chapters[2]!.lastChunkIndex,
    });
    const before = await ask(early.id);
    expect(before.citations.length).toBeGreaterThan(0);
    for (const c of before.citations) {
      expect(c.chunkIndex).toBeLessThanOrEqual(chapters[2]!.lastChunkIndex);
    }
    expect(before.citations.some((c) => c.chapter === lastChapter.title)).toBe(false);
    expect(before.content).not.toMatch(/bell buoy/);

    const moved = await setPosition(early.id, { chapter: chapters.length });
    expect(moved.body.errors).toBeUndefined();
    const after = await ask(early.id);
    expect(after.citations.some((c) => c.chapter === lastChapter.title)).toBe(true);
    expect(after.content).toMatch(/bell buoy/);

    // With no position at all, the whole book is searched too.
    const whole = await newSession();
    expect(whole.position).toBeNull();
    expect((await ask(whole.id)).citations.some((c) => c.chapter === lastChapter.title)).toBe(true);
  });

  it('no citation ever lies past the position, by chapter or by percent', async () => {
    const questions = [
      LAST_CHAPTER_QUESTION,
      'Who was right for forty years?',
      'What happened at the board meeting in Kestrel Bay?',
      'Tell me about the lighthouse stairs.',
    ];
    for (const position of [{ chapter: 1 }, { chapter: 5 }, { percent: 40 }, { percent: 75 }]) {
      const s = await newSession(position);
      const bound = s.position!.lastChunkIndex;
      for (const q of questions) {
        for (const c of (await ask(s.id, q)).citations)
          expect(c.chunkIndex).toBeLessThanOrEqual(bound);
      }
    }
  });

  it('a percent counts the chunks that end within that share of the text', async () => {
    const half = await newSession({ percent: 50 });
    const outline = await gw.deps.vectors.outline(bookId);
    const length = Math.max(...outline.map((c) => c.end));
    const read = outline.filter((c) => c.end <= length / 2).map((c) => c.chunk_index);
    expect(half.position).toEqual({
      chapter: null,
      percent: 50,
      lastChunkIndex: Math.max(...read),
    });
    expect((await newSession({ percent: 0 })).position?.lastChunkIndex).toBe(-1);
    expect((await newSession({ percent: 100 })).position?.lastChunkIndex).toBe(
      Math.max(...outline.map((c) => c.chunk_index)),
    );
  });

  it('at chapter 0 nothing is retrieved, and the reply says the book does not tell', async () => {
    const s = await newSession({ chapter: 0 });
    expect(s.position?.lastChunkIndex).toBe(-1);
    expect((await ask(s.id)).citations).toEqual([]);
  });
});

describe('searchBook within a session', () => {
  const SEARCH = `query ($b: ID!, $q: String!, $s: ID) {
    searchBook(bookId: $b, query: $q, limit: 20, sessionId: $s) { chunkIndex chapter } }`;
  const search = (sessionId: string | null, t = token) =>
    gw.gql(SEARCH, { b: bookId, q: LAST_CHAPTER_QUESTION, s: sessionId }, { token: t });

  it("finds only passages up to the session's position; without one, the whole book", async () => {
    const early = await newSession({ chapter: 3 });
    const bounded = await search(early.id);
    expect(bounded.body.errors).toBeUndefined();
    const hits = bounded.body.data?.searchBook as { chunkIndex: number; chapter: string }[];
    expect(hits.length).toBeGreaterThan(0);
    for (const h of hits) expect(h.chunkIndex).toBeLessThanOrEqual(early.position!.lastChunkIndex);
    const whole = (await search(null)).body.data?.searchBook as { chapter: string }[];
    expect(whole.some((h) => h.chapter === lastChapter.title)).toBe(true);
  });

  it("another reader's session is NOT_FOUND; a malformed id BAD_USER_INPUT", async () => {
    const s = await newSession({ chapter: 3 });
    expect(codeOf(await search(s.id, strangerToken))).toBe('NOT_FOUND');
    expect(codeOf(await search('not-a-session'))).toBe('BAD_USER_INPUT');
  });
});

describe('setting the position', () => {
  it('refuses positions out of range with BAD_USER_INPUT and saves nothing', async () => {
    const s = await newSession({ chapter: 2 });
    const stored = await storedPosition(s.id);
    const sessionsBefore = await gw.db.sql`select id from chat_sessions where user_id = ${reader}`;
    const bad: unknown[] = [
      { chapter: -1 },
      { chapter: chapters.length + 1 },
      { percent: -0.5 },
      { percent: 100.01 },
      { chapter: 1, percent: 10 },
      {},
    ];
    for (const position of bad) {
      const set = await setPosition(s.id, position);
      expect(codeOf(set), JSON.stringify(position)).toBe('BAD_USER_INPUT');
      expect(set.body.data?.setReadingPosition ?? null).toBeNull();
      const created = await create(position);
      expect(codeOf(created), JSON.stringify(position)).toBe('BAD_USER_INPUT');
    }
    // Not a number at all (JSON has no NaN): refused by the variable's type.
    for (const raw of ['NaN', 'Infinity', '1e400']) {
      expect(codeOf(await setPosition(s.id, { percent: raw }))).toBe('BAD_USER_INPUT');
    }
    expect(await storedPosition(s.id)).toEqual(stored);
    expect(await gw.db.sql`select id from chat_sessions where user_id = ${reader}`).toHaveLength(
      sessionsBefore.length,
    );
  });

  it("another reader's session is NOT_FOUND and keeps its position", async () => {
    const s = await newSession({ chapter: 2 });
    const stored = await storedPosition(s.id);
    const res = await setPosition(s.id, { chapter: chapters.length }, strangerToken);
    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(await storedPosition(s.id)).toEqual(stored);
    const read = await gw.gql(
      'query ($id: ID!) { chatSession(id: $id) { readingPosition { chapter } } }',
      { id: s.id },
      { token: strangerToken },
    );
    expect(codeOf(read)).toBe('NOT_FOUND');
  });

  it('a turn reads the position under the session lock, as it was set while it waited', async () => {
    const s = await newSession();
    const lock = `chat:lock:${s.id}`;
    await gw.redis.set(lock, 'another-instance', 'PX', 10_000);
    const turn = ask(s.id);
    // The turn has read the session and waits for the lock; meanwhile the holder (another
    // instance) moves the reader back to chapter 1 and lets the lock go.
    await sleep(300);
    const bound = chapters[0]!.lastChunkIndex;
    await gw.db.sql`update chat_sessions set reading_chapter = 1, reading_max_chunk_index = ${bound}
      where id = ${s.id}`;
    await gw.redis.del(lock);
    const reply = await turn;
    for (const c of reply.citations) expect(c.chunkIndex).toBeLessThanOrEqual(bound);
  });

  it('null clears the position: the whole book again', async () => {
    const s = await newSession({ chapter: 1 });
    const res = await setPosition(s.id, null);
    expect(res.body.data?.setReadingPosition).toEqual({ id: s.id, readingPosition: null });
    expect(await storedPosition(s.id)).toEqual({
      reading_chapter: null,
      reading_percent: null,
      reading_max_chunk_index: null,
    });
  });

  it('moving back keeps the replies that cite later passages out of the context', async () => {
    const s = await newSession();
    const late = await ask(s.id);
    expect(late.citations.some((c) => c.chunkIndex > chapters[2]!.lastChunkIndex)).toBe(true);
    expect(await gw.redis.get(`chat:sess:${s.id}`)).toContain(late.id);

    expect((await setPosition(s.id, { chapter: 3 })).body.errors).toBeUndefined();
    expect(await gw.redis.exists(`chat:sess:${s.id}`)).toBe(0);
    const next = await ask(s.id, 'What did you just say?');
    for (const c of next.citations) {
      expect(c.chunkIndex).toBeLessThanOrEqual(chapters[2]!.lastChunkIndex);
    }
    expect(next.content).not.toContain('bell buoy');
    const context = JSON.parse((await gw.redis.get(`chat:sess:${s.id}`))!) as {
      summary: string;
      messages: { id: string; content: string }[];
    };
    expect(context.messages.map((m) => m.id)).not.toContain(late.id);
    // The reader's own question stays; the reply quoting the last chapter does not.
    expect(JSON.stringify(context)).not.toContain(late.content.slice(0, 80));
  });
});

describe('the prompt', () => {
  it('tells the character where the reader is, and only when a position is set', () => {
    const base = {
      character: {
        id: 'c',
        book_id: 'b',
        name: 'Mira',
        safe_name: 'mira',
        description: null,
        system_prompt: 'You are Mira.',
        avatar_url: null,
        created_at: '',
      },
      book: { title: 'The Lamp at Salt Hollow', author: null } as Parameters<
        typeof buildPrompt
      >[0]['book'],
      context: { summary: '', messages: [] },
      passages: [],
      message: 'Hello',
      budget: 6000,
    };
    const at = (readingPosition: { chapter: number | null; percent: number | null } | null) =>
      buildPrompt({ ...base, readingPosition }).messages[0]!.content;
    expect(at({ chapter: 3, percent: null })).toContain('has read up to the end of chapter 3');
    expect(at({ chapter: null, percent: 40 })).toContain('has read the first 40% of the book');
    expect(at({ chapter: 3, percent: null })).toMatch(/never reveal/);
    expect(at(null)).not.toMatch(/The reader has/);
  });
});

describe('GraphiQL', () => {
  it('has example tabs for the spoiler-safe chat, with the demo session filled in', async () => {
    const sessionId = randomUUID();
    const app = createApp(gw.deps, { examples: { bookId, sessionId } });
    const res = await app.fetch('http://localhost/graphql', { headers: { accept: 'text/html' } });
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain('mutation SetReadingPosition');
    expect(html).toContain('readingPosition');
    expect(html).toContain(sessionId);
    expect(html).toContain('What did the letter from the Admiralty say?');
  });
});
