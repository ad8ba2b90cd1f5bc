import { randomUUID } from 'node:crypto';
import { isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../schema/index.js';
import { StoreUnavailableError } from '../src/errors.js';
import { argumentChecks } from '../src/services/argument-checks.js';
import { ingestDemoBook } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { storeSnapshot } from './support/snapshot.js';

/**
 * Every answer tells the truth about what was written. An operation that may write (a mutation or
 * a subscription) with an invalid argument anywhere, however deep, writes nothing at all: no row,
 * no Redis key, no queued job (every store compared before and after). And where a field fails
 * after a write has been committed, the answer still carries what was saved.
 */
let gw: TestGateway;
const reader = randomUUID();
let token: string;
let bookId: string;
let characterId: string;
let sessionId: string;
let pendingBookId: string;

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
  token = await gw.token(reader);
  bookId = await ingestDemoBook(gw, reader);
  await gw.runtime.stopWorker(5000); // a queued job stays in the queue, where the test sees it
  const [c] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  characterId = c!.id;
  sessionId = await gw.seed.session(reader, characterId, bookId);
  pendingBookId = await gw.seed.book({ userId: reader, status: 'pending' });
  await gw.db.sql`update books set storage_path = ${`${reader}/x.txt`} where id = ${pendingBookId}`;
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

async function messageCount(id: string): Promise<number> {
  const [row] = await gw.db.sql<{ message_count: number }[]>`
    select message_count from chat_sessions where id = ${id}`;
  return row!.message_count;
}

async function sse(query: string, variables: Record<string, unknown>) {
  const res = await gw.app.fetch('http://gateway.test/graphql', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  const events = text
    .split('\n')
    .filter((l) => l.startsWith('data:') && l.length > 6)
    .map((l) => JSON.parse(l.slice(5)) as { data?: unknown; errors?: any[] });
  return { status: res.status, errors: events.flatMap((e) => e.errors ?? []) };
}

const SESSION = () => `input: { sessionId: "${sessionId}", content: "Who is Mira?" }`;

interface Case {
  name: string;
  query: () => string;
  variables?: () => Record<string, unknown>;
  /** The path of the refused argument's field. */
  path: string[];
  stream?: boolean;
}

const cases: Case[] = [
  {
    name: 'sendMessage with messages(first: 101) under its payload',
    query: () =>
      `mutation { sendMessage(${SESSION()}) { session { messages(first: 101) { edges { cursor } } } } }`,
    path: ['sendMessage', 'session', 'messages'],
  },
  {
    name: 'sendMessage with a page size of 0 through a variable, in a fragment',
    query: () =>
      `mutation ($n: Int) { sendMessage(${SESSION()}) { ...P } }
       fragment P on SendMessagePayload { reply { id } s: session { messages(last: $n) { edges { cursor } } } }`,
    variables: () => ({ n: 0 }),
    path: ['sendMessage', 's', 'messages'],
  },
  {
    name: 'sendMessage with a forged cursor three levels down',
    query: () =>
      `mutation { sendMessage(${SESSION()}) { session { book { characterConnection(after: "e30") { edges { cursor } } } } } }`,
    path: ['sendMessage', 'session', 'book', 'characterConnection'],
  },
  {
    name: 'sendMessage with first and last together',
    query: () =>
      `mutation { sendMessage(${SESSION()}) { session { messages(first: 1, last: 1) { edges { cursor } } } } }`,
    path: ['sendMessage', 'session', 'messages'],
  },
  {
    name: 'createChatSession with messages(first: 101)',
    query: () =>
      `mutation { createChatSession(input: { characterId: "${characterId}" }) { id messages(first: 101) { edges { cursor } } } }`,
    path: ['createChatSession', 'messages'],
  },
  {
    name: 'createChatSession with a negative page of characters through a variable',
    query: () =>
      `mutation ($n: Int) { createChatSession(input: { characterId: "${characterId}" }) { id book { characterConnection(first: $n) { edges { cursor } } } } }`,
    variables: () => ({ n: -1 }),
    path: ['createChatSession', 'book', 'characterConnection'],
  },
  {
    name: 'processBook with characterConnection(first: 500)',
    query: () =>
      `mutation { processBook(bookId: "${pendingBookId}") { id characterConnection(first: 500) { edges { cursor } } } }`,
    path: ['processBook', 'characterConnection'],
  },
  {
    name: 'a valid sendMessage next to a createChatSession with a malformed id',
    query: () =>
      `mutation { a: sendMessage(${SESSION()}) { reply { id } } b: createChatSession(input: { characterId: "1 OR 1=1" }) { id } }`,
    path: ['b'],
  },
  {
    name: 'a valid processBook next to a sendMessage with a message over the limit',
    query: () =>
      `mutation ($c: String!) { processBook(bookId: "${pendingBookId}") { id } sendMessage(input: { sessionId: "${sessionId}", content: $c }) { reply { id } } }`,
    variables: () => ({ c: 'y'.repeat(5000) }),
    path: ['sendMessage'],
  },
  {
    name: 'sendMessageStream with messages(last: 101) under its payload',
    query: () =>
      `subscription { sendMessageStream(${SESSION()}) { ... on TurnCompleted { payload { session { messages(last: 101) { edges { cursor } } } } } } }`,
    path: ['sendMessageStream', 'payload', 'session', 'messages'],
    stream: true,
  },
];

describe('an operation with an invalid argument anywhere writes nothing', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    const before = await storeSnapshot(gw);
    const count = await messageCount(sessionId);
    const variables = c.variables?.() ?? {};
    let errors: any[];
    if (c.stream) {
      const res = await sse(c.query(), variables);
      expect(res.status).toBe(200);
      errors = res.errors;
    } else {
      const res = await gw.gql(c.query(), variables, { token });
      expect(res.status).toBeLessThan(500);
      expect(res.body.data ?? null).toBeNull();
      errors = res.body.errors ?? [];
    }
    expect(errors.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    expect(errors[0].path).toEqual(c.path);
    expect(await messageCount(sessionId)).toBe(count);
    expect(await storeSnapshot(gw)).toEqual(before);
  });

  it('knows a check for the arguments of every field of the schema', () => {
    const checks = argumentChecks(gw.deps.config);
    const withArgs: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields())) {
        if (field.args.length > 0) withArgs.push(`${type.name}.${field.name}`);
      }
    }
    expect(withArgs.sort()).toEqual(Object.keys(checks).sort());
  });

  it('still saves the same operation once its arguments are valid', async () => {
    const count = await messageCount(sessionId);
    const res = await gw.gql(
      `mutation { sendMessage(${SESSION()}) { session { messages(first: 100) { edges { cursor } } } } }`,
      {},
      { token },
    );
    expect(res.body.errors).toBeUndefined();
    expect(await messageCount(sessionId)).toBe(count + 2);
  });
});

describe('a field that fails after a write still lets the answer say what was saved', () => {
  it('a store failing while the payload is read: the saved ids arrive, the error is on its leaf', async () => {
    const count = await messageCount(sessionId);
    const store = gw.deps.chatStore;
    const original = store.messagesPage;
    store.messagesPage = async () => {
      throw new StoreUnavailableError('supabase');
    };
    let res: Awaited<ReturnType<TestGateway['gql']>>;
    try {
      res = await gw.gql(
        `mutation { sendMessage(${SESSION()}) { userMessage { id } reply { id } session { id messages(last: 5) { edges { cursor } } } } }`,
        {},
        { token },
      );
    } finally {
      store.messagesPage = original;
    }
    expect(await messageCount(sessionId)).toBe(count + 2);
    const payload = res.body.data?.sendMessage as any;
    expect(payload?.session?.id).toBe(sessionId);
    expect(payload.session.messages).toBeNull();
    const saved = await gw.db.sql<{ id: string }[]>`
      select id from messages where session_id = ${sessionId} order by created_at desc limit 2`;
    expect(saved.map((r) => r.id).sort()).toEqual(
      [payload.userMessage.id, payload.reply.id].sort(),
    );
    expect(res.body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([
      [['sendMessage', 'session', 'messages'], 'SERVICE_UNAVAILABLE'],
    ]);
  });

  it('a later mutation field failing does not hide the earlier one that was saved', async () => {
    const count = await messageCount(sessionId);
    const res = await gw.gql(
      `mutation { a: sendMessage(${SESSION()}) { reply { id } } b: processBook(bookId: "${randomUUID()}") { id } }`,
      {},
      { token },
    );
    expect(await messageCount(sessionId)).toBe(count + 2);
    const a = res.body.data?.a as any;
    expect(a?.reply?.id).toEqual(expect.any(String));
    expect(res.body.data?.b).toBeNull();
    expect(res.body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([
      [['b'], 'NOT_FOUND'],
    ]);
  });
});
