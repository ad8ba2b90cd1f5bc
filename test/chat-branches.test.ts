import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestDemoBook } from './support/books.js';
import { type GqlResult, startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * Regenerated replies, edited reader messages and their branches, through GraphQL on the ingested
 * demo book (real PostgreSQL and Redis): what the chat page reads, message_count and preview,
 * switching back, idempotent retries, ownership, a held session lock and a lost one (fencing).
 */

const MESSAGE = 'id role content versions { id }';
const PAYLOAD = `replayed userMessage { id role content } reply { id role content citations { chunkIndex } }
  session { id messageCount preview }`;
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) { ${PAYLOAD} } }`;
const REGENERATE = `mutation ($input: RegenerateReplyInput!) { regenerateReply(input: $input) { ${PAYLOAD} } }`;
const EDIT = `mutation ($input: EditMessageInput!) { editMessage(input: $input) { ${PAYLOAD} } }`;
const SELECT = `mutation ($input: SelectBranchInput!) { selectBranch(input: $input) {
  id messageCount preview messages(last: 50) { totalCount edges { node { ${MESSAGE} } } } } }`;
const PAGE = `query ($id: ID!) { chatSession(id: $id) {
  messageCount preview messages(last: 50) { totalCount edges { node { ${MESSAGE} } } } } }`;

interface Turn {
  replayed: boolean;
  userMessage: { id: string; role: string; content: string };
  reply: { id: string; role: string; content: string; citations: { chunkIndex: number }[] };
  session: { id: string; messageCount: number; preview: string | null };
}
interface PageMessage {
  id: string;
  role: string;
  content: string;
  versions: { id: string }[];
}
interface Page {
  messageCount: number;
  preview: string | null;
  messages: { totalCount: number; edges: { node: PageMessage }[] };
}

const realPostgres = Boolean(process.env.TEST_DATABASE_URL);

let gw: TestGateway;
const reader = randomUUID();
const stranger = randomUUID();
let token: string;
let strangerToken: string;
let characterId: string;

beforeAll(async () => {
  gw = await startTestGateway({
    worker: true,
    env: { SESSION_LOCK_WAIT_MS: '300', STORE_TIMEOUT_MS: '30000', RESPONSE_CACHE_TTL_MS: '60000' },
  });
  token = await gw.token(reader);
  strangerToken = await gw.token(stranger);
  const bookId = await ingestDemoBook(gw, reader);
  const [row] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} and name = 'Mira'`;
  characterId = row!.id;
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

const codeOf = (res: GqlResult) => res.body.errors?.[0]?.extensions?.code;

async function newSession(): Promise<string> {
  const res = await gw.gql(
    'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
    { input: { characterId } },
    { token },
  );
  expect(res.body.errors).toBeUndefined();
  return (res.body.data?.createChatSession as { id: string }).id;
}

function payload(res: GqlResult, field: string): Turn {
  expect(res.body.errors).toBeUndefined();
  return res.body.data?.[field] as Turn;
}

async function send(sessionId: string, content: string): Promise<Turn> {
  return payload(await gw.gql(SEND, { input: { sessionId, content } }, { token }), 'sendMessage');
}

function regenerate(messageId: string, o: { clientMessageId?: string; token?: string } = {}) {
  return gw.gql(
    REGENERATE,
    { input: { messageId, ...(o.clientMessageId && { clientMessageId: o.clientMessageId }) } },
    { token: o.token ?? token },
  );
}

function edit(
  messageId: string,
  content: string,
  o: { clientMessageId?: string; token?: string } = {},
) {
  return gw.gql(
    EDIT,
    {
      input: {
        messageId,
        content,
        ...(o.clientMessageId && { clientMessageId: o.clientMessageId }),
      },
    },
    { token: o.token ?? token },
  );
}

function select(messageId: string, t = token) {
  return gw.gql(SELECT, { input: { messageId } }, { token: t });
}

async function page(sessionId: string): Promise<Page> {
  const res = await gw.gql(PAGE, { id: sessionId }, { token });
  expect(res.body.errors).toBeUndefined();
  return res.body.data?.chatSession as Page;
}

const ids = (p: Page) => p.messages.edges.map((e) => e.node.id);

/** The chat page agrees with itself: count, total and preview are those of the shown branch. */
function expectTrue(p: Page) {
  expect(p.messageCount).toBe(p.messages.edges.length);
  expect(p.messages.totalCount).toBe(p.messages.edges.length);
  const lastReply = p.messages.edges.filter((e) => e.node.role === 'ASSISTANT').at(-1);
  expect(p.preview).toBe(lastReply ? lastReply.node.content.slice(0, 160) : null);
}

async function snapshot(sessionId: string) {
  const messages = await gw.db.sql`
    select id, role, content, branch_id, created_at from messages
    where session_id = ${sessionId} order by created_at`;
  const session = await gw.db.sql`
    select message_count, preview, current_branch_id, updated_at from chat_sessions
    where id = ${sessionId}`;
  const branches = await gw.db.sql`select id from chat_branches where session_id = ${sessionId}`;
  return { messages, session, branches };
}

/** A session with two turns: [u1, r1, u2, r2]. */
async function twoTurns() {
  const sessionId = await newSession();
  const first = await send(sessionId, 'Who keeps the lamp at Salt Hollow?');
  const second = await send(sessionId, 'What did the stranger bring with him?');
  return { sessionId, first, second };
}

describe('regenerateReply', () => {
  it('answers the same reader message anew on a branch; the old reply stays and can be chosen', async () => {
    const { sessionId, first, second } = await twoTurns();
    const regenerated = payload(await regenerate(first.reply.id), 'regenerateReply');
    expect(regenerated.replayed).toBe(false);
    expect(regenerated.userMessage.id).toBe(first.userMessage.id);
    expect(regenerated.reply.id).not.toBe(first.reply.id);
    expect(regenerated.reply.role).toBe('ASSISTANT');
    expect(regenerated.reply.citations.length).toBeGreaterThan(0);
    expect(regenerated.session.messageCount).toBe(2);

    // The page shows the new branch: the first question and its new reply; r1, u2, r2 stay.
    const shown = await page(sessionId);
    expect(ids(shown)).toEqual([first.userMessage.id, regenerated.reply.id]);
    expectTrue(shown);
    expect(shown.messages.edges[1]!.node.versions.map((v) => v.id)).toEqual([
      first.reply.id,
      regenerated.reply.id,
    ]);

    // Back to the old reply: its branch with everything after it.
    const back = await select(first.reply.id);
    expect(back.body.errors).toBeUndefined();
    const old = await page(sessionId);
    expect(ids(old)).toEqual([
      first.userMessage.id,
      first.reply.id,
      second.userMessage.id,
      second.reply.id,
    ]);
    expectTrue(old);
    expect(old.preview).toBe(second.reply.content.slice(0, 160));

    // And forward again; a new message goes on the branch shown.
    expect((await select(regenerated.reply.id)).body.errors).toBeUndefined();
    const third = await send(sessionId, 'And what did the logbook say?');
    expect(third.session.messageCount).toBe(4);
    const now = await page(sessionId);
    expect(ids(now)).toEqual([
      first.userMessage.id,
      regenerated.reply.id,
      third.userMessage.id,
      third.reply.id,
    ]);
    expectTrue(now);
    // The context cache holds the shown branch.
    const context = await gw.redis.get(`chat:sess:${sessionId}`);
    expect(context).toContain(regenerated.reply.id);
    expect(context).not.toContain(second.reply.id);
  });

  it('is idempotent under retries with one clientMessageId, also at once', async () => {
    const { sessionId, first } = await twoTurns();
    const key = randomUUID();
    const a = payload(
      await regenerate(first.reply.id, { clientMessageId: key }),
      'regenerateReply',
    );
    const generations = gw.counter.count('llm:generate');
    const b = payload(
      await regenerate(first.reply.id, { clientMessageId: key }),
      'regenerateReply',
    );
    expect(b.replayed).toBe(true);
    // A replay asks the model for nothing.
    expect(gw.counter.count('llm:generate')).toBe(generations);
    expect(b.reply.id).toBe(a.reply.id);
    expect(b.userMessage.id).toBe(first.userMessage.id);

    const key2 = randomUUID();
    const before = await snapshot(sessionId);
    const results = await Promise.all(
      Array.from({ length: 4 }, () => regenerate(first.reply.id, { clientMessageId: key2 })),
    );
    const ok = results.filter((r) => !r.body.errors).map((r) => payload(r, 'regenerateReply'));
    for (const r of results.filter((r) => r.body.errors)) expect(codeOf(r)).toBe('SESSION_BUSY');
    expect(ok.length).toBeGreaterThan(0);
    expect(new Set(ok.map((t) => t.reply.id)).size).toBe(1);
    const after = await snapshot(sessionId);
    expect(after.messages.length).toBe(before.messages.length + 1);
    expect(after.branches.length).toBe(before.branches.length + 1);
  });

  it('refuses a reader message, another reader and a missing id, changing nothing', async () => {
    const { sessionId, first } = await twoTurns();
    const before = await snapshot(sessionId);
    expect(codeOf(await regenerate(first.userMessage.id))).toBe('BAD_USER_INPUT');
    expect(codeOf(await regenerate(first.reply.id, { token: strangerToken }))).toBe('NOT_FOUND');
    expect(codeOf(await regenerate(randomUUID()))).toBe('NOT_FOUND');
    expect(codeOf(await select(first.reply.id, strangerToken))).toBe('NOT_FOUND');
    expect(codeOf(await edit(first.userMessage.id, 'Mine now', { token: strangerToken }))).toBe(
      'NOT_FOUND',
    );
    expect(codeOf(await regenerate('not-a-uuid'))).toBe('BAD_USER_INPUT');
    expect(codeOf(await regenerate(first.reply.id, { clientMessageId: 'nope' }))).toBe(
      'BAD_USER_INPUT',
    );
    expect(await snapshot(sessionId)).toEqual(before);
  });

  it('mid-turn (lock held) is SESSION_BUSY, retryable, and nothing is saved', async () => {
    const { sessionId, first } = await twoTurns();
    const before = await snapshot(sessionId);
    await gw.redis.set(`chat:lock:${sessionId}`, 'another-instance', 'PX', 10_000);
    try {
      for (const res of [
        await regenerate(first.reply.id),
        await edit(first.userMessage.id, 'Who else keeps it?'),
        await select(first.reply.id),
      ]) {
        expect(codeOf(res)).toBe('SESSION_BUSY');
        expect(res.body.errors?.[0]?.extensions?.retryable).toBe(true);
      }
      expect(await gw.redis.get(`chat:lock:${sessionId}`)).toBe('another-instance');
    } finally {
      await gw.redis.del(`chat:lock:${sessionId}`);
    }
    expect(await snapshot(sessionId)).toEqual(before);
    expect(payload(await regenerate(first.reply.id), 'regenerateReply').replayed).toBe(false);
  });
});

describe("the frontend's chat page (cached per session version)", () => {
  const CHAT_PAGE = readFileSync(
    new URL('../client/operations/ChatPage.graphql', import.meta.url),
    'utf8',
  );
  const chatPage = async (sessionId: string) => {
    const res = await gw.gql(CHAT_PAGE, { sessionId }, { token });
    expect(res.body.errors).toBeUndefined();
    return res.body.data?.chatSession as {
      messageCount: number;
      readingPosition: { chapter: number | null } | null;
      messages: { edges: { node: { id: string } }[] };
    };
  };
  const idsOf = (p: Awaited<ReturnType<typeof chatPage>>) => p.messages.edges.map((e) => e.node.id);

  it('shows a regenerate, a branch switch and a new reading position at once', async () => {
    const { sessionId, first, second } = await twoTurns();
    expect(idsOf(await chatPage(sessionId))).toHaveLength(4);
    const regenerated = payload(await regenerate(first.reply.id), 'regenerateReply');
    expect(idsOf(await chatPage(sessionId))).toEqual([first.userMessage.id, regenerated.reply.id]);
    expect((await select(second.reply.id)).body.errors).toBeUndefined();
    expect(idsOf(await chatPage(sessionId))).toHaveLength(4);
    const set = await gw.gql(
      'mutation ($input: SetReadingPositionInput!) { setReadingPosition(input: $input) { id } }',
      { input: { sessionId, readingPosition: { chapter: 2 } } },
      { token },
    );
    expect(set.body.errors).toBeUndefined();
    expect((await chatPage(sessionId)).readingPosition?.chapter).toBe(2);
  });
});

describe('editMessage', () => {
  it('starts a branch from the edited message; the old one and what followed stay', async () => {
    const { sessionId, first, second } = await twoTurns();
    const edited = payload(
      await edit(second.userMessage.id, 'What was written in the logbook?'),
      'editMessage',
    );
    expect(edited.userMessage).toMatchObject({
      role: 'USER',
      content: 'What was written in the logbook?',
    });
    expect(edited.userMessage.id).not.toBe(second.userMessage.id);
    const shown = await page(sessionId);
    expect(ids(shown)).toEqual([
      first.userMessage.id,
      first.reply.id,
      edited.userMessage.id,
      edited.reply.id,
    ]);
    expectTrue(shown);
    expect(shown.messages.edges[2]!.node.versions.map((v) => v.id)).toEqual([
      second.userMessage.id,
      edited.userMessage.id,
    ]);

    // An edit on the new branch forks again, from that branch.
    const again = payload(
      await edit(edited.userMessage.id, 'Who wrote the letter?'),
      'editMessage',
    );
    expect(ids(await page(sessionId))).toEqual([
      first.userMessage.id,
      first.reply.id,
      again.userMessage.id,
      again.reply.id,
    ]);
    // Switching back to the original message shows the original conversation.
    expect((await select(second.userMessage.id)).body.errors).toBeUndefined();
    const original = await page(sessionId);
    expect(ids(original)).toEqual([
      first.userMessage.id,
      first.reply.id,
      second.userMessage.id,
      second.reply.id,
    ]);
    expectTrue(original);
    expect(original.messages.edges[2]!.node.versions).toHaveLength(3);
    // An edit of the first message: a branch with no message before it.
    const top = payload(await edit(first.userMessage.id, 'Hello, Mira.'), 'editMessage');
    const topPage = await page(sessionId);
    expect(ids(topPage)).toEqual([top.userMessage.id, top.reply.id]);
    expectTrue(topPage);
  });

  it('is idempotent with one clientMessageId and checks its content', async () => {
    const { sessionId, second } = await twoTurns();
    const key = randomUUID();
    const a = payload(
      await edit(second.userMessage.id, 'Who is Idris?', { clientMessageId: key }),
      'editMessage',
    );
    const before = await snapshot(sessionId);
    const generations = gw.counter.count('llm:generate');
    const b = payload(
      await edit(second.userMessage.id, 'Who is Idris?', { clientMessageId: key }),
      'editMessage',
    );
    expect(b.replayed).toBe(true);
    // A replay asks the model for nothing.
    expect(gw.counter.count('llm:generate')).toBe(generations);
    expect([b.userMessage.id, b.reply.id]).toEqual([a.userMessage.id, a.reply.id]);
    expect(await snapshot(sessionId)).toEqual(before);
    expect(codeOf(await edit(second.userMessage.id, '   '))).toBe('BAD_USER_INPUT');
    expect(codeOf(await edit(second.reply.id, 'A reply is not mine to edit'))).toBe(
      'BAD_USER_INPUT',
    );
    expect(await snapshot(sessionId)).toEqual(before);
  });
});

/** Waits until `n` calls of `fn` are waiting for a lock in this test's database. */
async function waiting(fn: string, n: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const [row] = await gw.db.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()
        and wait_event_type = 'Lock' and query like ${`%${fn}%`}`;
    if ((row?.n ?? 0) >= n) return;
    if (Date.now() > deadline) throw new Error(`${row?.n ?? 0} calls waiting, wanted ${n}`);
    await sleep(20);
  }
}

describe.runIf(realPostgres)('a fork that lost its lock', () => {
  it('cannot save once a newer one took the lock: one saved, the other LOCK_LOST', async () => {
    const { sessionId, first } = await twoTurns();
    const before = await snapshot(sessionId);
    const lock = `chat:lock:${sessionId}`;
    const conn: postgres.ReservedSql = await gw.db.sql.reserve();
    await conn`begin`;
    await conn`select id from chat_sessions where id = ${sessionId} for update`;
    let a: Promise<GqlResult> | undefined;
    let b: Promise<GqlResult> | undefined;
    try {
      a = regenerate(first.reply.id);
      await waiting('save_chat_fork', 1);
      // Its lock expires meanwhile; a newer regenerate takes it and waits for the row too.
      await gw.redis.del(lock);
      b = regenerate(first.reply.id);
      await waiting('save_chat_fork', 2);
    } finally {
      await conn`commit`;
      conn.release();
    }
    const results = await Promise.all([a!, b!]);
    expect(results.map(codeOf)).toEqual(['LOCK_LOST', undefined]);
    const after = await snapshot(sessionId);
    expect(after.messages.length).toBe(before.messages.length + 1);
    expect(after.branches.length).toBe(before.branches.length + 1);
    expectTrue(await page(sessionId));
  });
});
