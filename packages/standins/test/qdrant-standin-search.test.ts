import type { QdrantClient } from '@qdrant/js-client-rest';
import { beforeAll, describe, expect, it } from 'vitest';
import { failureText as failure, useQdrantStandIn } from './support/qdrant.js';

type Filter = NonNullable<Parameters<QdrantClient['count']>[1]>['filter'];

const fx = useQdrantStandIn();

describe('distances', () => {
  const points = [
    { id: 1, vector: [1, 0] },
    { id: 2, vector: [0, 1] },
    { id: 3, vector: [3, 4] },
  ];
  async function make(distance: 'Cosine' | 'Dot' | 'Euclid' | 'Manhattan') {
    const name = `d-${distance}`;
    await fx.client.createCollection(name, { vectors: { size: 2, distance } });
    await fx.client.upsert(name, { points });
    return name;
  }

  it('Cosine normalises on insert and scores by the dot of unit vectors', async () => {
    const name = await make('Cosine');
    const res = await fx.client.search(name, { vector: [1, 1], with_vector: true });
    expect(res.map((p) => p.id)).toEqual([3, 1, 2]);
    expect(res[0]?.score).toBeCloseTo(1.4 / Math.SQRT2, 6);
    expect(res[1]?.score).toBeCloseTo(Math.SQRT1_2, 6);
    expect(res[0]?.vector).toEqual([0.6, 0.8]);
    const strict = await fx.client.search(name, { vector: [1, 1], score_threshold: 0.9 });
    expect(strict.map((p) => p.id)).toEqual([3]);
  });

  it('Dot scores the raw dot product, higher first', async () => {
    const name = await make('Dot');
    const res = await fx.client.query(name, { query: [1, 1], with_vector: true });
    expect(res.points.map((p) => [p.id, p.score])).toEqual([
      [3, 7],
      [1, 1],
      [2, 1],
    ]);
    expect(res.points[0]?.vector).toEqual([3, 4]);
  });

  it('Euclid returns the distance and sorts ascending; thresholds keep closer points', async () => {
    const name = await make('Euclid');
    const res = await fx.client.query(name, { query: [1, 1] });
    expect(res.points.map((p) => p.id)).toEqual([1, 2, 3]);
    expect(res.points.map((p) => p.score)).toEqual([1, 1, 3.6055512]);
    const near = await fx.client.query(name, { query: [1, 1], score_threshold: 2 });
    expect(near.points.map((p) => p.id)).toEqual([1, 2]);
  });

  it('Manhattan returns the L1 distance, ascending', async () => {
    const name = await make('Manhattan');
    const res = await fx.client.query(name, { query: [1, 1] });
    expect(res.points.map((p) => [p.id, p.score])).toEqual([
      [1, 1],
      [2, 1],
      [3, 5],
    ]);
  });
});

describe('search and query', () => {
  beforeAll(async () => {
    await fx.client.createCollection('q', { vectors: { size: 2, distance: 'Dot' } });
    await fx.client.upsert('q', {
      points: [
        { id: 1, vector: [1, 0], payload: { group: 'a' } },
        { id: 2, vector: [0, 1], payload: { group: 'b' } },
        { id: 3, vector: [0.9, 0.8], payload: { group: 'a' } },
        { id: 4, vector: [0.5, -1], payload: { group: 'b' } },
      ],
    });
  });

  it('search defaults: payload from the client, limit, offset, filter', async () => {
    const res = await fx.client.search('q', { vector: [1, 0], limit: 2, offset: 1 });
    expect(res).toEqual([
      { id: 3, version: expect.any(Number), score: 0.9, payload: { group: 'a' } },
      { id: 4, version: expect.any(Number), score: 0.5, payload: { group: 'b' } },
    ]);
    const filtered = await fx.client.search('q', {
      vector: [1, 0],
      filter: { must: [{ key: 'group', match: { value: 'b' } }] },
      with_payload: false,
    });
    expect(filtered).toEqual([
      { id: 4, version: expect.any(Number), score: 0.5 },
      { id: 2, version: expect.any(Number), score: 0 },
    ]);
  });

  it('search batch answers each search in order', async () => {
    const res = await fx.client.searchBatch('q', {
      searches: [
        { vector: [1, 0], limit: 1 },
        { vector: [0, 1], limit: 2 },
      ],
    });
    expect(res.map((r) => r.map((p) => p.id))).toEqual([[1], [2, 3]]);
  });

  it('query by vector omits payload and vector unless asked', async () => {
    const res = await fx.client.query('q', { query: { nearest: [0, 1] }, limit: 2 });
    expect(res.points).toEqual([
      { id: 2, version: expect.any(Number), score: 1 },
      { id: 3, version: expect.any(Number), score: 0.8 },
    ]);
  });

  it('query by point id uses its vector and leaves the point itself out', async () => {
    const res = await fx.client.query('q', { query: 3 });
    expect(res.points.map((p) => p.id)).toEqual([1, 2, 4]);
    expect(res.points[0]?.score).toBeCloseTo(0.9, 6);
    expect(await failure(fx.client.query('q', { query: 99 }))).toEqual({
      status: 404,
      error: 'Not found: No point with id 99 found',
    });
  });

  it('recommend with the average_vector strategy', async () => {
    const res = await fx.client.query('q', {
      query: { recommend: { positive: [1], negative: [2] } },
    });
    expect(res.points.map((p) => p.id)).toEqual([4, 3]);
  });

  it('without a query returns points in id order', async () => {
    const res = await fx.client.query('q', { limit: 3, with_payload: true });
    expect(res.points.map((p) => p.id)).toEqual([1, 2, 3]);
  });

  it('fuses prefetches with reciprocal rank fusion (k = 2)', async () => {
    const res = await fx.client.query('q', {
      prefetch: [
        { query: [1, 0], limit: 3 },
        { query: [0, 1], limit: 3 },
      ],
      query: { fusion: 'rrf' },
    });
    // first list 1,3,4 and second 2,3,1: 1 → 1/2 + 1/4, 3 → 1/3 + 1/3, 2 → 1/2, 4 → 1/4
    expect(res.points.map((p) => p.id)).toEqual([1, 3, 2, 4]);
    expect(res.points.map((p) => p.score)).toEqual([0.75, 0.6666667, 0.5, 0.25]);
  });

  it('propagates the root filter into the prefetches', async () => {
    const res = await fx.client.query('q', {
      prefetch: [
        { query: [1, 0], limit: 3 },
        { query: [0, 1], limit: 3 },
      ],
      query: { fusion: 'rrf' },
      filter: { must_not: [{ has_id: [1] }] },
    });
    // filtered lists are 3,4,2 and 2,3,4
    expect(res.points.map((p) => p.id)).toEqual([3, 2, 4]);
    expect(res.points[0]?.score).toBeCloseTo(0.5 + 1 / 3, 6);
  });

  it('supports rrf with k, limit/offset/score_threshold on fused results, and dbsf', async () => {
    const prefetch = [
      { query: [1, 0], limit: 3 },
      { query: [0, 1], limit: 3 },
    ];
    const k60 = await fx.client.query('q', { prefetch, query: { rrf: { k: 60 } }, limit: 1 });
    expect(k60.points[0]?.id).toBe(1);
    expect(k60.points[0]?.score).toBeCloseTo(1 / 60 + 1 / 62, 6);
    const paged = await fx.client.query('q', {
      prefetch,
      query: { fusion: 'rrf' },
      limit: 2,
      offset: 1,
    });
    expect(paged.points.map((p) => p.id)).toEqual([3, 2]);
    const above = await fx.client.query('q', {
      prefetch,
      query: { fusion: 'rrf' },
      score_threshold: 0.6,
    });
    expect(above.points.map((p) => p.id)).toEqual([1, 3]);
    const dbsf = await fx.client.query('q', { prefetch, query: { fusion: 'dbsf' } });
    expect(dbsf.points.map((p) => p.id).sort()).toEqual([1, 2, 3, 4]);
    expect(dbsf.points[0]?.id).toBe(3);
  });

  it('re-scores prefetched candidates with a vector query', async () => {
    const res = await fx.client.query('q', {
      prefetch: { query: [1, 0], limit: 2 },
      query: [0, 1],
    });
    // candidates 1 and 3, re-ranked by [0, 1]
    expect(res.points.map((p) => [p.id, p.score])).toEqual([
      [3, 0.8],
      [1, 0],
    ]);
  });

  it('refuses what Qdrant refuses', async () => {
    expect(await failure(fx.client.query('q', { prefetch: [{ query: [1, 0] }] }))).toEqual({
      status: 400,
      error:
        "Bad request: A query is needed to merge the prefetches. Can't have prefetches without defining a query.",
    });
    expect((await failure(fx.client.query('q', { query: { fusion: 'rrf' } }))).status).toBe(400);
    expect((await failure(fx.client.query('q', { query: -3 }))).error).toBe(
      'Format error in JSON body: Expected some form of vector, id, or a type of query',
    );
    expect((await failure(fx.client.query('q', { query: 'not-a-uuid' }))).error).toBe(
      'Format error in JSON body: Expected some form of vector, id, or a type of query',
    );
  });

  it('runs query batches', async () => {
    const res = await fx.client.queryBatch('q', {
      searches: [
        { query: [1, 0], limit: 1 },
        { query: [0, 1], limit: 1, with_payload: true },
      ],
    });
    expect(res).toEqual([
      { points: [{ id: 1, version: expect.any(Number), score: 1 }] },
      { points: [{ id: 2, version: expect.any(Number), score: 1, payload: { group: 'b' } }] },
    ]);
  });
});

describe('filters', () => {
  beforeAll(async () => {
    await fx.client.createCollection('f', { vectors: { size: 1, distance: 'Dot' } });
    await fx.client.upsert('f', {
      points: [
        {
          id: 1,
          vector: [1],
          payload: {
            city: 'Berlin',
            tags: ['a', 'b'],
            n: 5,
            meta: { lang: 'en', year: 1999 },
            text: 'The quick brown fox',
            items: [
              { k: 'x', v: 1 },
              { k: 'y', v: 2 },
            ],
            date: '2020-01-01T00:00:00Z',
            loc: { lat: 52.52, lon: 13.405 },
          },
        },
        {
          id: 2,
          vector: [1],
          payload: {
            city: 'London',
            tags: ['b'],
            n: 10,
            meta: { lang: 'fr', year: 2005 },
            text: 'lazy dog',
            items: [{ k: 'x', v: 2 }],
            nul: null,
            loc: { lat: 51.5072, lon: -0.1276 },
          },
        },
        {
          id: 3,
          vector: [1],
          payload: { city: 'Paris', n: 15.5, meta: { lang: 'en' }, nul: null, tags: [] },
        },
        { id: 4, vector: [1], payload: {} },
      ],
    });
  });

  async function ids(filter: Filter): Promise<unknown[]> {
    const res = await fx.client.scroll('f', { filter, limit: 100, with_payload: false });
    const { count } = await fx.client.count('f', { filter });
    expect(count).toBe(res.points.length);
    return res.points.map((p) => p.id);
  }

  it('match value, any and except', async () => {
    expect(await ids({ must: [{ key: 'city', match: { value: 'Berlin' } }] })).toEqual([1]);
    expect(await ids({ must: [{ key: 'tags', match: { value: 'b' } }] })).toEqual([1, 2]);
    expect(await ids({ must: [{ key: 'city', match: { any: ['Berlin', 'Paris'] } }] })).toEqual([
      1, 3,
    ]);
    expect(await ids({ must: [{ key: 'city', match: { except: ['Berlin'] } }] })).toEqual([
      2, 3, 4,
    ]);
    expect(await ids({ must: [{ key: 'n', match: { value: 10 } }] })).toEqual([2]);
  });

  it('range on numbers and datetimes, values_count', async () => {
    expect(await ids({ must: [{ key: 'n', range: { gte: 10 } }] })).toEqual([2, 3]);
    expect(await ids({ must: [{ key: 'n', range: { gt: 5, lt: 15 } }] })).toEqual([2]);
    expect(await ids({ must: [{ key: 'date', range: { gte: '2019-12-31T00:00:00Z' } }] })).toEqual([
      1,
    ]);
    expect(await ids({ must: [{ key: 'tags', values_count: { gte: 2 } }] })).toEqual([1]);
  });

  it('dotted keys, [] projections and nested filters', async () => {
    expect(await ids({ must: [{ key: 'meta.lang', match: { value: 'en' } }] })).toEqual([1, 3]);
    expect(await ids({ must: [{ key: 'meta.year', range: { gt: 2000 } }] })).toEqual([2]);
    expect(
      await ids({
        must: [
          { key: 'items[].k', match: { value: 'x' } },
          { key: 'items[].v', match: { value: 2 } },
        ],
      }),
    ).toEqual([1, 2]);
    expect(
      await ids({
        must: [
          {
            nested: {
              key: 'items',
              filter: {
                must: [
                  { key: 'k', match: { value: 'x' } },
                  { key: 'v', match: { value: 2 } },
                ],
              },
            },
          },
        ],
      }),
    ).toEqual([2]);
  });

  it('is_empty, is_null and has_id', async () => {
    expect(await ids({ must: [{ is_empty: { key: 'tags' } }] })).toEqual([3, 4]);
    expect(await ids({ must: [{ is_null: { key: 'nul' } }] })).toEqual([2, 3]);
    expect(await ids({ must: [{ has_id: [1, 4, 77] }] })).toEqual([1, 4]);
  });

  it('should, must_not, min_should and filters nested in conditions', async () => {
    expect(await ids({ must_not: [{ key: 'city', match: { value: 'London' } }] })).toEqual([
      1, 3, 4,
    ]);
    expect(
      await ids({
        should: [
          { key: 'city', match: { value: 'Berlin' } },
          { key: 'n', range: { gt: 15 } },
        ],
      }),
    ).toEqual([1, 3]);
    expect(
      await ids({
        min_should: {
          conditions: [
            { key: 'city', match: { value: 'Berlin' } },
            { key: 'tags', match: { value: 'b' } },
            { key: 'n', range: { gte: 5 } },
          ],
          min_count: 2,
        },
      }),
    ).toEqual([1, 2]);
    expect(
      await ids({
        must: [
          { should: [{ key: 'meta.lang', match: { value: 'fr' } }, { has_id: [3] }] },
          { must_not: [{ key: 'n', range: { gt: 12 } }] },
        ],
      }),
    ).toEqual([2]);
  });

  it('match text: substring without an index, tokens with a full-text index', async () => {
    expect(await ids({ must: [{ key: 'text', match: { text: 'quick brown' } }] })).toEqual([1]);
    expect(await ids({ must: [{ key: 'text', match: { text: 'brown quick' } }] })).toEqual([]);
    await fx.client.createPayloadIndex('f', {
      field_name: 'text',
      field_schema: 'text',
      wait: true,
    });
    expect(await ids({ must: [{ key: 'text', match: { text: 'brown quick' } }] })).toEqual([1]);
    expect(await ids({ must: [{ key: 'text', match: { text_any: 'dog cat' } }] })).toEqual([2]);
  });

  it('geo radius and bounding box', async () => {
    expect(
      await ids({
        must: [{ key: 'loc', geo_radius: { center: { lat: 52.5, lon: 13.4 }, radius: 10000 } }],
      }),
    ).toEqual([1]);
    expect(
      await ids({
        must: [
          {
            key: 'loc',
            geo_bounding_box: { top_left: { lat: 53, lon: -1 }, bottom_right: { lat: 51, lon: 1 } },
          },
        ],
      }),
    ).toEqual([2]);
  });

  it('filters search, query and delete alike', async () => {
    const filter: Filter = { must: [{ key: 'meta.lang', match: { value: 'en' } }] };
    expect((await fx.client.search('f', { vector: [1], filter })).map((p) => p.id)).toEqual([1, 3]);
    expect((await fx.client.query('f', { query: [1], filter })).points.map((p) => p.id)).toEqual([
      1, 3,
    ]);
  });
});

describe('equal scores', () => {
  // As Qdrant merges results (ScoredPointTies): equal scores in point id order, numbers before
  // UUIDs, whether or not a filter leaves other points out.
  const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

  beforeAll(async () => {
    await fx.client.createCollection('ties', { vectors: { size: 2, distance: 'Cosine' } });
    await fx.client.createPayloadIndex('ties', {
      field_name: 'book',
      field_schema: { type: 'keyword', is_tenant: true },
      wait: true,
    });
    // Inserted out of id order; the same two directions for every book.
    const points = [];
    for (const [book, ids] of [
      ['a', [uuid(9), uuid(3), uuid(7), uuid(1)]],
      ['b', [uuid(8), uuid(2), uuid(6), uuid(4)]],
    ] as const) {
      for (const [i, id] of ids.entries()) {
        points.push({ id, vector: i % 2 ? [1, 0] : [0, 1], payload: { book } });
      }
    }
    await fx.client.upsert('ties', { wait: true, points });
    await fx.client.upsert('ties', {
      wait: true,
      points: [
        { id: 5, vector: [0, 1], payload: { book: 'a' } },
        { id: 2, vector: [0, 1], payload: { book: 'a' } },
      ],
    });
  });

  it('come in id order, the same with a tenant filter as without', async () => {
    const all = await fx.client.query('ties', { query: [0, 1], limit: 20 });
    expect(all.points.map((p) => p.id)).toEqual([
      2,
      5,
      uuid(6),
      uuid(7),
      uuid(8),
      uuid(9),
      uuid(1),
      uuid(2),
      uuid(3),
      uuid(4),
    ]);
    const filter: Filter = { must: [{ key: 'book', match: { value: 'a' } }] };
    const a = await fx.client.query('ties', { query: [0, 1], limit: 20, filter });
    const inA = new Set([2, 5, uuid(1), uuid(3), uuid(7), uuid(9)] as (string | number)[]);
    expect(a.points.map((p) => p.id)).toEqual(
      all.points.map((p) => p.id).filter((id) => inA.has(id)),
    );
    // Cut at the limit within a tie: the lowest ids of the tie are kept.
    const cut = await fx.client.query('ties', { query: [0, 1], limit: 3, filter });
    expect(cut.points.map((p) => p.id)).toEqual([2, 5, uuid(7)]);
  });
});
