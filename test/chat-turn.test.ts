import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { signSupabaseJwt } from '@falsafa/standins';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reciprocalRankFusion } from '../src/chat/fusion.js';
import { keywordSearch } from '../src/chat/keyword-query.js';
import { rerankPassages } from '../src/chat/rerank.js';
import { softMatcherFor } from '../src/chat/soft-match.js';
import { sharedWordNet } from '../src/chat/wordnet.js';
import type { SearchPassage } from '../src/services/search-service.js';
import { ingestDemoBook, waitUntil } from './support/books.js';
import {
  type GqlResult,
  startTestGateway,
  TEST_JWT_SECRET,
  type TestGateway,
} from './support/gateway.js';
import { deleteKeys, keysOf } from './support/redis.js';

/**
 * The chat turn through GraphQL on the ingested demo book, with the embedded defaults (local
 * embedder, local model): what one turn saves and caches, the input checks, concurrency on one
 * session and across sessions, replays, and the streamed turn over SSE.
 */

const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
  replayed
  userMessage { id role content createdAt clientMessageId citations { chunkIndex } }
  reply { id role content createdAt clientMessageId citations { chunkIndex text score chapter } }
  session { id messageCount preview updatedAt } } }`;

interface TurnPayload {
  replayed: boolean;
  userMessage: {
    id: string;
    role: string;
    content: string;
    createdAt: string;
    clientMessageId: string | null;
    citations: { chunkIndex: number }[];
  };
  reply: {
    id: string;
    role: string;
    content: string;
    createdAt: string;
    clientMessageId: string | null;
    citations: { chunkIndex: number; text: string; score: number; chapter: string | null }[];
  };
  session: { id: string; messageCount: number; preview: string | null; updatedAt: string };
}

interface MessageDbRow {
  id: string;
  role: string;
  content: string;
  created_at: Date;
  client_message_id: string | null;
  citations: { chunk_index: number; text: string; score: number; chapter: string | null }[];
}

let gw: TestGateway;
const reader = randomUUID();
const stranger = randomUUID();
let token: string;
let strangerToken: string;
let bookId: string;
let mira: { id: string; name: string };
let tomas: { id: string; name: string };
/** chunk_index -> text, as ingestion stored it in Qdrant. */
const chunks = new Map<number, string>();

beforeAll(async () => {
  gw = await startTestGateway({ worker: true, env: { SESSION_LOCK_WAIT_MS: '1500' } });
  token = await gw.token(reader);
  strangerToken = await gw.token(stranger);
  bookId = await ingestDemoBook(gw, reader);
  const rows = await gw.db.sql<{ id: string; name: string }[]>`
    select id, name from characters where book_id = ${bookId}`;
  mira = rows.find((r) => r.name === 'Mira')!;
  tomas = rows.find((r) => r.name === 'Tomas')!;
  expect(mira && tomas).toBeTruthy();
  const page = await gw.deps.vectors.client.scroll(bookId, { limit: 1000, with_payload: true });
  for (const p of page.points) chunks.set(Number(p.id), String(p.payload?.text));
  expect(chunks.size).toBeGreaterThan(3);
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

async function newSession(characterId = mira.id, userToken = token): Promise<string> {
  const res = await gw.gql(
    'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
    { input: { characterId } },
    { token: userToken },
  );
  expect(res.body.errors).toBeUndefined();
  return (res.body.data?.createChatSession as { id: string }).id;
}

function send(
  sessionId: string,
  content: string,
  o: { clientMessageId?: string; token?: string } = {},
): Promise<GqlResult> {
  return gw.gql(
    SEND,
    {
      input: {
        sessionId,
        content,
        ...(o.clientMessageId ? { clientMessageId: o.clientMessageId } : {}),
      },
    },
    { token: o.token ?? token },
  );
}

function turnOf(res: GqlResult): TurnPayload {
  expect(res.body.errors).toBeUndefined();
  return res.body.data?.sendMessage as TurnPayload;
}

function codeOf(res: GqlResult): unknown {
  return res.body.errors?.[0]?.extensions?.code;
}

async function savedMessages(sessionId: string): Promise<MessageDbRow[]> {
  return gw.db.sql<MessageDbRow[]>`
    select id, role, content, created_at, client_message_id, citations
    from messages where session_id = ${sessionId} order by created_at, id`;
}

async function sessionRow(sessionId: string) {
  const [row] = await gw.db.sql<
    { message_count: number; preview: string | null; updated_at: Date; created_at: Date }[]
  >`select message_count, preview, updated_at, created_at from chat_sessions where id = ${sessionId}`;
  return row!;
}

/** Removes every key but the run's claim key and the worker's queue keys. */
async function clearCaches() {
  await deleteKeys(
    gw.redis,
    (await keysOf(gw.redis)).filter((k) => !/^\{?processing_queue/.test(k)),
  );
}

describe('one turn', () => {
  it('saves the reader message and a grounded reply with citations, and updates the session', async () => {
    const sessionId = await newSession();
    const before = await sessionRow(sessionId);
    const content = 'Tell me about the lighthouse keeper and the hundred and twelve stairs.';
    const turn = turnOf(await send(sessionId, content));

    expect(turn.replayed).toBe(false);
    expect(turn.userMessage).toMatchObject({ role: 'USER', content, citations: [] });
    expect(turn.reply.role).toBe('ASSISTANT');
    expect(turn.reply.content.trim().length).toBeGreaterThan(0);
    expect(turn.reply.citations.length).toBeGreaterThan(0);
    expect(turn.reply.citations.length).toBeLessThanOrEqual(6);
    // Every citation is a real chunk of the book, with its stored text.
    for (const c of turn.reply.citations) {
      expect(chunks.get(c.chunkIndex)).toBe(c.text);
      expect(c.score).toBeGreaterThan(0);
    }
    const scores = turn.reply.citations.map((c) => c.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    // The local model quotes the passages: its reply is grounded in the cited text. It quotes
    // once; the book's own quotation marks are single quotes inside, gaps are marked with "…".
    const quoted = [...turn.reply.content.matchAll(/“([^”]+)”/g)].map((m) => m[1]!);
    expect(quoted).toHaveLength(1);
    const cited = turn.reply.citations
      .map((c) => c.text.replace(/\s+/g, ' ').replace(/[_*]/g, ''))
      .join('\n');
    const sentences = quoted[0]!.replace(/[‘’]/g, '"').split(/ … |(?<=[.!?]"?) (?=["\p{Lu}])/u);
    expect(sentences.length).toBeGreaterThan(0);
    for (const q of sentences) expect(cited).toContain(q);
    // The passage about the stairs (vector rank 1 for this message) is among those cited.
    expect(turn.reply.citations.some((c) => /hundred and twelve/.test(c.text))).toBe(true);

    expect(new Date(turn.reply.createdAt).getTime()).toBeGreaterThan(
      new Date(turn.userMessage.createdAt).getTime(),
    );
    expect(turn.session).toMatchObject({ id: sessionId, messageCount: 2 });
    expect(turn.session.preview).toBe(turn.reply.content.slice(0, 160));

    const saved = await savedMessages(sessionId);
    expect(saved.map((m) => [m.id, m.role, m.content])).toEqual([
      [turn.userMessage.id, 'user', content],
      [turn.reply.id, 'assistant', turn.reply.content],
    ]);
    expect(saved[1]!.citations.map((c) => c.chunk_index)).toEqual(
      turn.reply.citations.map((c) => c.chunkIndex),
    );
    const after = await sessionRow(sessionId);
    expect(after.message_count).toBe(before.message_count + 2);
    expect(after.preview).toBe(turn.session.preview);
    expect(after.updated_at.getTime()).toBeGreaterThan(before.updated_at.getTime());
    expect(await gw.redis.exists(`chat:lock:${sessionId}`)).toBe(0);
  });

  it('created_at stays after a message from a clock that ran ahead, on whole milliseconds', async () => {
    const sessionId = await newSession();
    const ahead = new Date(Date.now() + 3_600_000);
    await gw.db.sql`
      insert into messages (session_id, role, content, created_at)
      values (${sessionId}, 'user', 'from a fast clock',
              ${ahead.toISOString()}::timestamptz + interval '400 microseconds')`;
    const turn = turnOf(await send(sessionId, 'Is it late?'));
    const user = new Date(turn.userMessage.createdAt).getTime();
    const reply = new Date(turn.reply.createdAt).getTime();
    // Distinct on the wire (milliseconds), after the fast clock's message.
    expect(user).toBeGreaterThan(ahead.getTime());
    expect(reply).toBeGreaterThan(user);
    const rows = await gw.db.sql<{ us: string }[]>`
      select (extract(epoch from created_at) * 1000000)::bigint::text as us
      from messages where session_id = ${sessionId} order by created_at`;
    const us = rows.map((r) => BigInt(r.us));
    expect(us).toHaveLength(3);
    expect(us[1]! > us[0]!).toBe(true);
    expect(us[2]! > us[1]!).toBe(true);
  });

  it('only the service role may call save_chat_turn', async () => {
    const sessionId = await newSession();
    const anonKey = await signSupabaseJwt(TEST_JWT_SECRET, { role: 'anon' });
    const res = await fetch(`${gw.standIn.url}/rest/v1/rpc/save_chat_turn`, {
      method: 'POST',
      headers: {
        apikey: anonKey,
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        p_session_id: sessionId,
        p_user_id: reader,
        p_fence: 1,
        p_user_content: 'forged',
        p_reply_content: 'forged reply',
      }),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(await res.text()).toMatch(/permission denied for function save_chat_turn/i);
    expect(await savedMessages(sessionId)).toEqual([]);
  });

  it('a second turn sees the first: counts go on, created_at keeps increasing', async () => {
    const sessionId = await newSession(tomas.id);
    const first = turnOf(await send(sessionId, 'What did you tell Mira about the sea?'));
    const second = turnOf(await send(sessionId, 'And what about the storm shutters?'));
    expect(first.session.messageCount).toBe(2);
    expect(second.session.messageCount).toBe(4);
    const saved = await savedMessages(sessionId);
    expect(saved.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    for (let i = 1; i < saved.length; i++) {
      expect(saved[i]!.created_at.getTime()).toBeGreaterThan(saved[i - 1]!.created_at.getTime());
    }
    // The session context now holds all four messages.
    const ctx = JSON.parse((await gw.redis.get(`chat:sess:${sessionId}`))!);
    expect(ctx.messages.map((m: { id: string }) => m.id)).toEqual(saved.map((m) => m.id));
  });
});

describe('Redis after a turn', () => {
  it('holds exactly the keys of docs/data-layout.md with their TTLs, and no lock', async () => {
    const sessionId = await newSession();
    await clearCaches();
    const content = 'Who came to the lighthouse in the storm?';
    const turn = turnOf(await send(sessionId, content));

    // The worker's keys: `processing_queue` and its hash-tagged `{processing_queue}:…`.
    const keys = (await keysOf(gw.redis)).filter((k) => !/^\{?processing_queue/.test(k));
    const qr = keys.filter((k) => k.startsWith('chat:qr:'));
    expect(qr).toHaveLength(1);
    expect(qr[0]).toMatch(new RegExp(`^chat:qr:${mira.id}:[0-9a-f]{64}$`));
    expect(keys).toEqual(
      [
        `chat:book:${bookId}`,
        `chat:char:${mira.id}`,
        qr[0]!,
        `chat:sess:${sessionId}`,
        `chat_page_version:${sessionId}`,
      ].sort(),
    );
    expect(await keysOf(gw.redis, 'chat:lock:*')).toEqual([]);
    for (const key of keys) {
      const ttl = await gw.redis.ttl(key);
      expect(ttl, key).toBeGreaterThan(3590);
      expect(ttl, key).toBeLessThanOrEqual(3600);
    }

    // The values are what docs/data-layout.md says they are.
    const sess = JSON.parse((await gw.redis.get(`chat:sess:${sessionId}`))!);
    expect(sess.summary).toBe('');
    expect(sess.messages.map((m: { id: string; role: string }) => [m.id, m.role])).toEqual([
      [turn.userMessage.id, 'user'],
      [turn.reply.id, 'assistant'],
    ]);
    const char = JSON.parse((await gw.redis.get(`chat:char:${mira.id}`))!);
    expect(char).toMatchObject({ id: mira.id, name: 'Mira', book_id: bookId });
    expect(typeof char.system_prompt).toBe('string');
    const book = JSON.parse((await gw.redis.get(`chat:book:${bookId}`))!);
    expect(book).toMatchObject({ id: bookId, processing_status: 'completed' });
    expect(book).toHaveProperty('category');
    const rewritten = JSON.parse((await gw.redis.get(qr[0]!))!);
    expect(typeof rewritten.narrative).toBe('string');
    expect(typeof rewritten.keyword).toBe('string');
    expect(rewritten.narrative.length).toBeGreaterThan(0);
    expect(rewritten.keyword.length).toBeGreaterThan(0);

    // The same opening message to the same character in a fresh session hits the same rewrite
    // key: the hash is of the normalised inputs (case and spacing do not matter).
    const other = await newSession();
    turnOf(await send(other, `  ${content.toUpperCase().replace(/ /g, '   ')} `));
    const qrAfter = await keysOf(gw.redis, 'chat:qr:*');
    expect(qrAfter).toEqual(qr);
    // A different message is a different key, and it is a SHA-256 (64 hex digits).
    turnOf(await send(other, 'Where did the oil come from?'));
    const qrLast = await keysOf(gw.redis, 'chat:qr:*');
    expect(qrLast).toHaveLength(2);
    expect(createHash('sha256').update('x').digest('hex')).toHaveLength(64);
    expect(await keysOf(gw.redis, 'chat:lock:*')).toEqual([]);
  });

  it('rebuilds a lost session context from the saved messages', async () => {
    const sessionId = await newSession(tomas.id);
    const first = turnOf(await send(sessionId, 'How many stairs are in the tower?'));
    await gw.redis.del(`chat:sess:${sessionId}`);
    const second = turnOf(await send(sessionId, 'Which step creaks?'));
    const ctx = JSON.parse((await gw.redis.get(`chat:sess:${sessionId}`))!);
    expect(ctx.messages.map((m: { id: string }) => m.id)).toEqual([
      first.userMessage.id,
      first.reply.id,
      second.userMessage.id,
      second.reply.id,
    ]);
    expect(await gw.redis.ttl(`chat:sess:${sessionId}`)).toBeGreaterThan(3590);
  });
});

describe('input checks (nothing saved, no lock left)', () => {
  async function expectNothingSaved(sessionId: string) {
    expect(await savedMessages(sessionId)).toEqual([]);
    expect((await sessionRow(sessionId)).message_count).toBe(0);
    expect(await gw.redis.exists(`chat:lock:${sessionId}`)).toBe(0);
  }

  it('empty or blank content is BAD_USER_INPUT', async () => {
    const sessionId = await newSession();
    for (const content of ['', '   ', '\n\t  \n']) {
      const res = await send(sessionId, content);
      expect(codeOf(res), JSON.stringify(content)).toBe('BAD_USER_INPUT');
      expect(res.body.data?.sendMessage ?? null).toBeNull();
    }
    await expectNothingSaved(sessionId);
  });

  it('more than 4,000 characters is BAD_USER_INPUT; exactly 4,000 is accepted', async () => {
    const sessionId = await newSession();
    const long = 'lamp '.repeat(801).slice(0, 4001);
    expect(long).toHaveLength(4001);
    const res = await send(sessionId, long);
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.body.errors?.[0]?.message).toMatch(/4000/);
    await expectNothingSaved(sessionId);

    // Characters, not UTF-16 units: 4,000 candles (8,000 units) fit; one more does not.
    const candles = '🕯'.repeat(4000);
    expect(candles).toHaveLength(8000);
    expect(codeOf(await send(sessionId, `${candles}🕯`))).toBe('BAD_USER_INPUT');
    await expectNothingSaved(sessionId);
    expect(turnOf(await send(sessionId, candles)).userMessage.content).toBe(candles);
    // What counts is what is saved: the message without its surrounding whitespace.
    const padded = `\n  ${'w'.repeat(4000)}  \n`;
    expect(turnOf(await send(sessionId, padded)).userMessage.content).toBe('w'.repeat(4000));

    const exact = `${'lamp '.repeat(799)}wick!`;
    expect(exact).toHaveLength(4000);
    const turn = turnOf(await send(sessionId, exact));
    expect(turn.userMessage.content).toBe(exact);
    expect(turn.session.messageCount).toBe(6);
  });

  it("another reader's session, an unknown one, or a malformed id: NOT_FOUND / BAD_USER_INPUT", async () => {
    const theirs = await newSession(mira.id, strangerToken);
    const res = await send(theirs, 'Hello?');
    expect(codeOf(res)).toBe('NOT_FOUND');
    await expectNothingSaved(theirs);
    // The owner can use it.
    turnOf(await send(theirs, 'Hello?', { token: strangerToken }));

    const unknown = randomUUID();
    expect(codeOf(await send(unknown, 'Hello?'))).toBe('NOT_FOUND');
    const [count] = await gw.db.sql<{ n: number }[]>`
      select count(*)::int as n from messages where session_id = ${unknown}`;
    expect(count?.n).toBe(0);

    expect(codeOf(await send('not-a-uuid', 'Hello?'))).toBe('BAD_USER_INPUT');
    const mine = await newSession();
    expect(codeOf(await send(mine, 'Hello?', { clientMessageId: 'not-a-uuid' }))).toBe(
      'BAD_USER_INPUT',
    );
    await expectNothingSaved(mine);
  });

  it('a session whose book is not completed is FAILED_PRECONDITION with a clear message', async () => {
    const pending = await gw.seed.book({
      title: 'Half Read',
      status: 'processing',
      userId: reader,
    });
    const [characterId] = await gw.seed.characters(pending, 1);
    const sessionId = await gw.seed.session(reader, characterId!, pending);
    const res = await send(sessionId, 'Are you there?');
    expect(codeOf(res)).toBe('FAILED_PRECONDITION');
    expect(res.body.errors?.[0]?.message).toMatch(/Half Read.*processing.*completed/);
    await expectNothingSaved(sessionId);
  });

  it('without a token the mutation is UNAUTHENTICATED', async () => {
    const sessionId = await newSession();
    const res = await gw.gql(SEND, { input: { sessionId, content: 'hi' } }, { token: null });
    expect(codeOf(res)).toBe('UNAUTHENTICATED');
    await expectNothingSaved(sessionId);
  });

  it('a session held by another turn is SESSION_BUSY after the wait (retryable), nothing saved', async () => {
    const sessionId = await newSession();
    await gw.redis.set(`chat:lock:${sessionId}`, 'another-instance', 'PX', 10_000);
    const started = Date.now();
    const res = await send(sessionId, 'Anyone?');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(codeOf(res)).toBe('SESSION_BUSY');
    expect(res.body.errors?.[0]?.extensions?.retryable).toBe(true);
    expect(await gw.redis.get(`chat:lock:${sessionId}`)).toBe('another-instance');
    await gw.redis.del(`chat:lock:${sessionId}`);
    await expectNothingSaved(sessionId);
    turnOf(await send(sessionId, 'Anyone?'));
  });
});

describe('concurrency', () => {
  it('20 concurrent messages on one session: each is saved or SESSION_BUSY, in a clean order', async () => {
    const sessionId = await newSession(tomas.id);
    const contents = Array.from(
      { length: 20 },
      (_, i) => `Question ${i}: what does the keeper do each evening?`,
    );
    const results = await Promise.all(contents.map((c) => send(sessionId, c)));
    const ok: TurnPayload[] = [];
    for (const res of results) {
      if (res.body.errors) {
        expect(res.body.errors).toHaveLength(1);
        expect(codeOf(res)).toBe('SESSION_BUSY');
        expect(res.body.data?.sendMessage ?? null).toBeNull();
      } else {
        ok.push(turnOf(res));
      }
    }
    expect(ok.length).toBeGreaterThan(0);

    const saved = await savedMessages(sessionId);
    expect(saved).toHaveLength(ok.length * 2);
    expect(saved.map((m) => m.role)).toEqual(ok.flatMap(() => ['user', 'assistant'] as const));
    for (let i = 1; i < saved.length; i++) {
      expect(saved[i]!.created_at.getTime()).toBeGreaterThan(saved[i - 1]!.created_at.getTime());
    }
    // No duplicates: each successful message once, each followed by its own reply.
    const users = saved.filter((m) => m.role === 'user').map((m) => m.content);
    expect(new Set(users).size).toBe(users.length);
    expect([...users].sort()).toEqual(ok.map((t) => t.userMessage.content).sort());
    for (const t of ok) {
      const at = saved.findIndex((m) => m.id === t.userMessage.id);
      expect(saved[at + 1]?.id).toBe(t.reply.id);
    }
    expect(new Set(saved.map((m) => m.id)).size).toBe(saved.length);
    // message_count agrees, and each payload saw the count of its own turn.
    expect((await sessionRow(sessionId)).message_count).toBe(saved.length);
    expect(ok.map((t) => t.session.messageCount).sort((a, b) => a - b)).toEqual(
      ok.map((_, i) => 2 * (i + 1)),
    );
    // The cached context was advanced turn after turn, none lost: it is the last 10 saved.
    const ctx = JSON.parse((await gw.redis.get(`chat:sess:${sessionId}`))!);
    expect(ctx.messages.map((m: { id: string }) => m.id)).toEqual(
      saved.slice(-10).map((m) => m.id),
    );
    expect(await keysOf(gw.redis, 'chat:lock:*')).toEqual([]);
  });

  it('20 sessions chatting at once do not block each other', async () => {
    const sessions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => newSession(i % 2 ? mira.id : tomas.id)),
    );
    // Watch the lock keys while the turns run: they must be held side by side.
    let maxLocks = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        maxLocks = Math.max(maxLocks, (await keysOf(gw.redis, 'chat:lock:*')).length);
        await sleep(2);
      }
    })();
    const results = await Promise.all(
      sessions.map((id, i) => send(id, `Session ${i}: tell me about the stranger with the maps.`)),
    );
    watching = false;
    await watcher;
    for (const res of results) turnOf(res);
    expect(maxLocks).toBeGreaterThan(1);
    for (const id of sessions) {
      expect((await savedMessages(id)).map((m) => m.role)).toEqual(['user', 'assistant']);
      expect((await sessionRow(id)).message_count).toBe(2);
    }
    expect(await keysOf(gw.redis, 'chat:lock:*')).toEqual([]);
  });
});

describe('idempotency', () => {
  it('the same clientMessageId twice: one saved turn, replayed the second time, one generation', async () => {
    const sessionId = await newSession();
    const clientMessageId = randomUUID();
    const generations = gw.counter.count('llm:generate');
    const first = turnOf(await send(sessionId, 'Where is the logbook kept?', { clientMessageId }));
    const second = turnOf(await send(sessionId, 'Where is the logbook kept?', { clientMessageId }));
    expect(first.replayed).toBe(false);
    expect(second.replayed).toBe(true);
    expect(second.userMessage.id).toBe(first.userMessage.id);
    expect(second.reply.id).toBe(first.reply.id);
    expect(second.reply.content).toBe(first.reply.content);
    expect(second.userMessage.clientMessageId).toBe(clientMessageId);
    expect(second.session.messageCount).toBe(2);
    expect(gw.counter.count('llm:generate') - generations).toBe(1);
    const saved = await savedMessages(sessionId);
    expect(saved).toHaveLength(2);
    expect(saved[0]!.client_message_id).toBe(clientMessageId);
    expect((await sessionRow(sessionId)).message_count).toBe(2);
  });

  it('a replay reads PostgreSQL twice: the session row, then the fence and the saved turn at once', async () => {
    const sessionId = await newSession();
    const clientMessageId = randomUUID();
    const first = turnOf(await send(sessionId, 'Who keeps the lamp?', { clientMessageId }));
    const ops = [
      'supabase:GET chat_sessions',
      'supabase:GET messages',
      'supabase:POST rpc/take_chat_turn_fence',
      'supabase:POST rpc/begin_chat_turn',
      'supabase:POST rpc/save_chat_turn',
    ];
    const before = ops.map((op) => gw.counter.count(op));
    const second = turnOf(await send(sessionId, 'Who keeps the lamp?', { clientMessageId }));
    expect(second).toMatchObject({ replayed: true, reply: { id: first.reply.id } });
    expect(Object.fromEntries(ops.map((op, i) => [op, gw.counter.count(op) - before[i]!]))).toEqual(
      {
        'supabase:GET chat_sessions': 1,
        'supabase:GET messages': 0,
        'supabase:POST rpc/take_chat_turn_fence': 0,
        'supabase:POST rpc/begin_chat_turn': 1,
        'supabase:POST rpc/save_chat_turn': 0,
      },
    );
  });

  it('the same clientMessageId sent twice at once is still one turn', async () => {
    const sessionId = await newSession();
    const clientMessageId = randomUUID();
    const generations = gw.counter.count('llm:generate');
    const results = await Promise.all(
      [0, 1].map(() => send(sessionId, 'What is the Needle?', { clientMessageId })),
    );
    const turns = results.map(turnOf);
    expect(turns.map((t) => t.replayed).sort()).toEqual([false, true]);
    expect(turns[0]!.reply.id).toBe(turns[1]!.reply.id);
    expect(gw.counter.count('llm:generate') - generations).toBe(1);
    expect(await savedMessages(sessionId)).toHaveLength(2);
    expect((await sessionRow(sessionId)).message_count).toBe(2);
  });
});

const STREAM = `subscription ($input: SendMessageInput!) { sendMessageStream(input: $input) {
  __typename
  ... on MessageDelta { delta }
  ... on TurnCompleted { payload { replayed userMessage { id content } reply { id content citations { chunkIndex } }
    session { messageCount } } } } }`;

/** Runs sendMessageStream over SSE (POST) and collects its events until the stream ends. */
function openTurnStream(sessionId: string, content: string, clientMessageId?: string) {
  return gw.app.fetch('http://gateway.test/graphql', {
    method: 'POST',
    headers: {
      accept: 'text/event-stream',
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({
      query: STREAM,
      variables: { input: { sessionId, content, ...(clientMessageId ? { clientMessageId } : {}) } },
    }),
  });
}

async function streamTurn(sessionId: string, content: string, clientMessageId?: string) {
  const res = await openTurnStream(sessionId, content, clientMessageId);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const text = await res.text();
  const events: { event: string; data: any }[] = [];
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n');
    const event = lines
      .find((l) => l.startsWith('event:'))
      ?.slice(6)
      .trim();
    const data = lines
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5))
      .join('\n')
      .trim();
    if (event) events.push({ event, data: data ? JSON.parse(data) : null });
  }
  return events;
}

describe('sendMessageStream over SSE', () => {
  it('sends the reply as deltas, then the saved turn; the deltas make the saved reply', async () => {
    const sessionId = await newSession();
    const events = await streamTurn(sessionId, 'What did Tomas say the sea tells you?');
    expect(events.at(-1)?.event).toBe('complete');
    const next = events.filter((e) => e.event === 'next').map((e) => e.data);
    for (const d of next) expect(d.errors).toBeUndefined();
    const items = next.map((d) => d.data.sendMessageStream);
    const last = items.at(-1);
    expect(last.__typename).toBe('TurnCompleted');
    const deltas = items.slice(0, -1);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.every((d: { __typename: string }) => d.__typename === 'MessageDelta')).toBe(true);
    const streamed = deltas.map((d: { delta: string }) => d.delta).join('');
    const { payload } = last;
    expect(payload.replayed).toBe(false);
    expect(streamed).toBe(payload.reply.content);
    expect(payload.session.messageCount).toBe(2);
    const saved = await savedMessages(sessionId);
    expect(saved.map((m) => [m.id, m.content])).toEqual([
      [payload.userMessage.id, 'What did Tomas say the sea tells you?'],
      [payload.reply.id, streamed],
    ]);
    expect(await gw.redis.exists(`chat:lock:${sessionId}`)).toBe(0);
  });

  it('a client that leaves after the first delta ends its stream; the turn is still saved', async () => {
    const sessionId = await newSession();
    const res = await openTurnStream(sessionId, 'Who keeps the lamp at night?');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('MessageDelta')) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended before a delta: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
    await waitUntil(
      async () => (await savedMessages(sessionId)).length === 2,
      20_000,
      'the turn saved',
    );
    expect((await savedMessages(sessionId)).map((m) => m.role)).toEqual(['user', 'assistant']);
    expect((await sessionRow(sessionId)).message_count).toBe(2);
    await waitUntil(
      async () => (await gw.redis.exists(`chat:lock:${sessionId}`)) === 0,
      10_000,
      'the lock released',
    );
  });

  it('a replay streams just the saved turn; over GET it is refused (it writes)', async () => {
    const sessionId = await newSession();
    const clientMessageId = randomUUID();
    await streamTurn(sessionId, 'Who wrote in the logbook?', clientMessageId);
    const variables = {
      input: { sessionId, content: 'Who wrote in the logbook?', clientMessageId },
    };
    const viaGet = await gw.app.fetch(
      `http://gateway.test/graphql?query=${encodeURIComponent(STREAM)}&variables=${encodeURIComponent(JSON.stringify(variables))}`,
      { headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` } },
    );
    expect(viaGet.status).toBe(405);
    await viaGet.text();
    const payloads = (await streamTurn(sessionId, 'Who wrote in the logbook?', clientMessageId))
      .filter((e) => e.data?.data)
      .map((e) => e.data.data.sendMessageStream);
    expect(payloads).toHaveLength(1);
    expect(payloads[0].payload.replayed).toBe(true);
    expect(await savedMessages(sessionId)).toHaveLength(2);
  });

  it('reports input errors with their codes in the stream, nothing saved', async () => {
    const sessionId = await newSession();
    const events = await streamTurn(sessionId, '   ');
    const errors = events.flatMap((e) => e.data?.errors ?? []);
    expect(errors.map((e: { extensions?: { code?: string } }) => e.extensions?.code)).toEqual([
      'BAD_USER_INPUT',
    ]);
    const other = await streamTurn(randomUUID(), 'Hello');
    expect(other.flatMap((e) => e.data?.errors ?? [])[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await savedMessages(sessionId)).toEqual([]);
  });
});

const SEARCH = `query ($bookId: ID!, $query: String!, $limit: Int) {
  searchBook(bookId: $bookId, query: $query, limit: $limit) {
    chunkIndex text chapter start end score vectorRank keywordRank } }`;

/** The wire shape of a `Passage` is the service's. */
type Passage = SearchPassage;

async function search(query: string, limit?: number) {
  return gw.gql(SEARCH, { bookId, query, ...(limit ? { limit } : {}) }, { token });
}

describe('searchBook', () => {
  it("returns passages with both retrievers' ranks, fused by RRF, then reranked", async () => {
    const query = 'lighthouse lamp storm shutters';
    const res = await search(query, 8);
    expect(res.body.errors).toBeUndefined();
    const passages = res.body.data?.searchBook as Passage[];
    expect(passages.length).toBeGreaterThan(0);
    expect(passages.length).toBeLessThanOrEqual(8);
    expect(passages.some((p) => p.vectorRank !== null && p.keywordRank !== null)).toBe(true);
    for (const p of passages) {
      expect(chunks.get(p.chunkIndex)).toBe(p.text);
      expect(p.end).toBeGreaterThan(p.start);
    }
    const scores = passages.map((p) => p.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    expect(new Set(passages.map((p) => p.chunkIndex)).size).toBe(passages.length);
    // Each retriever contributes its top 20 (RETRIEVAL_CANDIDATES).
    for (const p of passages) {
      expect(p.vectorRank ?? 1).toBeLessThanOrEqual(20);
      expect(p.keywordRank ?? 1).toBeLessThanOrEqual(20);
    }

    // The ranks are the retrievers' own: check them against Qdrant and Typesense directly.
    const keywordHits = await gw.deps.keywords.search(bookId, keywordSearch(query, 20)!, 20);
    const [vector] = await gw.deps.embedder.embed([query]);
    const vectorHits = await gw.deps.vectors.search(bookId, vector!, 20);
    // Typesense dropped words to find 20 passages: the later hits matched only some of them.
    expect(keywordHits.some((h) => h.coverage! < 1)).toBe(true);
    for (const h of keywordHits) expect(h.coverage).toBeGreaterThan(0);
    for (const p of passages) {
      if (p.vectorRank !== null)
        expect(vectorHits[p.vectorRank - 1]?.chunk.chunk_index).toBe(p.chunkIndex);
      else expect(vectorHits.some((h) => h.chunk.chunk_index === p.chunkIndex)).toBe(false);
      if (p.keywordRank !== null)
        expect(keywordHits[p.keywordRank - 1]?.chunk.chunk_index).toBe(p.chunkIndex);
      else expect(keywordHits.some((h) => h.chunk.chunk_index === p.chunkIndex)).toBe(false);
    }
    // RRF, the keyword term weighted by the share of the query's words the hit matched relative
    // to the best hit's; then the rerank of every candidate (vector cosine, soft word match, BM25).
    const best = Math.max(...keywordHits.map((h) => h.coverage!));
    const fused = reciprocalRankFusion(vectorHits, keywordHits, Number.POSITIVE_INFINITY);
    for (const f of fused) {
      const coverage = f.keywordRank ? keywordHits[f.keywordRank - 1]!.coverage! / best : 0;
      const expected =
        (f.vectorRank ? 1 / (60 + f.vectorRank) : 0) +
        (f.keywordRank ? coverage / (60 + f.keywordRank) : 0);
      expect(f.score).toBeCloseTo(expected, 12);
    }
    const reranked = rerankPassages(query, fused, 8, sharedWordNet().related, {
      vectorWeight: gw.deps.config.chat.rerankVectorWeight,
      vectorScores: new Map(vectorHits.map((h) => [h.chunk.chunk_index, h.score])),
      softMatch: softMatcherFor(gw.deps.embedder, gw.deps.config.embeddings.cacheDir)(),
    });
    expect(passages.map((p) => p.chunkIndex)).toEqual(reranked.map((p) => p.chunk.chunk_index));
    passages.forEach((p, i) => {
      expect(p.score).toBeCloseTo(reranked[i]!.score, 12);
    });
  });

  it('keeps RETRIEVAL_KEEP (6) passages by default', async () => {
    const res = await search('the keeper and the lamp');
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.searchBook as Passage[]).toHaveLength(6);
  });

  it('checks its input', async () => {
    expect(codeOf(await search('   '))).toBe('BAD_USER_INPUT');
    expect(codeOf(await search('lamp', 51))).toBe('BAD_USER_INPUT');
    expect(codeOf(await gw.gql(SEARCH, { bookId: randomUUID(), query: 'lamp' }, { token }))).toBe(
      'NOT_FOUND',
    );
    const pending = await gw.seed.book({ status: 'pending' });
    expect(codeOf(await gw.gql(SEARCH, { bookId: pending, query: 'lamp' }, { token }))).toBe(
      'FAILED_PRECONDITION',
    );
  });
});

// Last: these stop the search stand-ins for the rest of the file.
describe('retrievers down', () => {
  it('with Typesense down, search and turns go on with the vectors alone', async () => {
    await gw.typesense.close();
    const res = await search('lighthouse lamp storm shutters', 6);
    expect(res.body.errors).toBeUndefined();
    const passages = res.body.data?.searchBook as Passage[];
    expect(passages.length).toBe(6);
    for (const p of passages) {
      expect(p.keywordRank).toBeNull();
      expect(p.vectorRank).not.toBeNull();
      // The rerank reorders the vectors' candidates (RETRIEVAL_CANDIDATES).
      expect(p.vectorRank).toBeLessThanOrEqual(20);
    }
    const [vector] = await gw.deps.embedder.embed(['lighthouse lamp storm shutters']);
    const vectorHits = await gw.deps.vectors.search(bookId, vector!, 20);
    const expected = rerankPassages(
      'lighthouse lamp storm shutters',
      reciprocalRankFusion(vectorHits, [], Number.POSITIVE_INFINITY),
      6,
      sharedWordNet().related,
      {
        vectorWeight: gw.deps.config.chat.rerankVectorWeight,
        vectorScores: new Map(vectorHits.map((h) => [h.chunk.chunk_index, h.score])),
        softMatch: softMatcherFor(gw.deps.embedder, gw.deps.config.embeddings.cacheDir)(),
      },
    );
    expect(passages.map((p) => p.chunkIndex)).toEqual(expected.map((p) => p.chunk.chunk_index));

    const sessionId = await newSession();
    const turn = turnOf(await send(sessionId, 'Tell me about the lamp room.'));
    expect(turn.reply.citations.length).toBeGreaterThan(0);
    expect(turn.session.messageCount).toBe(2);
  });

  it('with both down: SERVICE_UNAVAILABLE, nothing saved, the lock released', async () => {
    await gw.qdrant.close();
    const res = await search('lighthouse');
    expect(codeOf(res)).toBe('SERVICE_UNAVAILABLE');
    const sessionId = await newSession();
    const turn = await send(sessionId, 'Tell me about the lamp room.');
    expect(codeOf(turn)).toBe('SERVICE_UNAVAILABLE');
    expect(turn.body.errors?.[0]?.extensions?.retryable).toBe(true);
    expect(await savedMessages(sessionId)).toEqual([]);
    expect((await sessionRow(sessionId)).message_count).toBe(0);
    expect(await gw.redis.exists(`chat:lock:${sessionId}`)).toBe(0);
  });
});
