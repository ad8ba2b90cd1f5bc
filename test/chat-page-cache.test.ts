import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatPageVersionKey } from '../src/cache/chat-page-cache.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { type Runtime, startRuntime } from '../src/runtime.js';
import { createApp } from '../src/yoga.js';
import { ingestDemoBook } from './support/books.js';
import { type GqlResult, startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * The chat page cache: a repeated chat page is answered without reading Supabase, yet a turn, a
 * rename or a delete is seen at once, on this instance and on another one sharing the stores;
 * a reader is never answered with another reader's cached page.
 */
const CHAT_PAGE = readFileSync(
  new URL('../client/operations/ChatPage.graphql', import.meta.url),
  'utf8',
);
const SEND = `mutation ($input: SendMessageInput!) {
  sendMessage(input: $input) { reply { id } session { messageCount } } }`;
const RENAME = `mutation ($input: RenameChatSessionInput!) {
  renameChatSession(input: $input) { id title } }`;
const DELETE = `mutation ($input: DeleteChatSessionInput!) {
  deleteChatSession(input: $input) { deletedSessionId } }`;

type Gql = (query: string, variables: Record<string, unknown>, token: string) => Promise<GqlResult>;

let gw: TestGateway;
let other: { runtime: Runtime; gql: Gql; close: () => Promise<void> };
const owner = randomUUID();
let token: string;
let characterId: string;

/** A second gateway process's worth of state (its own in-process caches) on the same stores. */
async function secondGateway() {
  const config = loadConfig({ ...gw.env, WORKER_CONCURRENCY: '0' });
  const runtime = await startRuntime(config, createLogger(config.logLevel));
  const app = createApp(runtime.deps);
  const gql: Gql = async (query, variables, t) => {
    const res = await app.fetch('http://gateway.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: (await res.json()) as GqlResult['body'] };
  };
  return {
    runtime,
    gql,
    async close() {
      await app.dispose();
      await runtime.close();
    },
  };
}

const here: Gql = (query, variables, t) => gw.gql(query, variables, { token: t });

async function newSession(t = token): Promise<string> {
  const res = await gw.gql(
    'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
    { input: { characterId } },
    { token: t },
  );
  expect(res.body.errors).toBeUndefined();
  return (res.body.data?.createChatSession as { id: string }).id;
}

async function page(gql: Gql, sessionId: string, t = token) {
  const res = await gql(CHAT_PAGE, { sessionId }, t);
  expect(res.body.errors).toBeUndefined();
  return res.body.data?.chatSession as {
    title: string;
    messageCount: number;
    messages: { totalCount: number; edges: { node: { id: string; content: string } }[] };
  };
}

async function send(gql: Gql, sessionId: string, content: string) {
  const res = await gql(SEND, { input: { sessionId, content } }, token);
  expect(res.body.errors).toBeUndefined();
  return res.body.data?.sendMessage as { reply: { id: string } };
}

beforeAll(async () => {
  gw = await startTestGateway({ worker: true, env: { RESPONSE_CACHE_TTL_MS: '60000' } });
  token = await gw.token(owner);
  const bookId = await ingestDemoBook(gw, owner);
  const [character] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  characterId = character!.id;
  other = await secondGateway();
}, 90_000);
afterAll(async () => {
  await other?.close();
  await gw?.close();
});

describe('the chat page cache', () => {
  it('answers a repeated chat page without reading Supabase', async () => {
    const sessionId = await newSession();
    await send(here, sessionId, 'What happened in the storm?');
    const first = await page(here, sessionId);
    gw.counter.reset();
    const again = await page(here, sessionId);
    const calls = gw.counter.snapshot();
    expect(again).toEqual(first);
    expect(Object.keys(calls).filter((k) => k.startsWith('supabase:'))).toEqual([]);
    expect(calls['redis:get']).toBe(1);
  });

  it('shows a new message at once, on this instance and on another', async () => {
    const sessionId = await newSession();
    await send(here, sessionId, 'Who keeps the lamp?');
    // Both instances have the page cached.
    for (const gql of [here, other.gql]) {
      expect((await page(gql, sessionId)).messages.totalCount).toBe(2);
      expect((await page(gql, sessionId)).messages.totalCount).toBe(2);
    }
    const { reply } = await send(here, sessionId, 'And who lit it first?');
    for (const gql of [here, other.gql]) {
      const after = await page(gql, sessionId);
      expect(after.messageCount).toBe(4);
      expect(after.messages.totalCount).toBe(4);
      expect(after.messages.edges.at(-1)?.node.id).toBe(reply.id);
    }
    // And the other way round: a turn answered by the second instance.
    const second = await send(other.gql, sessionId, 'Was it during the storm?');
    for (const gql of [here, other.gql]) {
      expect((await page(gql, sessionId)).messages.edges.at(-1)?.node.id).toBe(second.reply.id);
    }
  });

  it('shows a rename and a delete at once on both instances', async () => {
    const sessionId = await newSession();
    for (const gql of [here, other.gql]) await page(gql, sessionId);
    const renamed = await other.gql(RENAME, { input: { sessionId, title: 'Renamed' } }, token);
    expect(renamed.body.errors).toBeUndefined();
    for (const gql of [here, other.gql]) expect((await page(gql, sessionId)).title).toBe('Renamed');

    const deleted = await gw.gql(DELETE, { input: { sessionId } }, { token });
    expect(deleted.body.errors).toBeUndefined();
    for (const gql of [here, other.gql]) {
      const res = await gql(CHAT_PAGE, { sessionId }, token);
      expect(res.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
  });

  it("never answers a reader with another reader's cached page", async () => {
    const sessionId = await newSession();
    await send(here, sessionId, 'What happened in the storm?');
    const mine = await page(here, sessionId);
    expect(mine.messages.totalCount).toBe(2);
    const intruder = await gw.token(randomUUID());
    // The same document and variables, and the id inline, against a warm entry of the owner.
    const inline = CHAT_PAGE.replace('$sessionId: ID!, ', '').replace(
      'chatSession(id: $sessionId)',
      `chatSession(id: "${sessionId}")`,
    );
    for (const gql of [here, other.gql]) {
      for (const [query, variables] of [
        [CHAT_PAGE, { sessionId }],
        [inline, {}],
      ] as const) {
        const owned = await gql(query, variables, token);
        expect(owned.body.errors).toBeUndefined();
        const res = await gql(query, variables, intruder);
        expect(res.body.data?.chatSession ?? null).toBeNull();
        expect(res.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      }
    }
    // The intruder's own session does not see the owner's page either.
    const theirs = await newSession(intruder);
    const theirPage = await page(here, theirs, intruder);
    expect(theirPage.messages.totalCount).toBe(0);
  });

  it("reads afresh once the session's version token has changed", async () => {
    const sessionId = await newSession();
    await page(here, sessionId);
    await page(here, sessionId);
    // A version that no longer matches (what a write elsewhere leaves) means a fresh read.
    await gw.redis.set(chatPageVersionKey(sessionId), 'changed-elsewhere');
    gw.counter.reset();
    await page(here, sessionId);
    expect(gw.counter.snapshot()['supabase:GET chat_sessions']).toBe(1);
  });
});
