import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ingestDemoBook, waitUntil } from './support/books.js';
import { type GqlResult, startTestGateway, type TestGateway } from './support/gateway.js';
import {
  type ChatRequestBody,
  type ChatStep,
  DEMO_CHARACTER_LIST,
  type OpenAiTestServer,
  startOpenAiServer,
} from './support/openai-server.js';
import { keysOf } from './support/redis.js';

/**
 * The chat turn with the `openai` providers (chat completions and embeddings) driven over HTTP by
 * the OpenAI-compatible test server: the streamed reply, query rewriting as JSON, retries (429
 * with Retry-After), failures (UPSTREAM_ERROR, nothing saved), idempotency counted in model
 * calls, fencing (LOCK_LOST) during a slow reply, and a streaming client that goes away.
 */

const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
  replayed
  userMessage { id content clientMessageId }
  reply { id content citations { chunkIndex text } }
  session { id messageCount preview } } }`;

const STREAM = `subscription ($input: SendMessageInput!) { sendMessageStream(input: $input) {
  __typename
  ... on MessageDelta { delta }
  ... on TurnCompleted { payload { replayed userMessage { id } reply { id content } session { messageCount } } } } }`;

interface TurnPayload {
  replayed: boolean;
  userMessage: { id: string; content: string; clientMessageId: string | null };
  reply: { id: string; content: string; citations: { chunkIndex: number; text: string }[] };
  session: { id: string; messageCount: number; preview: string | null };
}

let gw: TestGateway;
let server: OpenAiTestServer;
const reader = randomUUID();
let token: string;
let bookId: string;
let mira: string;

/** What the model answers, by kind of request; each test sets the parts it is about. */
const script: {
  /** Steps for streamed requests (the reply), used in order; then `reply`. */
  generation: ChatStep[];
  reply: string;
  /** Steps for the query rewrite requests, used in order; then a valid rewrite. */
  rewrite: ChatStep[];
} = { generation: [], reply: '', rewrite: [] };

function responder(body: ChatRequestBody): ChatStep {
  const system = body.messages?.[0]?.content ?? '';
  if (body.stream) return script.generation.shift() ?? { reply: script.reply };
  if (/list their characters/.test(system)) return DEMO_CHARACTER_LIST;
  if (/search queries/.test(system)) {
    return (
      script.rewrite.shift() ?? {
        json: { narrative: 'the keeper and the lamp in the storm', keyword: 'lamp storm keeper' },
      }
    );
  }
  return { reply: 'A short summary.' };
}

beforeAll(async () => {
  server = await startOpenAiServer({ dimension: 16 });
  server.chatResponder = responder;
  gw = await startTestGateway({
    worker: true,
    env: {
      LLM_PROVIDER: 'openai',
      LLM_BASE_URL: server.url,
      LLM_MODEL: 'test-chat-model',
      LLM_API_KEY: 'sk-test-chat',
      LLM_TIMEOUT_MS: '5000',
      EMBEDDING_PROVIDER: 'openai',
      EMBEDDING_BASE_URL: server.url,
      EMBEDDING_MODEL: 'test-embedding-model',
      EMBEDDING_DIMENSION: '16',
      SESSION_LOCK_WAIT_MS: '500',
    },
  });
  token = await gw.token(reader);
  bookId = await ingestDemoBook(gw, reader);
  const [row] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} and name = 'Mira'`;
  mira = row!.id;
}, 60_000);
afterAll(async () => {
  await gw?.close();
  await server?.close();
});
beforeEach(() => {
  server.reset();
  server.chatResponder = responder;
  script.generation = [];
  script.rewrite = [];
  script.reply = 'The lamp burns all night, and I keep it burning.';
});

async function newSession(): Promise<string> {
  const res = await gw.gql(
    'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
    { input: { characterId: mira } },
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

function turnOf(res: GqlResult): TurnPayload {
  expect(res.body.errors).toBeUndefined();
  return res.body.data?.sendMessage as TurnPayload;
}

const codeOf = (res: GqlResult) => res.body.errors?.[0]?.extensions?.code;

const generationRequests = () =>
  server.requestsTo('chat').filter((r) => (r.body as ChatRequestBody).stream === true);
const rewriteRequests = () =>
  server
    .requestsTo('chat')
    .filter((r) => (r.body as ChatRequestBody).response_format?.type === 'json_object');

async function savedMessages(sessionId: string) {
  return gw.db.sql<{ id: string; role: string; content: string }[]>`
    select id, role, content from messages where session_id = ${sessionId} order by created_at`;
}

async function messageCount(sessionId: string) {
  const [row] = await gw.db.sql<{ message_count: number }[]>`
    select message_count from chat_sessions where id = ${sessionId}`;
  return row!.message_count;
}

async function openStream(sessionId: string, content: string) {
  const res = await gw.app.fetch('http://gateway.test/graphql', {
    method: 'POST',
    headers: {
      accept: 'text/event-stream',
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query: STREAM, variables: { input: { sessionId, content } } }),
  });
  expect(res.status).toBe(200);
  return res.body!.getReader();
}

/** Reads SSE `next` payloads from `reader` until `stop` says so or the stream ends. */
async function readEvents(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  stop: (events: any[]) => boolean = () => false,
): Promise<any[]> {
  const decoder = new TextDecoder();
  const events: any[] = [];
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return events;
    buffer += decoder.decode(value, { stream: true });
    for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      if (!/^event: next/m.test(block)) continue;
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5))
        .join('\n');
      events.push(JSON.parse(data));
    }
    if (stop(events)) return events;
  }
}

describe('a turn through the openai providers', () => {
  it('streams the reply over HTTP from the model, with the passages and the rewrite in the prompt', async () => {
    const sessionId = await newSession();
    const tokens = ['The lamp ', 'burns all night', ', and I ', 'keep it ', 'burning.'];
    script.generation = [{ reply: tokens.join(''), tokens, splitWrites: true }];
    script.rewrite = [
      { json: { narrative: 'how the lamp is kept lit', keyword: 'lamp wick oil' } },
    ];
    const reader = await openStream(sessionId, 'How do you keep the lamp lit?');
    const events = await readEvents(reader);
    for (const e of events) expect(e.errors).toBeUndefined();
    const items = events.map((e) => e.data.sendMessageStream);
    const deltas = items.filter((i) => i.__typename === 'MessageDelta').map((i) => i.delta);
    expect(deltas.join('')).toBe(tokens.join(''));
    const done = items.at(-1);
    expect(done.__typename).toBe('TurnCompleted');
    expect(done.payload.reply.content).toBe(tokens.join(''));
    expect(done.payload.session.messageCount).toBe(2);

    // One rewrite (JSON mode, not streamed) and one generation (streamed), both over HTTP.
    expect(rewriteRequests()).toHaveLength(1);
    const [generation] = generationRequests();
    expect(generationRequests()).toHaveLength(1);
    const body = generation!.body as ChatRequestBody;
    expect(body.model).toBe('test-chat-model');
    expect(generation!.headers.authorization).toBe('Bearer sk-test-chat');
    const system = body.messages![0]!;
    expect(system.role).toBe('system');
    expect(system.content).toMatch(/Mira/);
    expect(system.content).toMatch(/\[chunk \d+/);
    expect(body.messages!.at(-1)).toEqual({
      role: 'user',
      content: 'How do you keep the lamp lit?',
    });
    // The narrative query was embedded through the embeddings endpoint, and the rewrite cached.
    const embedded = server
      .requestsTo('embeddings')
      .flatMap((r) => (r.body as { input: string[] | string }).input);
    expect(embedded).toContain('how the lamp is kept lit');
    const [qr] = await keysOf(gw.redis, `chat:qr:${mira}:*`);
    expect(JSON.parse((await gw.redis.get(qr!))!)).toEqual({
      narrative: 'how the lamp is kept lit',
      keyword: 'lamp wick oil',
    });
    const saved = await savedMessages(sessionId);
    expect(saved.map((m) => m.content)).toEqual(['How do you keep the lamp lit?', tokens.join('')]);
  });

  it('the deltas are exactly the saved reply, even when the model pads it with whitespace', async () => {
    const sessionId = await newSession();
    const tokens = ['\n\n', '  The sea', ' tells you', ' first.', '\n', '  '];
    script.generation = [{ reply: tokens.join(''), tokens }];
    const events = await readEvents(await openStream(sessionId, 'What does the sea do?'));
    const items = events.map((e) => e.data.sendMessageStream);
    const streamed = items
      .filter((i) => i.__typename === 'MessageDelta')
      .map((i) => i.delta)
      .join('');
    const saved = await savedMessages(sessionId);
    expect(saved[1]!.content).toBe('The sea tells you first.');
    expect(streamed).toBe(saved[1]!.content);
    expect(items.at(-1).payload.reply.content).toBe(streamed);
  });

  it("says in the reply's metadata that a language model wrote it", async () => {
    const sessionId = await newSession();
    script.reply = 'The lamp must burn all night.';
    const res = await gw.gql(
      `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
        userMessage { generatedBy } reply { content generatedBy } } }`,
      { input: { sessionId, content: 'What must the lamp do?' } },
      { token },
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.sendMessage).toEqual({
      userMessage: { generatedBy: null },
      reply: { content: 'The lamp must burn all night.', generatedBy: 'LANGUAGE_MODEL' },
    });
  });

  it('an unusable rewrite falls back to the deterministic one; the turn goes on', async () => {
    const sessionId = await newSession();
    script.rewrite = [{ reply: 'Sure! Here are your queries: lamp, storm' }];
    const turn = turnOf(await send(sessionId, 'Tell me about the storm shutters.'));
    expect(turn.reply.content).toBe(script.reply);
    expect(rewriteRequests()).toHaveLength(1);
    const [qr] = await keysOf(gw.redis, `chat:qr:${mira}:*`)
      .then((keys) => Promise.all(keys.map(async (k) => JSON.parse((await gw.redis.get(k))!))))
      .then((values) => values.filter((v) => /storm shutters/i.test(v.narrative)));
    expect(qr).toBeDefined();
    expect(qr.keyword).toMatch(/storm/);
  });

  it('a 429 with Retry-After is waited out and retried; the turn succeeds', async () => {
    const sessionId = await newSession();
    script.generation = [{ status: 429, retryAfter: 1, message: 'slow down' }];
    const started = Date.now();
    const turn = turnOf(await send(sessionId, 'Who is the stranger?'));
    expect(turn.reply.content).toBe(script.reply);
    const attempts = generationRequests();
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(await savedMessages(sessionId)).toHaveLength(2);
  });

  it('a 500 then success is retried without the caller noticing', async () => {
    const sessionId = await newSession();
    script.generation = [{ status: 500 }, { status: 503 }];
    const turn = turnOf(await send(sessionId, 'Where does the oil come from?'));
    expect(turn.reply.content).toBe(script.reply);
    expect(generationRequests()).toHaveLength(3);
  });

  it('embeddings down: the turn goes on with the keyword retriever alone', async () => {
    const sessionId = await newSession();
    server.enqueueEmbeddings({ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 });
    const turn = turnOf(await send(sessionId, 'Tell me about the lamp and the storm.'));
    expect(turn.reply.citations.length).toBeGreaterThan(0);
    expect(server.requestsTo('embeddings').length).toBeGreaterThanOrEqual(2);
  });
});

describe('model failure', () => {
  it('a model that keeps failing: UPSTREAM_ERROR, nothing saved, the lock released', async () => {
    const sessionId = await newSession();
    script.generation = [{ status: 500 }, { status: 500 }, { status: 500 }];
    const res = await send(sessionId, 'Are you there?');
    expect(codeOf(res)).toBe('UPSTREAM_ERROR');
    expect(res.body.errors?.[0]?.extensions?.retryable).toBe(true);
    expect(res.body.errors?.[0]?.message).not.toMatch(/500|scripted/);
    expect(generationRequests()).toHaveLength(3);
    expect(await savedMessages(sessionId)).toEqual([]);
    expect(await messageCount(sessionId)).toBe(0);
    expect(await gw.redis.exists(`chat:lock:${sessionId}`)).toBe(0);
    // The next turn goes through at once (no SESSION_BUSY wait).
    const turn = turnOf(await send(sessionId, 'Are you there?'));
    expect(turn.session.messageCount).toBe(2);
  });

  it('an empty (or blank) reply is a failure too: UPSTREAM_ERROR, nothing saved', async () => {
    const sessionId = await newSession();
    script.generation = [{ reply: '', tokens: [] }];
    expect(codeOf(await send(sessionId, 'Say something.'))).toBe('UPSTREAM_ERROR');
    script.generation = [{ reply: ' \n ', tokens: [' ', '\n', ' '] }];
    expect(codeOf(await send(sessionId, 'Say something.'))).toBe('UPSTREAM_ERROR');
    expect(await savedMessages(sessionId)).toEqual([]);
    expect(await messageCount(sessionId)).toBe(0);
  });

  it('a stream that breaks after its first tokens: UPSTREAM_ERROR, nothing saved', async () => {
    const sessionId = await newSession();
    script.generation = [{ reply: 'one two three four five six', dropAfterTokens: 2 }];
    const res = await send(sessionId, 'Tell me a long story.');
    expect(codeOf(res)).toBe('UPSTREAM_ERROR');
    // Never retried once text has reached the caller.
    expect(generationRequests()).toHaveLength(1);
    expect(await savedMessages(sessionId)).toEqual([]);
    expect(await gw.redis.exists(`chat:lock:${sessionId}`)).toBe(0);
  });
});

describe('idempotency', () => {
  it('the same clientMessageId twice: one saved turn, replayed, and one model call', async () => {
    const sessionId = await newSession();
    const clientMessageId = randomUUID();
    const first = turnOf(await send(sessionId, 'What is in the store room?', clientMessageId));
    expect(generationRequests()).toHaveLength(1);
    const chatCallsAfterFirst = server.requestsTo('chat').length;
    const second = turnOf(await send(sessionId, 'What is in the store room?', clientMessageId));
    expect(first.replayed).toBe(false);
    expect(second.replayed).toBe(true);
    expect(second.reply.id).toBe(first.reply.id);
    expect(second.userMessage.clientMessageId).toBe(clientMessageId);
    // The replay called no model at all: no generation, no rewrite.
    expect(generationRequests()).toHaveLength(1);
    expect(server.requestsTo('chat')).toHaveLength(chatCallsAfterFirst);
    expect(await savedMessages(sessionId)).toHaveLength(2);
    expect(await messageCount(sessionId)).toBe(2);
  });
});

describe('idempotency with a cold context', () => {
  it('a replay after the context cache expired calls no model (not even for a summary)', async () => {
    const sessionId = await newSession();
    await gw.seed.messages(sessionId, 14); // more than the 10 kept: a rebuild summarises
    const clientMessageId = randomUUID();
    await gw.redis.del(`chat:sess:${sessionId}`);
    const first = turnOf(await send(sessionId, 'Do you remember what I said?', clientMessageId));
    expect(first.session.messageCount).toBe(16);
    const summaries = server
      .requestsTo('chat')
      .filter((r) => /Summarise/.test((r.body as ChatRequestBody).messages?.[0]?.content ?? ''));
    expect(summaries).toHaveLength(1);
    const ctx = JSON.parse((await gw.redis.get(`chat:sess:${sessionId}`))!);
    expect(ctx.summary).toMatch(/^A short summary\./);
    expect(ctx.messages).toHaveLength(10);

    await gw.redis.del(`chat:sess:${sessionId}`);
    const before = server.requestsTo('chat').length;
    const again = turnOf(await send(sessionId, 'Do you remember what I said?', clientMessageId));
    expect(again.replayed).toBe(true);
    expect(again.reply.id).toBe(first.reply.id);
    expect(server.requestsTo('chat')).toHaveLength(before);
    expect(await messageCount(sessionId)).toBe(16);
  });
});

describe('fencing', () => {
  it('a lock overwritten during a slow reply: LOCK_LOST, nothing saved, the other holder kept', async () => {
    const sessionId = await newSession();
    script.generation = [{ reply: 'A slow answer.', delayMs: 800 }];
    const pending = send(sessionId, 'Take your time.');
    await waitUntil(async () => generationRequests().length === 1, 5000, 'the generation request');
    // While the turn runs, the lock is ours: a random hex token with the data layout's 30 s TTL.
    expect(await gw.redis.get(`chat:lock:${sessionId}`)).toMatch(/^[0-9a-f]{32}$/);
    const pttl = await gw.redis.pttl(`chat:lock:${sessionId}`);
    expect(pttl).toBeGreaterThan(28_000);
    expect(pttl).toBeLessThanOrEqual(30_000);
    await gw.redis.set(`chat:lock:${sessionId}`, 'another-instance-token', 'PX', 30_000);
    const res = await pending;
    expect(codeOf(res)).toBe('LOCK_LOST');
    expect(await savedMessages(sessionId)).toEqual([]);
    expect(await messageCount(sessionId)).toBe(0);
    expect(await gw.redis.get(`chat:lock:${sessionId}`)).toBe('another-instance-token');
    await gw.redis.del(`chat:lock:${sessionId}`);
  });
});

describe('a streaming client that goes away', () => {
  it('still gets its turn saved, whole', async () => {
    const sessionId = await newSession();
    const tokens = Array.from({ length: 20 }, (_, i) => `word${i} `);
    script.generation = [{ reply: tokens.join(''), tokens, tokenDelayMs: 40 }];
    const reader = await openStream(sessionId, 'Tell me everything.');
    const seen = await readEvents(reader, (events) =>
      events.some((e) => e.data?.sendMessageStream?.__typename === 'MessageDelta'),
    );
    expect(seen.length).toBeGreaterThan(0);
    await reader.cancel();
    // The model is still talking; the turn completes and is saved anyway.
    await waitUntil(async () => (await savedMessages(sessionId)).length === 2, 10_000, 'the turn');
    const saved = await savedMessages(sessionId);
    expect(saved[1]!.content).toBe(tokens.join('').trim());
    expect(await messageCount(sessionId)).toBe(2);
    await waitUntil(
      async () => (await gw.redis.exists(`chat:lock:${sessionId}`)) === 0,
      5000,
      'the lock release',
    );
    await sleep(10);
  });
});
