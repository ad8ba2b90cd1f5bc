import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { signSupabaseJwt } from '@falsafa/standins';
import { createClient } from '@supabase/supabase-js';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ws from 'ws';
import { fromStoreError } from '../src/errors.js';
import { ingestDemoBook } from './support/books.js';
import {
  type GqlResult,
  startTestGateway,
  TEST_JWT_SECRET,
  type TestGateway,
} from './support/gateway.js';

/**
 * Fencing of the chat turn save. A turn whose save is held up (here: by a row lock on its
 * session) while the session lock passes to a newer turn must not write: the newer turn's
 * fencing number makes save_chat_turn refuse the older one in the transaction that would write.
 * The fence state is the backend's own: the API roles can neither read nor write it.
 *
 * The row-lock cases need a real PostgreSQL (TEST_DATABASE_URL): PGlite runs one query at a time,
 * so a save that waits for a row lock would stop every other connection.
 */

const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
  replayed userMessage { id content } reply { id } session { messageCount } } }`;

const realPostgres = Boolean(process.env.TEST_DATABASE_URL);

let gw: TestGateway;
const reader = randomUUID();
let token: string;
let characterId: string;

beforeAll(async () => {
  gw = await startTestGateway({
    worker: true,
    // A save waits for the test's row lock; the store timeout must not end it first.
    env: { STORE_TIMEOUT_MS: '30000' },
  });
  token = await gw.token(reader);
  const bookId = await ingestDemoBook(gw, reader);
  const [row] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  characterId = row!.id;
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

/** A session with one saved turn (so its fencing row exists, as for any session in use). */
async function sessionInUse(): Promise<string> {
  const sessionId = await newSession();
  expect((await send(sessionId, 'Hello, who are you?')).body.errors).toBeUndefined();
  return sessionId;
}

async function newSession(): Promise<string> {
  const res = await gw.gql(
    'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
    { input: { characterId } },
    { token },
  );
  expect(res.body.errors).toBeUndefined();
  return (res.body.data?.createChatSession as { id: string }).id;
}

function send(sessionId: string, content: string, clientMessageId?: string): Promise<GqlResult> {
  return gw.gql(
    SEND,
    { input: { sessionId, content, ...(clientMessageId ? { clientMessageId } : {}) } },
    { token },
  );
}

/** Waits until `n` calls of save_chat_turn are waiting for a lock in this test's database. */
async function savesWaiting(n: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const [row] = await gw.db.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()
        and wait_event_type = 'Lock' and query like '%save_chat_turn%'`;
    if ((row?.n ?? 0) >= n) return;
    if (Date.now() > deadline) throw new Error(`${row?.n ?? 0} saves waiting, wanted ${n}`);
    await sleep(20);
  }
}

/** Holds the session's row with `select ... for update` on its own connection until released. */
async function holdSessionRow(sessionId: string): Promise<{ release(): Promise<void> }> {
  const conn: postgres.ReservedSql = await gw.db.sql.reserve();
  await conn`begin`;
  await conn`select id from chat_sessions where id = ${sessionId} for update`;
  return {
    async release() {
      await conn`commit`;
      conn.release();
    },
  };
}

async function saved(sessionId: string) {
  const messages = await gw.db.sql<{ id: string; role: string; content: string }[]>`
    select id, role, content from messages where session_id = ${sessionId} order by created_at`;
  const [session] = await gw.db.sql<{ message_count: number }[]>`
    select message_count from chat_sessions where id = ${sessionId}`;
  return { messages, messageCount: session!.message_count };
}

describe.runIf(realPostgres)('a turn that lost its lock', () => {
  it('cannot save once a newer turn took the lock: one turn saved, the other LOCK_LOST', async () => {
    const sessionId = await sessionInUse();
    const lock = `chat:lock:${sessionId}`;
    const row = await holdSessionRow(sessionId);
    let first: Promise<GqlResult> | undefined;
    let second: Promise<GqlResult> | undefined;
    try {
      // The first turn passes its lock check and then waits for the session row in its save.
      first = send(sessionId, 'First: who keeps the lamp?');
      await savesWaiting(1);
      // Its lock expires meanwhile (as after a long pause) and the second turn takes it, answers
      // and saves; its save waits for the row too.
      const firstToken = await gw.redis.get(lock);
      expect(firstToken).toMatch(/^[0-9a-f]{32}$/);
      await gw.redis.del(lock);
      second = send(sessionId, 'Second: who keeps the lamp?');
      await savesWaiting(2);
      const secondToken = await gw.redis.get(lock);
      expect(secondToken).toMatch(/^[0-9a-f]{32}$/);
      expect(secondToken).not.toBe(firstToken);
    } finally {
      await row.release();
    }
    const [a, b] = await Promise.all([first!, second!]);

    expect(a.body.data?.sendMessage ?? null).toBeNull();
    expect(a.body.errors?.map((e) => e.extensions?.code)).toEqual(['LOCK_LOST']);
    expect(a.body.errors?.[0]?.extensions?.retryable).toBe(true);
    expect(b.body.errors).toBeUndefined();
    const turn = b.body.data?.sendMessage as {
      userMessage: { id: string; content: string };
      reply: { id: string };
      session: { messageCount: number };
    };
    expect(turn.userMessage.content).toBe('Second: who keeps the lamp?');
    expect(turn.session.messageCount).toBe(4);

    const after = await saved(sessionId);
    expect(after.messages.slice(2).map((m) => [m.id, m.role])).toEqual([
      [turn.userMessage.id, 'user'],
      [turn.reply.id, 'assistant'],
    ]);
    expect(after.messages.map((m) => m.content)).not.toContain('First: who keeps the lamp?');
    expect(after.messageCount).toBe(4);
    expect(after.messages).toHaveLength(4);
    expect(await gw.redis.exists(lock)).toBe(0);
    // The session goes on normally afterwards.
    const next = await send(sessionId, 'Third: and after that?');
    expect(next.body.errors).toBeUndefined();
    expect((await saved(sessionId)).messageCount).toBe(6);
  });

  it('a retry of the same clientMessageId that took the lock over is the one turn saved', async () => {
    const sessionId = await sessionInUse();
    const clientMessageId = randomUUID();
    const content = 'Where is the logbook kept?';
    const row = await holdSessionRow(sessionId);
    let first: Promise<GqlResult> | undefined;
    let retry: Promise<GqlResult> | undefined;
    try {
      first = send(sessionId, content, clientMessageId);
      await savesWaiting(1);
      await gw.redis.del(`chat:lock:${sessionId}`);
      retry = send(sessionId, content, clientMessageId);
      await savesWaiting(2);
    } finally {
      await row.release();
    }
    const [a, b] = await Promise.all([first!, retry!]);
    expect(b.body.errors).toBeUndefined();
    const turn = b.body.data?.sendMessage as { replayed: boolean; userMessage: { id: string } };
    expect(turn.replayed).toBe(false);
    // The stale first attempt either is refused or, if the retry's save went first, replays it.
    if (a.body.errors) {
      expect(a.body.errors.map((e) => e.extensions?.code)).toEqual(['LOCK_LOST']);
    } else {
      const replay = a.body.data?.sendMessage as { replayed: boolean; userMessage: { id: string } };
      expect(replay).toMatchObject({ replayed: true, userMessage: { id: turn.userMessage.id } });
    }
    const after = await saved(sessionId);
    expect(after.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(after.messages[2]!.id).toBe(turn.userMessage.id);
    expect(after.messageCount).toBe(4);
  });
});

describe('the fence state is the backend’s own', () => {
  const asRole = <T>(
    role: 'anon' | 'authenticated',
    fn: (tx: postgres.TransactionSql) => Promise<T>,
  ): Promise<T> =>
    gw.db.sql.begin(async (tx) => {
      await tx`select set_config('request.jwt.claims', ${JSON.stringify(
        role === 'anon' ? { role } : { role, sub: reader },
      )}, true)`;
      await tx.unsafe(`set local role ${role}`);
      return fn(tx);
    }) as Promise<T>;

  async function sqlError(
    role: 'anon' | 'authenticated',
    fn: (tx: postgres.TransactionSql) => Promise<unknown>,
  ): Promise<string> {
    try {
      await asRole(role, fn);
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
    return 'no error';
  }

  it('anon and authenticated (even the session owner) cannot read, write or take fences', async () => {
    const sessionId = await newSession();
    expect((await send(sessionId, 'Hello?')).body.errors).toBeUndefined();
    const [before] = await gw.db.sql<{ fence: string }[]>`
      select fence::text from chat_turn_fences where session_id = ${sessionId}`;
    expect(before?.fence).toBe('1');

    for (const role of ['anon', 'authenticated'] as const) {
      const attempts: Record<string, (tx: postgres.TransactionSql) => Promise<unknown>> = {
        select: (tx) => tx`select * from chat_turn_fences`,
        insert: (tx) =>
          tx`insert into chat_turn_fences (session_id, fence) values (${randomUUID()}, 1)`,
        update: (tx) => tx`update chat_turn_fences set fence = 999 where session_id = ${sessionId}`,
        delete: (tx) => tx`delete from chat_turn_fences where session_id = ${sessionId}`,
        truncate: (tx) => tx`truncate chat_turn_fences`,
        take: (tx) => tx`select take_chat_turn_fence(${sessionId})`,
        save: (tx) =>
          tx`select save_chat_turn(${sessionId}, ${reader}, 999, 'forged', 'forged reply')`,
      };
      for (const [what, fn] of Object.entries(attempts)) {
        expect(await sqlError(role, fn), `${role} ${what}`).toBe('42501');
      }
    }

    // Through PostgREST as the frontend would, with the reader's own token.
    const anonKey = await signSupabaseJwt(TEST_JWT_SECRET, { role: 'anon' });
    const frontend = createClient(gw.standIn.url, anonKey, {
      realtime: { transport: ws as never },
      auth: { persistSession: false, autoRefreshToken: false },
      global: { headers: { Authorization: `Bearer ${token}` } },
    });
    const read = await frontend.from('chat_turn_fences').select('*');
    expect(read.error?.code).toBe('42501');
    const write = await frontend
      .from('chat_turn_fences')
      .update({ fence: 999 })
      .eq('session_id', sessionId);
    expect(write.error?.code).toBe('42501');
    const take = await frontend.rpc('take_chat_turn_fence', { p_session_id: sessionId });
    expect(take.error?.code).toBe('42501');

    const [after] = await gw.db.sql<{ fence: string }[]>`
      select fence::text from chat_turn_fences where session_id = ${sessionId}`;
    expect(after?.fence).toBe('1');
    expect((await saved(sessionId)).messageCount).toBe(2);
  });

  it('save_chat_turn refuses a fence that is not the latest, and writes nothing', async () => {
    const sessionId = await newSession();
    const service = gw.deps.chat.turns;
    const older = (await service.beginTurn(sessionId, null)).fence;
    const newer = (await service.beginTurn(sessionId, null)).fence;
    expect(newer).toBe(older + 1);
    const args = {
      sessionId,
      userId: reader,
      userContent: 'stale?',
      replyContent: 'stale reply',
      citations: [],
      clientMessageId: null,
      previewLength: 160,
    };
    const stale = await service.saveTurn({ ...args, fence: older }).catch(fromStoreError);
    expect((stale as { code?: string }).code).toBe('LOCK_LOST');
    const ahead = await service.saveTurn({ ...args, fence: newer + 1 }).catch(fromStoreError);
    expect((ahead as { code?: string }).code).toBe('LOCK_LOST');
    expect(await saved(sessionId)).toEqual({ messages: [], messageCount: 0 });
    const ok = await service.saveTurn({ ...args, fence: newer });
    expect(ok.session.message_count).toBe(2);
  });
});
