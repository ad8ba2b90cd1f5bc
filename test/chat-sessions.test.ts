import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestDemoBook } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * Readers in charge of their chats, through GraphQL on the real stores: renaming and deleting a
 * session (owner only; another reader's is NOT_FOUND and untouched), what a delete removes (the
 * messages, the fencing row, the cached context), a delete against a turn holding or waiting for
 * the lock, and `totalCount` on the viewer's sessions and a session's messages across pages.
 */

const RENAME = `mutation ($i: RenameChatSessionInput!) { renameChatSession(input: $i) { id title } }`;
const DELETE = `mutation ($i: DeleteChatSessionInput!) { deleteChatSession(input: $i) { deletedSessionId } }`;
const SEND = `mutation ($i: SendMessageInput!) { sendMessage(input: $i) { reply { id } session { messageCount } } }`;
const SESSION = `query ($id: ID!) { chatSession(id: $id) { id title } }`;

let gw: TestGateway;
const reader = randomUUID();
const stranger = randomUUID();
let token: string;
let strangerToken: string;
let bookId: string;
let characterId: string;

beforeAll(async () => {
  gw = await startTestGateway({
    worker: true,
    // Session responses must not be served from the response cache even when it is on.
    env: { SESSION_LOCK_WAIT_MS: '1000', RESPONSE_CACHE_TTL_MS: '10000' },
  });
  token = await gw.token(reader);
  strangerToken = await gw.token(stranger);
  bookId = await ingestDemoBook(gw, reader);
  await gw.runtime.stopWorker(5000);
  const [c] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  characterId = c!.id;
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

const sessionOf = (userId: string, title = 'A chat') =>
  gw.seed.session(userId, characterId, bookId, title);

async function row(id: string) {
  const [r] = await gw.db.sql<{ title: string | null; message_count: number }[]>`
    select title, message_count from chat_sessions where id = ${id}`;
  return r ?? null;
}

const messageCount = async (id: string) =>
  Number(
    (
      await gw.db.sql<{ n: string }[]>`select count(*) as n from messages where session_id = ${id}`
    )[0]!.n,
  );

async function turn(sessionId: string, content: string, userToken = token) {
  const res = await gw.gql(SEND, { i: { sessionId, content } }, { token: userToken });
  expect(res.body.errors).toBeUndefined();
}

describe('renameChatSession', () => {
  it("renames the viewer's own session, trimmed, as the next read shows", async () => {
    const id = await sessionOf(reader, 'Old title');
    const res = await gw.gql(
      RENAME,
      { i: { sessionId: id, title: '  The lamp, again  ' } },
      { token },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.renameChatSession).toEqual({ id, title: 'The lamp, again' });
    expect((await row(id))?.title).toBe('The lamp, again');
    const read = await gw.gql(SESSION, { id }, { token });
    expect(read.body.data?.chatSession).toEqual({ id, title: 'The lamp, again' });
    // 200 characters as a reader counts them, even when each is two UTF-16 units.
    const emoji = '🕯'.repeat(200);
    const long = await gw.gql(RENAME, { i: { sessionId: id, title: emoji } }, { token });
    expect(long.body.errors).toBeUndefined();
    expect((await row(id))?.title).toBe(emoji);
  });

  it("answers NOT_FOUND for another reader's session, exactly as for a missing one, and leaves it as it was", async () => {
    const theirs = await sessionOf(stranger, 'Their title');
    const missing = randomUUID();
    const other = await gw.gql(RENAME, { i: { sessionId: theirs, title: 'Mine now' } }, { token });
    const none = await gw.gql(RENAME, { i: { sessionId: missing, title: 'Mine now' } }, { token });
    expect(other.body.data).toEqual({ renameChatSession: null });
    expect(other.body.errors?.[0]).toMatchObject({
      message: `Chat session ${theirs} was not found`,
      extensions: { code: 'NOT_FOUND' },
    });
    expect(other.body.errors?.[0]?.message.replace(theirs, 'ID')).toBe(
      none.body.errors?.[0]?.message.replace(missing, 'ID'),
    );
    expect(other.body.errors?.[0]?.extensions).toEqual(none.body.errors?.[0]?.extensions);
    expect((await row(theirs))?.title).toBe('Their title');
  });

  it.each([
    ['empty', ''],
    ['only spaces and a tab', '   \t '],
    ['only zero-width characters', '\u200b\u200d\ufeff'],
    ['only Hangul fillers', '\u3164\u3164'],
    ['only a bidi mark and a variation selector', '\u200f\ufe0f'],
    ['only combining marks', '\u0301\u0308'],
    ['only blank Braille', '\u2800\u2800'],
    ['201 characters', 'x'.repeat(201)],
    ['far too long', 't'.repeat(20_000)],
  ])('refuses a title that is %s with BAD_USER_INPUT and changes nothing', async (_n, title) => {
    const id = await sessionOf(reader, 'Kept');
    const res = await gw.gql(RENAME, { i: { sessionId: id, title } }, { token });
    expect(res.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'title',
    });
    expect((await row(id))?.title).toBe('Kept');
  });
});

it('createChatSession refuses a title with nothing visible, and still gives a blank one the default', async () => {
  const create = `mutation ($c: ID!, $t: String) { createChatSession(input: { characterId: $c, title: $t }) { title } }`;
  const before = await gw.db.sql`select id from chat_sessions where user_id = ${reader}`;
  const invisible = await gw.gql(create, { c: characterId, t: '\u200b\u2063' }, { token });
  expect(invisible.body.errors?.[0]?.extensions).toMatchObject({
    code: 'BAD_USER_INPUT',
    field: 'title',
  });
  expect(await gw.db.sql`select id from chat_sessions where user_id = ${reader}`).toHaveLength(
    before.length,
  );
  const blank = await gw.gql(create, { c: characterId, t: '   ' }, { token });
  expect((blank.body.data?.createChatSession as { title: string }).title).toMatch(/^Chat with /);
});

describe('deleteChatSession', () => {
  it('deletes the own session with its messages, fencing row and cached context; others are untouched', async () => {
    const mine = await sessionOf(reader);
    const theirs = await sessionOf(stranger);
    await turn(mine, 'Who keeps the lamp?');
    await turn(theirs, 'Who keeps the lamp?', strangerToken);
    expect(await messageCount(mine)).toBe(2);
    expect(await gw.redis.exists(`chat:sess:${mine}`)).toBe(1);
    const [fence] = await gw.db.sql`select 1 from chat_turn_fences where session_id = ${mine}`;
    expect(fence).toBeDefined();
    // Warm every read the frontend makes of it.
    await gw.gql(SESSION, { id: mine }, { token });
    await gw.gql('{ chatSessions { edges { node { id } } } }', {}, { token });

    const res = await gw.gql(DELETE, { i: { sessionId: mine } }, { token });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.deleteChatSession).toEqual({ deletedSessionId: mine });

    expect(await row(mine)).toBeNull();
    expect(await messageCount(mine)).toBe(0);
    expect(await gw.db.sql`select 1 from chat_turn_fences where session_id = ${mine}`).toHaveLength(
      0,
    );
    expect(await gw.redis.exists(`chat:sess:${mine}`)).toBe(0);
    expect(await gw.redis.exists(`chat:lock:${mine}`)).toBe(0);
    const read = await gw.gql(SESSION, { id: mine }, { token });
    expect(read.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const list = await gw.gql('{ chatSessions { edges { node { id } } } }', {}, { token });
    const ids = (list.body.data?.chatSessions as any).edges.map((e: any) => e.node.id);
    expect(ids).not.toContain(mine);
    // The other reader's session, its messages and its context are as they were.
    expect(await row(theirs)).toMatchObject({ message_count: 2 });
    expect(await messageCount(theirs)).toBe(2);
    expect(await gw.redis.exists(`chat:sess:${theirs}`)).toBe(1);
  });

  it('answers NOT_FOUND for a repeated delete, which changes nothing more', async () => {
    const id = await sessionOf(reader);
    const first = await gw.gql(DELETE, { i: { sessionId: id } }, { token });
    expect(first.body.errors).toBeUndefined();
    const again = await gw.gql(DELETE, { i: { sessionId: id } }, { token });
    expect(again.body.data).toEqual({ deleteChatSession: null });
    expect(again.body.errors?.[0]).toMatchObject({
      message: `Chat session ${id} was not found`,
      extensions: { code: 'NOT_FOUND' },
    });
  });

  it("answers NOT_FOUND for another reader's session and deletes nothing of it", async () => {
    const theirs = await sessionOf(stranger);
    await gw.seed.messages(theirs, 4);
    const res = await gw.gql(DELETE, { i: { sessionId: theirs } }, { token });
    expect(res.body.data).toEqual({ deleteChatSession: null });
    expect(res.body.errors?.[0]).toMatchObject({
      message: `Chat session ${theirs} was not found`,
      extensions: { code: 'NOT_FOUND' },
    });
    expect(await row(theirs)).toMatchObject({ message_count: 4 });
    expect(await messageCount(theirs)).toBe(4);
  });

  it('answers SESSION_BUSY while a turn holds the session lock, deleting nothing, and deletes once it is free', async () => {
    const id = await sessionOf(reader);
    await gw.seed.messages(id, 2);
    const lock = `chat:lock:${id}`;
    await gw.redis.set(lock, 'a-turn-under-way', 'PX', 30_000);
    const busy = await gw.gql(DELETE, { i: { sessionId: id } }, { token });
    expect(busy.body.errors?.[0]?.extensions).toMatchObject({
      code: 'SESSION_BUSY',
      retryable: true,
    });
    expect(await row(id)).not.toBeNull();
    expect(await messageCount(id)).toBe(2);
    expect(await gw.redis.get(lock)).toBe('a-turn-under-way');
    await gw.redis.del(lock);
    const done = await gw.gql(DELETE, { i: { sessionId: id } }, { token });
    expect(done.body.errors).toBeUndefined();
    expect(await messageCount(id)).toBe(0);
  });

  it('makes a turn that was waiting for the lock answer NOT_FOUND and save nothing', async () => {
    const id = await sessionOf(reader);
    const lock = `chat:lock:${id}`;
    await gw.redis.set(lock, 'the-delete', 'PX', 30_000);
    gw.counter.reset();
    const pending = gw.gql(SEND, { i: { sessionId: id, content: 'Are you there?' } }, { token });
    // Once the turn has tried the lock it has read the session; the delete then goes first.
    while ((gw.counter.snapshot()['redis:set'] ?? 0) === 0) await sleep(5);
    await gw.db.sql`delete from chat_sessions where id = ${id}`;
    await gw.redis.del(lock);
    const res = await pending;
    expect(res.body.errors?.[0]).toMatchObject({
      message: `Chat session ${id} was not found`,
      extensions: { code: 'NOT_FOUND' },
    });
    expect(await messageCount(id)).toBe(0);
  });
});

describe('totalCount', () => {
  it("counts all the viewer's sessions on every page, and only theirs", async () => {
    const me = randomUUID();
    const myToken = await gw.token(me);
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push(await sessionOf(me, `s${i}`));
    await sessionOf(randomUUID());
    const q = `query ($after: String) { chatSessions(first: 3, after: $after) { totalCount
      edges { node { id } } pageInfo { hasNextPage endCursor } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res = await gw.gql(q, { after }, { token: myToken });
      expect(res.body.errors).toBeUndefined();
      const conn = res.body.data?.chatSessions as any;
      expect(conn.totalCount).toBe(7);
      seen.push(...conn.edges.map((e: any) => e.node.id));
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(seen.sort()).toEqual(made.sort());
    const gone = made[0]!;
    expect(
      (await gw.gql(DELETE, { i: { sessionId: gone } }, { token: myToken })).body.errors,
    ).toBeUndefined();
    const res = await gw.gql(q, { after: null }, { token: myToken });
    expect((res.body.data?.chatSessions as any).totalCount).toBe(6);
  });

  it("counts a session's messages on every page, both ways, through fragments too", async () => {
    const id = await sessionOf(reader);
    await gw.seed.messages(id, 11);
    const back = `query ($id: ID!, $before: String) { chatSession(id: $id) { messages(last: 4, before: $before) {
      ...Total edges { node { content } } pageInfo { hasPreviousPage startCursor } } } }
      fragment Total on MessageConnection { totalCount }`;
    const contents: string[] = [];
    let before: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res = await gw.gql(back, { id, before }, { token });
      expect(res.body.errors).toBeUndefined();
      const conn = (res.body.data?.chatSession as any).messages;
      expect(conn.totalCount).toBe(11);
      contents.unshift(...conn.edges.map((e: any) => e.node.content));
      if (!conn.pageInfo.hasPreviousPage) break;
      before = conn.pageInfo.startCursor;
    }
    expect(contents).toEqual(Array.from({ length: 11 }, (_, i) => `message ${i}`));
    const forward = `query ($id: ID!, $after: String) { chatSession(id: $id) { messages(first: 5, after: $after) {
      ... on MessageConnection { totalCount } pageInfo { endCursor } } } }`;
    const r1 = await gw.gql(forward, { id }, { token });
    const c1 = (r1.body.data?.chatSession as any).messages;
    const r2 = await gw.gql(forward, { id, after: c1.pageInfo.endCursor }, { token });
    expect(c1.totalCount).toBe(11);
    expect((r2.body.data?.chatSession as any).messages.totalCount).toBe(11);
  });

  it('costs no request on the first page and one count request alongside a later page, only when selected', async () => {
    const me = randomUUID();
    const myToken = await gw.token(me);
    for (let i = 0; i < 4; i++) await sessionOf(me);
    const page = (withTotal: boolean) =>
      `query ($after: String) { chatSessions(first: 2, after: $after) { ${withTotal ? 'totalCount' : ''}
        edges { node { id } } pageInfo { endCursor } } }`;
    const requests = async (query: string, after: string | null) => {
      gw.standIn.requests.byTable.clear();
      const res = await gw.gql(query, { after }, { token: myToken });
      expect(res.body.errors).toBeUndefined();
      return {
        n: gw.standIn.requests.byTable.get('chat_sessions') ?? 0,
        conn: res.body.data?.chatSessions as any,
      };
    };
    const plain = await requests(page(false), null);
    const counted = await requests(page(true), null);
    expect(counted.n).toBe(plain.n);
    expect(counted.conn.totalCount).toBe(4);
    const cursor = plain.conn.pageInfo.endCursor;
    const plainLater = await requests(page(false), cursor);
    const countedLater = await requests(page(true), cursor);
    expect(countedLater.n).toBe(plainLater.n + 1);
    expect(countedLater.conn.totalCount).toBe(4);
  });
});
