import { randomUUID } from 'node:crypto';
import { type QdrantStandIn, startQdrantStandIn } from '@falsafa/standins';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { type Runtime, startRuntime } from '../src/runtime.js';
import { sharedPointId } from '../src/stores/vector-store.js';
import { createApp } from '../src/yoga.js';
import { ingestDemoBook, uploadBook, waitForIdleQueue, waitForStatus } from './support/books.js';
import {
  type GqlResult,
  startTestGateway,
  TEST_QDRANT_KEY,
  type TestGateway,
} from './support/gateway.js';

/**
 * QDRANT_LAYOUT=shared against QDRANT_LAYOUT=per-book on the same Supabase, Redis and Typesense:
 * the per-book gateway (the test gateway, on its own Qdrant) holds the demo book in its own
 * collection; the shared gateway (on a second Qdrant) holds the demo book again and another book
 * in one collection. Searches and chat turns must find the same passages in both, and no call for
 * one book may reach the other's points.
 */
let gw: TestGateway;
let sharedQdrant: QdrantStandIn;
let shared: Awaited<ReturnType<typeof gateway>>;
const owner = randomUUID();
let token: string;
/** The test gateway (per-book layout) as the reader. */
const perBook = { gql: (q: string, v: Record<string, unknown> = {}) => gw.gql(q, v, { token }) };
let perBookDemo: string;
let sharedDemo: string;
let other: string;

const OTHER_TEXT = [
  '# The Zeppelin Ledger',
  '',
  'Quartermaster Oksana Veld counted the zeppelin ballast twice before the ascent over Karsk.',
  'The ledger of the airship Meridian listed forty crates of saffron, nine of brass fittings and',
  'one sealed crate the quartermaster could not account for.',
  '',
  'At dawn the navigator Ilsabet Crane found the sealed crate open and the saffron gone. Oksana',
  'suspected the stoker, a quiet man named Dorn, who had asked twice about the Karsk moorings.',
  '',
  'Over the glacier the Meridian lost an engine. Oksana ordered the brass fittings thrown',
  'overboard, and Ilsabet plotted a course for the old mooring mast at Tessel Ridge.',
  '',
  'Dorn worked the furnace through the night without a word. When the gas cells began to sag he',
  'climbed the rigging himself and patched the torn fabric with sailcloth from his own hammock.',
  'Oksana watched him from the gondola and wondered whether a thief would risk his neck like that.',
  '',
  '## The Mooring at Tessel Ridge',
  '',
  'The mast at Tessel Ridge had not seen an airship in eleven years. Its winch was rusted and its',
  'keeper, an old woman called Marit Holl, had long since stopped lighting the signal brazier.',
  'She lit it that evening when she saw the crippled Meridian drifting low over the scree.',
  '',
  'Ilsabet brought the ship in on one engine. The mooring line snapped once and held the second',
  'time, and the crew spilled out onto the frozen ridge cheering. Marit served them barley soup in',
  'the keeper hut and asked no questions about the cargo.',
  '',
  'In the morning the missing saffron turned up under the keel boards, where the ballast had',
  'shifted it during the storm. Oksana struck the loss from the ledger and apologised to Dorn,',
  'who only shrugged and asked whether the soup pot had any barley left for the engine crew.',
  '',
  'The Meridian stayed a week at Tessel Ridge while the engine was rebuilt from salvaged parts.',
  'Ilsabet charted the winds over the glacier, Dorn taught the keeper to grease the winch, and',
  'Oksana wrote a new ledger in which every crate had a number and every number had a crate.',
].join('\n');

/** A gateway on the same stores as the test gateway, with its own configuration. */
async function gateway(env: Record<string, string>, worker: boolean) {
  const config = loadConfig({ ...gw.env, ...env, WORKER_CONCURRENCY: worker ? '1' : '0' });
  const runtime: Runtime = await startRuntime(config, createLogger(config.logLevel));
  const app = createApp(runtime.deps);
  const gql = async (
    query: string,
    variables: Record<string, unknown> = {},
  ): Promise<GqlResult> => {
    const res = await app.fetch('http://gateway.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: (await res.json()) as GqlResult['body'] };
  };
  return {
    runtime,
    deps: runtime.deps,
    gql,
    async close() {
      await app.dispose();
      await runtime.close();
    },
  };
}

const SEARCH =
  'query ($b: ID!, $q: String!) { searchBook(bookId: $b, query: $q) { chunkIndex text } }';
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
  reply { content citations { chunkIndex text } } } }`;

async function search(g: { gql: typeof shared.gql }, bookId: string, q: string) {
  const res = await g.gql(SEARCH, { b: bookId, q });
  expect(res.body.errors).toBeUndefined();
  return res.body.data?.searchBook as { chunkIndex: number; text: string }[];
}

async function process(g: { gql: typeof shared.gql }, bookId: string) {
  const res = await g.gql('mutation ($id: ID!) { processBook(bookId: $id) { id } }', {
    id: bookId,
  });
  expect(res.body.errors).toBeUndefined();
  expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');
  await waitForIdleQueue(gw);
}

beforeAll(async () => {
  gw = await startTestGateway();
  token = await gw.token(owner);
  sharedQdrant = await startQdrantStandIn({ apiKey: TEST_QDRANT_KEY, host: '127.0.0.1', port: 0 });
  // One worker at a time: each phase's gateway brings its own.
  const perBookWorker = await gateway({}, true);
  try {
    perBookDemo = await ingestDemoBook({ ...gw, gql: (q, v) => perBookWorker.gql(q, v) }, owner);
  } finally {
    await perBookWorker.close();
  }
  shared = await gateway({ QDRANT_URL: sharedQdrant.url, QDRANT_LAYOUT: 'shared' }, true);
  sharedDemo = await ingestDemoBook({ ...gw, gql: (q, v) => shared.gql(q, v) }, owner);
  ({ bookId: other } = await uploadBook(gw, {
    bytes: new TextEncoder().encode(OTHER_TEXT),
    fileName: 'ledger.md',
    contentType: 'text/markdown',
    owner,
    title: 'The Zeppelin Ledger',
  }));
  await process(shared, other);
}, 120_000);

afterAll(async () => {
  await shared?.close();
  await sharedQdrant?.close();
  await gw?.close();
});

describe('QDRANT_LAYOUT=shared', () => {
  it('keeps every book in one collection, tenant-indexed on book_id, point ids from book and chunk', async () => {
    const { collections } = await shared.deps.vectors.client.getCollections();
    expect(collections.map((c) => c.name)).toEqual(['book_chunks']);
    const perBookCollections = await gw.deps.vectors.client.getCollections();
    expect(perBookCollections.collections.map((c) => c.name)).toEqual([perBookDemo]);

    const demoChunks = await gw.deps.vectors.count(perBookDemo);
    expect(demoChunks).toBeGreaterThan(1);
    expect(await shared.deps.vectors.count(sharedDemo)).toBe(demoChunks);
    const otherChunks = await shared.deps.vectors.count(other);
    expect(otherChunks).toBeGreaterThan(0);
    const info = await shared.deps.vectors.client.getCollection('book_chunks');
    expect(info.points_count).toBe(demoChunks + otherChunks);
    expect(info.payload_schema.book_id).toMatchObject({
      data_type: 'keyword',
      params: { type: 'keyword', is_tenant: true },
    });
    expect(info.config.metadata).toEqual({ embedder: gw.deps.embedder.name });

    const [point] = await shared.deps.vectors.client.retrieve('book_chunks', {
      ids: [sharedPointId(other, 0)],
      with_payload: true,
    });
    expect(point?.payload).toMatchObject({ book_id: other, chunk_index: 0 });
    expect(sharedPointId(other, 0)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab]/);
    expect(sharedPointId(other, 0)).not.toBe(sharedPointId(sharedDemo, 0));
  });

  it('searchBook finds the same passages as the per-book layout', async () => {
    for (const q of [
      'What happened in the storm?',
      'Who keeps the lamp?',
      'the keeper and the ship',
      'Why did she climb the tower at night?',
    ]) {
      const expected = await search(perBook, perBookDemo, q);
      expect(expected.length, q).toBeGreaterThan(0);
      expect(await search(shared, sharedDemo, q), q).toEqual(expected);
    }
  });

  it('a chat turn replies with the same passages as the per-book layout', async () => {
    const replies: unknown[] = [];
    for (const [g, bookId] of [
      [perBook, perBookDemo],
      [shared, sharedDemo],
    ] as const) {
      const [character] = await gw.db.sql<{ id: string; name: string }[]>`
        select id, name from characters where book_id = ${bookId} order by name limit 1`;
      const session = await g.gql(
        'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
        { input: { characterId: character!.id } },
      );
      expect(session.body.errors).toBeUndefined();
      const sessionId = (session.body.data?.createChatSession as { id: string }).id;
      const res = await g.gql(SEND, {
        input: { sessionId, content: 'Tell me what you saw the night of the storm.' },
      });
      expect(res.body.errors).toBeUndefined();
      replies.push((res.body.data?.sendMessage as { reply: unknown }).reply);
    }
    const citations = (replies[0] as { citations: unknown[] }).citations;
    expect(citations.length).toBeGreaterThan(0);
    expect(replies[1]).toEqual(replies[0]);
  });

  it("no search of one book returns another book's chunk, even with that chunk's own vector or text", async () => {
    const page = await shared.deps.vectors.client.scroll('book_chunks', {
      filter: { must: [{ key: 'book_id', match: { value: other } }] },
      with_vector: true,
      with_payload: true,
      limit: 1000,
    });
    expect(page.points.length).toBeGreaterThan(0);
    const demoChunks = await shared.deps.vectors.count(sharedDemo);
    for (const p of page.points) {
      // The other book's point is the nearest of all to its own vector.
      const hits = await shared.deps.vectors.search(sharedDemo, p.vector as number[], 1000);
      expect(hits.length).toBe(demoChunks);
      expect(new Set(hits.map((h) => h.chunk.book_id))).toEqual(new Set([sharedDemo]));
      // And the GraphQL search with the other book's exact text.
      const text = (p.payload as { text: string }).text;
      for (const hit of await search(shared, sharedDemo, text)) {
        expect(hit.text).not.toMatch(/zeppelin|Oksana|Meridian/i);
      }
    }
    expect(
      await shared.deps.vectors.search(randomUUID(), page.points[0]!.vector as number[], 10),
    ).toEqual([]);
  });

  it('a collection made by another embedder is refused as embedder_mismatch', async () => {
    const hashing100 = await gateway(
      {
        QDRANT_URL: sharedQdrant.url,
        QDRANT_LAYOUT: 'shared',
        EMBEDDING_PROVIDER: 'local',
        EMBEDDING_DIMENSION: '100',
      },
      false,
    );
    try {
      const res = await hashing100.gql(SEARCH, { b: sharedDemo, q: 'the storm' });
      expect(res.body.errors?.[0]?.extensions).toMatchObject({
        code: 'FAILED_PRECONDITION',
        reason: 'embedder_mismatch',
      });
    } finally {
      await hashing100.close();
    }
  });

  it("stale chunk removal and book deletion touch that book's points alone", async () => {
    const demoChunks = await shared.deps.vectors.count(sharedDemo);
    const otherChunks = await shared.deps.vectors.count(other);
    expect(otherChunks).toBeGreaterThan(1);
    await shared.deps.vectors.deleteFrom(other, 1);
    expect(await shared.deps.vectors.count(other)).toBe(1);
    expect(await shared.deps.vectors.count(sharedDemo)).toBe(demoChunks);
    await shared.deps.vectors.deleteBook(other);
    expect(await shared.deps.vectors.count(other)).toBe(0);
    expect(await shared.deps.vectors.count(sharedDemo)).toBe(demoChunks);
    const { collections } = await shared.deps.vectors.client.getCollections();
    expect(collections.map((c) => c.name)).toEqual(['book_chunks']);
  });
});
