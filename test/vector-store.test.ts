import { type QdrantStandIn, startQdrantStandIn } from '@falsafa/standins';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { StoreCallCounter } from '../src/stores/metrics.js';
import { VectorStore } from '../src/stores/vector-store.js';

/**
 * The Qdrant API key over plain HTTP: sent, silently, to a loopback address (the embedded
 * stand-in, a local Qdrant); to any other host over HTTP the client's warning stays.
 */

const KEY = 'vector-store-test-key';
let secured: QdrantStandIn;

beforeAll(async () => {
  secured = await startQdrantStandIn({ apiKey: KEY, host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await secured?.close();
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe('VectorStore and its API key', () => {
  it('sends the key to a loopback Qdrant over HTTP without a warning', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const store = new VectorStore(
      { url: secured.url, apiKey: KEY, timeoutMs: 3000 },
      new StoreCallCounter(),
    );
    await store.ensureCollection('a0000000-0000-4000-8000-000000000001', {
      name: 'test',
      dimension: 8,
    });
    expect(await store.count('a0000000-0000-4000-8000-000000000001')).toBe(0);
    expect(warn).not.toHaveBeenCalled();
  });

  it('keeps the warning for a key sent over HTTP to another host', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    new VectorStore(
      { url: 'http://qdrant.internal.test:6333', apiKey: KEY, timeoutMs: 3000 },
      new StoreCallCounter(),
    );
    expect(warn).toHaveBeenCalledWith('Api key is used with unsecure connection.');
  });

  it('refuses a wrong key, so the key really is what authenticates', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const store = new VectorStore(
      { url: secured.url, apiKey: 'not-the-key', timeoutMs: 3000 },
      new StoreCallCounter(),
    );
    await expect(store.count('a0000000-0000-4000-8000-000000000001')).rejects.toThrow();
  });
});

describe('VectorStore cluster settings', () => {
  it.each([
    ['per-book', { kind: 'per-book' as const }, 'a0000000-0000-4000-8000-0000000000c1'],
    ['shared', { kind: 'shared' as const, collection: 'clustered_chunks' }, 'clustered_chunks'],
  ])(
    'passes shard number, replication and write consistency at creation (%s)',
    async (_, layout, name) => {
      const store = new VectorStore(
        {
          url: secured.url,
          apiKey: KEY,
          timeoutMs: 3000,
          layout,
          cluster: { shardNumber: 4, replicationFactor: 3, writeConsistencyFactor: 2 },
        },
        new StoreCallCounter(),
      );
      await store.ensureCollection('a0000000-0000-4000-8000-0000000000c1', {
        name: 't',
        dimension: 4,
      });
      const info = await store.client.getCollection(name);
      expect(info.config.params).toMatchObject({
        shard_number: 4,
        replication_factor: 3,
        write_consistency_factor: 2,
      });
    },
  );
});
