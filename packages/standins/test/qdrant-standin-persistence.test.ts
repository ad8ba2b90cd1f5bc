import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startQdrantStandIn } from '../src/qdrant/server.js';
import { connect } from './support/qdrant.js';

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'qdrant-standin-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('persistence under dataDir', () => {
  it('keeps collections, points, payloads, indexes and versions across a restart', async () => {
    const first = await startQdrantStandIn({ dataDir });
    const a = connect(first.url);
    await a.createCollection('book-1', { vectors: { size: 3, distance: 'Cosine' } });
    await a.createCollection('book-2', { vectors: { size: 2, distance: 'Euclid' } });
    await a.createCollection('gone', { vectors: { size: 2, distance: 'Dot' } });
    await a.upsert('book-1', {
      points: Array.from({ length: 40 }, (_, i) => ({
        id: i,
        vector: [1, i, i % 3],
        payload: { chunk_index: i, text: `passage ${i}` },
      })),
    });
    await a.upsert('book-2', {
      points: [{ id: 'f47ac10b-58cc-4372-a567-0e02b2c3d479', vector: [1, 2], payload: { x: 1 } }],
    });
    await a.setPayload('book-1', { points: [7], payload: { marked: true } });
    await a.delete('book-1', { points: [39] }); // wait=false: flushed by close()
    await a.createPayloadIndex('book-1', {
      field_name: 'chunk_index',
      field_schema: 'integer',
      wait: true,
    });
    await a.deleteCollection('gone');
    const before = await a.query('book-1', {
      query: [1, 5, 2],
      limit: 5,
      with_payload: true,
      with_vector: true,
    });
    const lastOp =
      (await a.upsert('book-1', { points: [{ id: 100, vector: [0, 0, 1] }] })).operation_id ?? -1;
    await a.delete('book-1', { points: [100], wait: true });
    await first.close();

    const dirs = await readdir(join(dataDir, 'collections'));
    expect(dirs.sort()).toEqual(['book-1', 'book-2']);
    for (const d of dirs) {
      expect(await readdir(join(dataDir, 'collections', d))).toEqual(['collection.bin']);
    }

    const second = await startQdrantStandIn({ dataDir });
    try {
      const b = connect(second.url);
      expect((await b.getCollections()).collections.map((c) => c.name).sort()).toEqual([
        'book-1',
        'book-2',
      ]);
      expect(await b.count('book-1')).toEqual({ count: 39 });
      const info = await b.getCollection('book-1');
      expect(info.config.params.vectors).toEqual({ size: 3, distance: 'Cosine' });
      expect(info.payload_schema.chunk_index).toMatchObject({ data_type: 'integer', points: 39 });
      const after = await b.query('book-1', {
        query: [1, 5, 2],
        limit: 5,
        with_payload: true,
        with_vector: true,
      });
      expect(after).toEqual(before);
      expect((await b.retrieve('book-1', { ids: [7] }))[0]?.payload).toEqual({
        chunk_index: 7,
        text: 'passage 7',
        marked: true,
      });
      expect(
        await b.retrieve('book-2', {
          ids: ['f47ac10b-58cc-4372-a567-0e02b2c3d479'],
          with_vector: true,
        }),
      ).toEqual([
        { id: 'f47ac10b-58cc-4372-a567-0e02b2c3d479', payload: { x: 1 }, vector: [1, 2] },
      ]);
      expect(await b.collectionExists('gone')).toEqual({ exists: false });
      const next = await b.upsert('book-1', {
        points: [{ id: 101, vector: [0, 1, 0] }],
        wait: true,
      });
      expect(next.operation_id).toBeGreaterThan(lastOp);
      const ordered = await b.scroll('book-1', {
        order_by: { key: 'chunk_index', direction: 'desc' },
        limit: 2,
      });
      expect(ordered.points.map((p) => p.id)).toEqual([38, 37]);
    } finally {
      await second.close();
    }
  });

  it('keeps nothing on disk without a dataDir, and starts empty', async () => {
    const first = await startQdrantStandIn({});
    await connect(first.url).createCollection('ephemeral', {
      vectors: { size: 1, distance: 'Dot' },
    });
    await first.close();
    const second = await startQdrantStandIn({});
    try {
      expect(await connect(second.url).getCollections()).toEqual({ collections: [] });
    } finally {
      await second.close();
    }
  });

  it('recreates a deleted collection under the same name without resurrecting old points', async () => {
    const first = await startQdrantStandIn({ dataDir });
    const a = connect(first.url);
    await a.createCollection('again', { vectors: { size: 1, distance: 'Dot' } });
    await a.upsert('again', { points: [{ id: 1, vector: [1] }], wait: false });
    await a.deleteCollection('again');
    await a.createCollection('again', { vectors: { size: 2, distance: 'Dot' } });
    await first.close();
    const second = await startQdrantStandIn({ dataDir });
    try {
      const b = connect(second.url);
      expect(await b.count('again')).toEqual({ count: 0 });
      expect((await b.getCollection('again')).config.params.vectors).toEqual({
        size: 2,
        distance: 'Dot',
      });
    } finally {
      await second.close();
    }
  });
});
