import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type QdrantStandIn, startQdrantStandIn } from '@falsafa/standins';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import { uploadBook, waitForIdleQueue, waitForStatus } from './support/books.js';
import {
  type GqlResult,
  startSecondGateway,
  startTestGateway,
  TEST_QDRANT_KEY,
  type TestGateway,
} from './support/gateway.js';

/**
 * QDRANT_LAYOUT=shared behaves as per-book: the same books (the demo book, the three evaluation
 * books and a book of thirty identical chapters, whose equal vectors tie at the candidates'
 * cut-off) are ingested by a per-book gateway and by a shared-layout gateway, on the same
 * Supabase, Redis and Typesense but each on its own Qdrant; every evaluation question
 * (eval/*questions.json) is asked through `searchBook` and as a chat turn in both, and the ranked
 * passages (chunk index, text, score, each retriever's rank) and the replies with their citations
 * must be the same. A search answered without one of its halves (SEARCH_DEGRADED) fails the test
 * by name rather than being compared. The store timeout is generous: on a loaded machine a slow
 * answer is not what is tested here.
 */
let gw: TestGateway;
let sharedQdrant: QdrantStandIn;
let perBook: Gateway;
let shared: Gateway;
const owner = randomUUID();
let token: string;

const STORE_TIMEOUT_MS = '30000';

type Gateway = Awaited<ReturnType<typeof gateway>>;

/** A gateway on the test gateway's Supabase, Redis and Typesense, with its own settings. */
async function gateway(name: string, env: Record<string, string>, worker: boolean) {
  const g = await startSecondGateway(
    gw,
    { STORE_TIMEOUT_MS, WORKER_CONCURRENCY: worker ? '1' : '0', ...env },
    token,
  );
  return { ...g, name };
}

/** The answer's body, failing with a clear message on an error or a degraded search. */
function answered(res: GqlResult, what: string) {
  expect(res.body.errors, `${what}: errors`).toBeUndefined();
  const warnings = res.body.extensions?.warnings as { unavailable: string[] }[] | undefined;
  if (warnings) {
    const missing = warnings.flatMap((w) => w.unavailable).join(', ');
    expect.fail(`${what}: answered without the ${missing} search (SEARCH_DEGRADED)`);
  }
  return res.body.data!;
}

const SEARCH = `query ($b: ID!, $q: String!) { searchBook(bookId: $b, query: $q) {
  chunkIndex text chapter score vectorRank keywordRank } }`;
const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
  reply { content generatedBy citations { chunkIndex text score } } } }`;

interface Book {
  name: string;
  bytes: Uint8Array;
  questions: string[];
  /** The book's id in each layout. */
  ids: Record<string, string>;
}

const REFRAIN =
  'The bell at the harbour rang three times at dusk, and the fishermen hauled in their nets.';

/** Thirty identical chapters (equal chunks, equal vectors, equal keyword matches), then two more. */
function refrainBook(): string {
  const parts = [
    '# The Bell Book',
    '',
    'A short tale of a harbour bell, told again and again.',
    '',
  ];
  for (let i = 0; i < 30; i++) parts.push('## The Bell', '', REFRAIN, '');
  parts.push(
    '## The Lighthouse',
    '',
    'Mara Venn kept the lighthouse lamp burning through the winter gale. Mara Venn said the',
    'bell was for the living and the lamp for the lost. When the storm came, Mara Venn climbed',
    'the tower with a lantern and a coil of rope.',
    '',
    '## The Net',
    '',
    'The fishermen mended the torn net on the quay while Mara Venn watched from the tower.',
    '',
  );
  return parts.join('\n');
}

const books: Book[] = [];

async function questionsOf(file: string): Promise<string[]> {
  const raw = await readFile(new URL(`../eval/${file}`, import.meta.url), 'utf8');
  return (JSON.parse(raw) as { question: string }[]).map((q) => q.question);
}

async function bytesOf(file: string): Promise<Uint8Array> {
  return new Uint8Array(await readFile(new URL(`../eval/${file}`, import.meta.url)));
}

async function ingest(g: Gateway, book: Book) {
  const { bookId } = await uploadBook(gw, {
    bytes: book.bytes,
    fileName: 'book.md',
    contentType: 'text/markdown',
    owner,
    title: book.name,
  });
  const res = await g.gql('mutation ($id: ID!) { processBook(bookId: $id) { id } }', {
    id: bookId,
  });
  expect(res.body.errors).toBeUndefined();
  expect(await waitForStatus(gw, bookId, ['completed', 'failed'], 120_000)).toBe('completed');
  await waitForIdleQueue(gw, 120_000);
  book.ids[g.name] = bookId;
}

beforeAll(async () => {
  gw = await startTestGateway();
  token = await gw.token(owner);
  sharedQdrant = await startQdrantStandIn({ apiKey: TEST_QDRANT_KEY, host: '127.0.0.1', port: 0 });
  books.push(
    {
      name: 'The Lamp at Salt Hollow',
      bytes: await loadDemoBook(),
      questions: await questionsOf('demo-questions.json'),
      ids: {},
    },
    {
      name: 'The Clockmaker of Brindle Ferry',
      bytes: await bytesOf('book.md'),
      questions: await questionsOf('questions.json'),
      ids: {},
    },
    {
      name: 'The Bees of Hollin Moor',
      bytes: await bytesOf('heldout-book.md'),
      questions: await questionsOf('heldout-questions.json'),
      ids: {},
    },
    {
      name: 'The Bell Book',
      bytes: new TextEncoder().encode(refrainBook()),
      questions: [
        'When did the bell at the harbour ring?',
        'What did the fishermen haul in at dusk?',
        'Who kept the lighthouse lamp burning?',
        'bell harbour',
      ],
      ids: {},
    },
  );
  // The queue is shared: one layout's worker at a time takes the jobs, then the gateways that
  // answer the questions run none.
  const sharedEnv = { QDRANT_URL: sharedQdrant.url, QDRANT_LAYOUT: 'shared' };
  for (const [name, env] of [
    ['per-book', {}],
    ['shared', sharedEnv],
  ] as const) {
    const worker = await gateway(name, env, true);
    try {
      for (const book of books) await ingest(worker, book);
    } finally {
      await worker.close();
    }
  }
  perBook = await gateway('per-book', {}, false);
  shared = await gateway('shared', sharedEnv, false);
}, 600_000);

afterAll(async () => {
  await shared?.close();
  await perBook?.close();
  await sharedQdrant?.close();
  await gw?.close();
});

describe('QDRANT_LAYOUT=shared against per-book', () => {
  it('the shared Qdrant holds one collection with every book; per-book one collection each', async () => {
    const { collections } = await shared.deps.vectors.client.getCollections();
    expect(collections.map((c) => c.name)).toEqual(['book_chunks']);
    const perBookNames = (await perBook.deps.vectors.client.getCollections()).collections.map(
      (c) => c.name,
    );
    expect(perBookNames.sort()).toEqual(books.map((b) => b.ids['per-book']!).sort());
    let total = 0;
    for (const book of books) {
      const n = await perBook.deps.vectors.count(book.ids['per-book']!);
      expect(n, book.name).toBeGreaterThan(0);
      expect(await shared.deps.vectors.count(book.ids.shared!), book.name).toBe(n);
      total += n;
    }
    const info = await shared.deps.vectors.client.getCollection('book_chunks');
    expect(info.points_count).toBe(total);
  });

  for (const [i, name] of [
    'The Lamp at Salt Hollow',
    'The Clockmaker of Brindle Ferry',
    'The Bees of Hollin Moor',
    'The Bell Book',
  ].entries()) {
    it(`${name}: every question finds the same ranked passages with searchBook`, async () => {
      const book = books[i]!;
      expect(book.name).toBe(name);
      expect(book.questions.length).toBeGreaterThan(0);
      for (const q of book.questions) {
        const [expected, got] = await Promise.all(
          [perBook, shared].map(async (g) => {
            const data = answered(
              await g.gql(SEARCH, { b: book.ids[g.name], q }),
              `${g.name} searchBook "${q}"`,
            );
            return data.searchBook as { chunkIndex: number; vectorRank: number | null }[];
          }),
        );
        expect(expected!.length, q).toBeGreaterThan(0);
        expect(got, `searchBook "${q}"`).toEqual(expected);
      }
    }, 300_000);

    it(`${name}: every question as a chat turn gets the same reply and citations`, async () => {
      const book = books[i]!;
      for (const q of book.questions) {
        const [expected, got] = await Promise.all(
          [perBook, shared].map(async (g) => {
            const bookId = book.ids[g.name]!;
            const [character] = await gw.db.sql<{ id: string }[]>`
              select id from characters where book_id = ${bookId} order by name limit 1`;
            expect(character, `${g.name}: ${name} has a character`).toBeDefined();
            const session = answered(
              await g.gql(
                'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
                { input: { characterId: character!.id } },
              ),
              `${g.name} createChatSession`,
            );
            const sessionId = (session.createChatSession as { id: string }).id;
            const data = answered(
              await g.gql(SEND, { input: { sessionId, content: q } }),
              `${g.name} chat turn "${q}"`,
            );
            return (data.sendMessage as { reply: { citations: unknown[] } }).reply;
          }),
        );
        expect(expected!.citations.length, q).toBeGreaterThan(0);
        expect(got, `chat turn "${q}"`).toEqual(expected);
      }
    }, 300_000);
  }
});
