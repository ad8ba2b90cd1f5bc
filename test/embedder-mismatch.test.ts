import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { type Runtime, startRuntime } from '../src/runtime.js';
import { createApp } from '../src/yoga.js';
import { ingestDemoBook, waitForIdleQueue, waitForStatus } from './support/books.js';
import { type GqlResult, startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * A book indexed by one embedder, then served by a gateway configured with another of the same
 * vector size (feature hashing at 100 dimensions, then the word vectors): the vectors must never
 * meet. Searching is a clear FAILED_PRECONDITION, not a list ranked by unrelated vectors, and
 * re-processing fails the run without writing the other embedder's vectors into the collection.
 */
let gw: TestGateway;
const owner = randomUUID();
let bookId: string;
let token: string;

/** A second gateway on the same stores, with its own configuration. */
async function gateway(env: Record<string, string>, worker: boolean) {
  const config = loadConfig({ ...gw.env, ...env, WORKER_CONCURRENCY: worker ? '1' : '0' });
  const runtime: Runtime = await startRuntime(config, createLogger(config.logLevel));
  const app = createApp(runtime.deps);
  const gql = async (query: string, variables: Record<string, unknown>): Promise<GqlResult> => {
    const res = await app.fetch('http://gateway.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: (await res.json()) as GqlResult['body'] };
  };
  return {
    runtime,
    app,
    gql,
    async close() {
      await app.dispose();
      await runtime.close();
    },
  };
}

const SEARCH = 'query ($b: ID!, $q: String!) { searchBook(bookId: $b, query: $q) { text } }';

beforeAll(async () => {
  // The test gateway itself runs no worker; each phase's gateway brings its own.
  gw = await startTestGateway();
  token = await gw.token(owner);
  const hashing = await gateway({ EMBEDDING_PROVIDER: 'local', EMBEDDING_DIMENSION: '100' }, true);
  try {
    bookId = await ingestDemoBook({ ...gw, gql: (q, v) => hashing.gql(q, v ?? {}) }, owner);
    const found = await hashing.gql(SEARCH, { b: bookId, q: 'What happened in the storm?' });
    expect(found.body.errors).toBeUndefined();
  } finally {
    await hashing.close();
  }
}, 90_000);

afterAll(async () => {
  await gw?.close();
});

describe('a book indexed by another embedder of the same size', () => {
  it('is refused by searchBook with FAILED_PRECONDITION, naming no internals', async () => {
    const words = await gateway({ EMBEDDING_PROVIDER: 'words' }, false);
    try {
      const res = await words.gql(SEARCH, { b: bookId, q: 'What happened in the storm?' });
      expect(res.body.data?.searchBook ?? null).toBeNull();
      expect(res.body.errors?.[0]?.extensions).toMatchObject({
        code: 'FAILED_PRECONDITION',
        reason: 'embedder_mismatch',
      });
      expect(res.body.errors?.[0]?.message).not.toMatch(/qdrant|hashing|glove/i);
    } finally {
      await words.close();
    }
  });

  it('fails re-processing and leaves the collection as it was', async () => {
    const before = await gw.deps.vectors.client.retrieve(bookId, { ids: [0], with_vector: true });
    const words = await gateway({ EMBEDDING_PROVIDER: 'words' }, true);
    try {
      const res = await words.gql('mutation ($id: ID!) { processBook(bookId: $id) { id } }', {
        id: bookId,
      });
      expect(res.body.errors).toBeUndefined();
      expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('failed');
      await waitForIdleQueue(gw);
    } finally {
      await words.close();
    }
    const after = await gw.deps.vectors.client.retrieve(bookId, { ids: [0], with_vector: true });
    expect(after[0]?.vector).toEqual(before[0]?.vector);
  });
});
