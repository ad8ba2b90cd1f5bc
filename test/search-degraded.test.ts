import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { type QdrantStandIn, startQdrantStandIn } from '@falsafa/standins';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestDemoBook } from './support/books.js';
import {
  type GqlResult,
  startSecondGateway,
  startTestGateway,
  type TestGateway,
} from './support/gateway.js';

/**
 * A search half that fails or times out is told to the caller: `searchBook` and chat turns still
 * answer from the other half, with `extensions.warnings` [{ code: SEARCH_DEGRADED, unavailable }],
 * and `falsafa_search_degraded_total{retriever}` counts it; with both halves down the answer is
 * SERVICE_UNAVAILABLE. Each case is a gateway on the test gateway's Supabase and Redis (where the
 * demo book was ingested) with one search store replaced: Typesense by a port nobody listens on,
 * Qdrant by a stand-in slower than the store timeout.
 */
let gw: TestGateway;
let slowQdrant: QdrantStandIn;
let deadUrl: string;
const owner = randomUUID();
let token: string;
let bookId: string;

/**
 * The store timeout of the gateways with the slow Qdrant: Typesense must still answer within it on
 * a loaded machine, Qdrant never does. The others wait long (the machine may be busy).
 */
const SHORT_TIMEOUT_MS = 2500;
const GENEROUS_TIMEOUT_MS = 15_000;

async function gateway(env: Record<string, string>) {
  const g = await startSecondGateway(
    gw,
    { STORE_TIMEOUT_MS: String(env.QDRANT_URL ? SHORT_TIMEOUT_MS : GENEROUS_TIMEOUT_MS), ...env },
    token,
  );
  /** sendMessageStream over SSE: the `next` events' payloads. */
  const stream = async (query: string, variables: Record<string, unknown>) => {
    const res = await g.app.fetch('http://gateway.test/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.text())
      .split('\n\n')
      .filter((block) => /^event: ?next$/m.test(block))
      .map((block) =>
        JSON.parse(
          block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5))
            .join('\n'),
        ),
      ) as GqlResult['body'][];
  };
  const degradedCount = async (retriever: string) => {
    const metrics = await (await g.app.fetch('http://gateway.test/metrics')).text();
    const line = metrics
      .split('\n')
      .find((l) => l.startsWith(`falsafa_search_degraded_total{retriever="${retriever}"}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  return { ...g, stream, degradedCount };
}

const SEARCH = `query ($b: ID!, $q: String!) { searchBook(bookId: $b, query: $q) {
  chunkIndex vectorRank keywordRank } }`;
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
  reply { content citations { chunkIndex } } } }`;
const STREAM = `subscription ($input: SendMessageInput!) { sendMessageStream(input: $input) {
  __typename ... on TurnCompleted { payload { reply { citations { chunkIndex } } } } } }`;

type Passage = { chunkIndex: number; vectorRank: number | null; keywordRank: number | null };

const degraded = (missing: 'vector' | 'keyword') => [
  { code: 'SEARCH_DEGRADED', message: expect.any(String), unavailable: [missing] },
];

/** searchBook answers from the other half alone, with the warning naming `missing`. */
async function expectDegradedSearch(
  g: Awaited<ReturnType<typeof gateway>>,
  missing: 'vector' | 'keyword',
) {
  const res = await g.gql(SEARCH, { b: bookId, q: 'the lamp in the storm' });
  expect(res.body.errors).toBeUndefined();
  const passages = res.body.data?.searchBook as Passage[];
  expect(passages.length).toBeGreaterThan(0);
  for (const p of passages) {
    expect(missing === 'vector' ? p.vectorRank : p.keywordRank).toBeNull();
    expect(missing === 'vector' ? p.keywordRank : p.vectorRank).not.toBeNull();
  }
  expect(res.body.extensions?.warnings).toEqual(degraded(missing));
}

async function newSession(g: Awaited<ReturnType<typeof gateway>>) {
  const [character] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  const res = await g.gql(
    'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
    { input: { characterId: character!.id } },
  );
  expect(res.body.errors).toBeUndefined();
  return (res.body.data?.createChatSession as { id: string }).id;
}

/** A loopback URL with nothing listening on it. */
async function unusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
  token = await gw.token(owner);
  bookId = await ingestDemoBook(gw, owner);
  // Every call waits longer than the store timeout: the vector half times out.
  slowQdrant = await startQdrantStandIn({
    latencyMs: SHORT_TIMEOUT_MS * 4,
    host: '127.0.0.1',
    port: 0,
  });
  deadUrl = await unusedUrl();
}, 120_000);

afterAll(async () => {
  await slowQdrant?.close();
  await gw?.close();
});

describe('a search half down', () => {
  it('both up: no warning', async () => {
    const g = await gateway({});
    try {
      const res = await g.gql(SEARCH, { b: bookId, q: 'the lamp in the storm' });
      expect(res.body.errors).toBeUndefined();
      expect(res.body.extensions?.warnings).toBeUndefined();
      expect(await g.degradedCount('vector')).toBe(0);
      expect(await g.degradedCount('keyword')).toBe(0);
    } finally {
      await g.close();
    }
  });

  it('Typesense unreachable: vector passages, a SEARCH_DEGRADED warning naming keyword, counted', async () => {
    const g = await gateway({ TYPESENSE_URL: deadUrl });
    try {
      await expectDegradedSearch(g, 'keyword');
      expect(await g.degradedCount('keyword')).toBe(1);
      expect(await g.degradedCount('vector')).toBe(0);

      // A chat turn answers too, and says so.
      const turn = await g.gql(SEND, {
        input: { sessionId: await newSession(g), content: 'Tell me about the lamp room.' },
      });
      expect(turn.body.errors).toBeUndefined();
      const reply = (turn.body.data?.sendMessage as { reply: { citations: unknown[] } }).reply;
      expect(reply.citations.length).toBeGreaterThan(0);
      expect(turn.body.extensions?.warnings).toEqual(degraded('keyword'));
      expect(await g.degradedCount('keyword')).toBe(2);

      // And so does a streamed one, on the first event after the search.
      const events = await g.stream(STREAM, {
        input: { sessionId: await newSession(g), content: 'Tell me about the lamp room.' },
      });
      expect(events.length).toBeGreaterThan(1);
      const warned = events.filter((e) => e.extensions?.warnings);
      expect(warned).toHaveLength(1);
      expect(events[0]!.extensions?.warnings).toEqual(degraded('keyword'));
      expect(events.at(-1)?.data?.sendMessageStream).toMatchObject({ __typename: 'TurnCompleted' });
    } finally {
      await g.close();
    }
  });

  it('Qdrant slower than the store timeout: keyword passages, a SEARCH_DEGRADED warning naming vector', async () => {
    const g = await gateway({ QDRANT_URL: slowQdrant.url });
    try {
      await expectDegradedSearch(g, 'vector');
      expect(await g.degradedCount('vector')).toBe(1);
    } finally {
      await g.close();
    }
  });

  it('both down: SERVICE_UNAVAILABLE (retryable), no warning', async () => {
    const g = await gateway({ QDRANT_URL: slowQdrant.url, TYPESENSE_URL: deadUrl });
    try {
      const res = await g.gql(SEARCH, { b: bookId, q: 'the lamp in the storm' });
      expect(res.body.errors?.[0]?.extensions).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        retryable: true,
      });
      expect(res.body.extensions?.warnings).toBeUndefined();
      const turn = await g.gql(SEND, {
        input: { sessionId: await newSession(g), content: 'Tell me about the lamp room.' },
      });
      expect(turn.body.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    } finally {
      await g.close();
    }
  });
});
