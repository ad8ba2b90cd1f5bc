import { startTypesenseStandIn, type TypesenseStandIn } from '@falsafa/standins';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keywordSearch } from '../src/chat/keyword-query.js';
import type { ChunkPayload } from '../src/stores/chunks.js';
import { StoreUnavailable } from '../src/stores/errors.js';
import { KeywordStore } from '../src/stores/keyword-store.js';
import { StoreCallCounter } from '../src/stores/metrics.js';

/**
 * Several Typesense nodes (TYPESENSE_NODES, TYPESENSE_NEAREST_NODE): two stand-ins over HTTP hold
 * the same book, as the nodes of one cluster would; with one of them stopped, searches through a
 * store given both nodes are still answered, by the other.
 */
const KEY = 'typesense-nodes-test-key';
const BOOK = 'b0000000-0000-4000-8000-000000000001';
const chunks: ChunkPayload[] = [
  'The keeper trimmed the lamp before the storm.',
  'Ships passed the hollow safely in the night.',
  'The bell answered the beam across the water.',
].map((text, i) => ({ book_id: BOOK, chunk_index: i, text, chapter: null, start: i, end: i + 1 }));

let stopped: TypesenseStandIn;
let alive: TypesenseStandIn;
const store = (o: { nodes: string[]; nearestNode?: string }) =>
  new KeywordStore(
    { url: o.nodes[0]!, ...o, apiKey: KEY, timeoutMs: 2000 },
    new StoreCallCounter(),
  );
const query = keywordSearch('the storm and the keeper', 10)!;

beforeAll(async () => {
  stopped = await startTypesenseStandIn({ apiKey: KEY, host: '127.0.0.1', port: 0 });
  alive = await startTypesenseStandIn({ apiKey: KEY, host: '127.0.0.1', port: 0 });
  for (const node of [stopped, alive]) {
    const one = store({ nodes: [node.url] });
    await one.ensureCollection(BOOK);
    await one.upsert(BOOK, chunks);
  }
  await stopped.close();
});
afterAll(async () => {
  await alive?.close();
});

describe('Typesense with several nodes', () => {
  it('answers from the next node when the first is down', async () => {
    const before = alive.requests.count;
    const s = store({ nodes: [stopped.url, alive.url] });
    // The client takes the nodes in turn: several calls meet the stopped one.
    for (let i = 0; i < 4; i++) {
      const hits = await s.search(BOOK, query, 10);
      expect(hits[0]?.chunk).toMatchObject({ book_id: BOOK, chunk_index: 0 });
    }
    expect(alive.requests.count).toBeGreaterThanOrEqual(before + 4);
  });

  it('answers from the nodes when the nearest node is down', async () => {
    const s = store({ nodes: [alive.url], nearestNode: stopped.url });
    expect((await s.search(BOOK, query, 10))[0]?.chunk.chunk_index).toBe(0);
    expect(await s.count(BOOK)).toBe(3);
  });

  it('fails as unavailable when no node answers', async () => {
    await expect(
      store({ nodes: [stopped.url], nearestNode: stopped.url }).search(BOOK, query, 10),
    ).rejects.toBeInstanceOf(StoreUnavailable);
  });
});
