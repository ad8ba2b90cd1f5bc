import { QdrantClient, QdrantClientTimeoutError } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type QdrantStandIn, startQdrantStandIn } from '../src/qdrant/server.js';
import { connect, errorBody, failure, useQdrantStandIn } from './support/qdrant.js';

const fx = useQdrantStandIn();

describe('service endpoints', () => {
  it('answers GET / with the version and health probes with plain text', async () => {
    expect(await fx.client.versionInfo()).toEqual({
      title: 'qdrant - vector search engine',
      version: '1.18.0',
    });
    const health = await fx.client.api().healthz({});
    expect(health.data).toBe('healthz check passed');
    const ready = await fx.client.api().readyz({});
    expect(ready.status).toBe(200);
  });

  it('counts requests and resets the counter', async () => {
    fx.standIn.resetCounters();
    await fx.client.getCollections();
    await fx.client.getCollections();
    expect(fx.standIn.requests.count).toBe(2);
    fx.standIn.resetCounters();
    expect(fx.standIn.requests.count).toBe(0);
  });
});

describe('collections', () => {
  it('creates, describes, lists, checks and deletes a collection', async () => {
    expect(
      await fx.client.createCollection('life', { vectors: { size: 4, distance: 'Cosine' } }),
    ).toBe(true);
    const info = await fx.client.getCollection('life');
    expect(info).toMatchObject({
      status: 'green',
      optimizer_status: 'ok',
      points_count: 0,
      indexed_vectors_count: 0,
      config: { params: { vectors: { size: 4, distance: 'Cosine' } } },
      payload_schema: {},
    });
    expect((await fx.client.getCollections()).collections).toContainEqual({ name: 'life' });
    expect(await fx.client.collectionExists('life')).toEqual({ exists: true });
    expect(await fx.client.deleteCollection('life')).toBe(true);
    expect(await fx.client.collectionExists('life')).toEqual({ exists: false });
    expect(await fx.client.deleteCollection('life')).toBe(false);
  });

  it('answers 409 when the collection already exists and 404 when it does not', async () => {
    await fx.client.createCollection('twice', { vectors: { size: 2, distance: 'Dot' } });
    expect(
      await failure(fx.client.createCollection('twice', { vectors: { size: 2, distance: 'Dot' } })),
    ).toEqual({
      status: 409,
      data: errorBody('Wrong input: Collection `twice` already exists!'),
    });
    expect(await failure(fx.client.getCollection('missing'))).toEqual({
      status: 404,
      data: errorBody("Not found: Collection `missing` doesn't exist!"),
    });
    expect(await failure(fx.client.count('missing'))).toMatchObject({ status: 404 });
    expect(
      await failure(fx.client.upsert('missing', { points: [{ id: 1, vector: [1, 2] }] })),
    ).toMatchObject({
      status: 404,
      data: errorBody("Not found: Collection `missing` doesn't exist!"),
    });
  });

  it('rejects bad vector configs the way Qdrant validates them', async () => {
    expect(
      await failure(fx.client.createCollection('zero', { vectors: { size: 0, distance: 'Dot' } })),
    ).toEqual({
      status: 422,
      data: errorBody(
        'Validation error in JSON body: [vectors.size: value 0 invalid, must be 1 or larger]',
      ),
    });
    const bad = { vectors: { size: 3, distance: 'Cos' } } as unknown as Parameters<
      QdrantClient['createCollection']
    >[1];
    expect(await failure(fx.client.createCollection('cos', bad))).toMatchObject({ status: 400 });
    expect(await fx.client.collectionExists('cos')).toEqual({ exists: false });
  });

  it('supports named vectors', async () => {
    await fx.client.createCollection('named', {
      vectors: { text: { size: 2, distance: 'Dot' }, image: { size: 3, distance: 'Euclid' } },
    });
    const info = await fx.client.getCollection('named');
    expect(info.config.params.vectors).toEqual({
      text: { size: 2, distance: 'Dot' },
      image: { size: 3, distance: 'Euclid' },
    });
    await fx.client.upsert('named', {
      points: [
        { id: 1, vector: { text: [1, 0], image: [0, 0, 0] } },
        { id: 2, vector: { text: [0, 1], image: [1, 1, 1] } },
      ],
    });
    const res = await fx.client.query('named', {
      query: [0, 0, 1],
      using: 'image',
      with_vector: ['image'],
    });
    expect(res.points.map((p) => p.id)).toEqual([1, 2]);
    expect(res.points[0]?.vector).toEqual({ image: [0, 0, 0] });
    const search = await fx.client.search('named', { vector: { name: 'text', vector: [1, 0] } });
    expect(search.map((p) => p.id)).toEqual([1, 2]);
    expect(await failure(fx.client.query('named', { query: [1, 0], using: 'audio' }))).toEqual({
      status: 400,
      data: errorBody('Wrong input: Not existing vector name error: audio'),
    });
  });
});

describe('points', () => {
  beforeAll(async () => {
    await fx.client.createCollection('pts', { vectors: { size: 3, distance: 'Dot' } });
  });

  it('upserts the list form and the batch form, and retrieves by id', async () => {
    const list = await fx.client.upsert('pts', {
      wait: true,
      points: [
        { id: 1, vector: [1, 0, 0], payload: { name: 'one', tags: ['a'] } },
        {
          id: '5c56c793-69f3-4fbf-87e6-c4bf54c28c26',
          vector: [0, 1, 0],
          payload: { name: 'uuid' },
        },
      ],
    });
    expect(list).toEqual({ operation_id: expect.any(Number), status: 'completed' });
    const batch = await fx.client.upsert('pts', {
      batch: {
        ids: [2, 3],
        vectors: [
          [0, 0, 1],
          [1, 1, 1],
        ],
        payloads: [{ name: 'two' }, null],
      },
    });
    expect(batch.status).toBe('completed');
    expect(batch.operation_id).toBeGreaterThan(list.operation_id ?? -1);
    expect((await fx.client.count('pts')).count).toBe(4);
    const got = await fx.client.retrieve('pts', {
      ids: [3, 1, 42, '5C56C793-69F3-4FBF-87E6-C4BF54C28C26'],
      with_vector: true,
    });
    expect(got).toEqual([
      { id: 3, payload: {}, vector: [1, 1, 1] },
      { id: 1, payload: { name: 'one', tags: ['a'] }, vector: [1, 0, 0] },
      { id: '5c56c793-69f3-4fbf-87e6-c4bf54c28c26', payload: { name: 'uuid' }, vector: [0, 1, 0] },
    ]);
    const selected = await fx.client.retrieve('pts', { ids: [1], with_payload: ['name'] });
    expect(selected).toEqual([{ id: 1, payload: { name: 'one' } }]);
    const bare = await fx.client.retrieve('pts', { ids: [1], with_payload: false });
    expect(bare).toEqual([{ id: 1 }]);
  });

  it('replaces a point on upsert and bumps its version', async () => {
    await fx.client.upsert('pts', { points: [{ id: 9, vector: [0, 0, 2], payload: { v: 1 } }] });
    const first = (await fx.client.query('pts', { query: [0, 0, 1], limit: 1 })).points[0];
    await fx.client.upsert('pts', { points: [{ id: 9, vector: [0, 0, 3], payload: { w: 2 } }] });
    const again = (await fx.client.query('pts', { query: [0, 0, 1], limit: 1, with_payload: true }))
      .points[0];
    expect(again).toMatchObject({ id: 9, score: 3, payload: { w: 2 } });
    expect(again?.version).toBeGreaterThan(first?.version ?? Number.POSITIVE_INFINITY);
    await fx.client.delete('pts', { wait: true, points: [9] });
  });

  it('rejects ids that are neither unsigned integers nor UUIDs', async () => {
    for (const id of ['abc', -1, 1.5, 'chunk-1']) {
      const res = await failure(
        fx.client.upsert('pts', { points: [{ id: id as number, vector: [1, 2, 3] }] }),
      );
      expect(res.status).toBe(400);
      expect(res.data).toEqual(
        errorBody(
          `Format error in JSON body: value ${id} is not a valid point ID, valid values are either an unsigned integer or a UUID`,
        ),
      );
    }
    expect(await failure(fx.client.retrieve('pts', { ids: ['nope'] }))).toMatchObject({
      status: 400,
    });
  });

  it('rejects vectors of the wrong dimension, atomically', async () => {
    const res = await failure(
      fx.client.upsert('pts', {
        points: [
          { id: 100, vector: [1, 2, 3] },
          { id: 101, vector: [1, 2] },
        ],
      }),
    );
    expect(res).toEqual({
      status: 400,
      data: errorBody('Wrong input: Vector dimension error: expected dim: 3, got 2'),
    });
    expect(await fx.client.retrieve('pts', { ids: [100] })).toEqual([]);
    expect(await failure(fx.client.query('pts', { query: [1, 2, 3, 4] }))).toEqual({
      status: 400,
      data: errorBody('Wrong input: Vector dimension error: expected dim: 3, got 4'),
    });
  });

  it('sets, overwrites, deletes and clears payload', async () => {
    await fx.client.upsert('pts', {
      points: [{ id: 50, vector: [1, 1, 0], payload: { a: 1, nested: { x: 1 } } }],
    });
    await fx.client.setPayload('pts', { points: [50], payload: { b: 2 } });
    await fx.client.setPayload('pts', { points: [50], payload: { y: 2 }, key: 'nested' });
    expect((await fx.client.retrieve('pts', { ids: [50] }))[0]?.payload).toEqual({
      a: 1,
      b: 2,
      nested: { x: 1, y: 2 },
    });
    await fx.client.deletePayload('pts', { points: [50], keys: ['a', 'nested.x'] });
    expect((await fx.client.retrieve('pts', { ids: [50] }))[0]?.payload).toEqual({
      b: 2,
      nested: { y: 2 },
    });
    await fx.client.overwritePayload('pts', { points: [50], payload: { only: true } });
    expect((await fx.client.retrieve('pts', { ids: [50] }))[0]?.payload).toEqual({ only: true });
    await fx.client.clearPayload('pts', { points: [50] });
    expect((await fx.client.retrieve('pts', { ids: [50] }))[0]?.payload).toEqual({});
    await fx.client.setPayload('pts', {
      filter: { must: [{ has_id: [50] }] },
      payload: { via: 'filter' },
    });
    expect((await fx.client.retrieve('pts', { ids: [50] }))[0]?.payload).toEqual({ via: 'filter' });
    expect(
      await failure(fx.client.setPayload('pts', { points: [777], payload: { a: 1 } })),
    ).toEqual({
      status: 404,
      data: errorBody('Not found: No point with id 777 found'),
    });
    await fx.client.delete('pts', { wait: true, points: [50] });
  });

  it('deletes by ids and by filter', async () => {
    await fx.client.createCollection('del', { vectors: { size: 2, distance: 'Euclid' } });
    await fx.client.upsert('del', {
      points: [1, 2, 3, 4, 5].map((id) => ({
        id,
        vector: [id, 0],
        payload: { even: id % 2 === 0 },
      })),
    });
    const byIds = await fx.client.delete('del', { points: [1, 999] });
    expect(byIds.status).toBe('acknowledged');
    expect((await fx.client.count('del')).count).toBe(4);
    await fx.client.delete('del', {
      wait: true,
      filter: { must: [{ key: 'even', match: { value: true } }] },
    });
    const left = await fx.client.scroll('del', { with_payload: false });
    expect(left.points.map((p) => p.id)).toEqual([3, 5]);
    expect((await fx.client.getCollection('del')).points_count).toBe(2);
  });

  it('counts with and without a filter, exact or not', async () => {
    await fx.client.createCollection('cnt', { vectors: { size: 1, distance: 'Dot' } });
    await fx.client.upsert('cnt', {
      points: Array.from({ length: 12 }, (_, i) => ({
        id: i,
        vector: [i],
        payload: { big: i >= 8 },
      })),
    });
    expect(await fx.client.count('cnt')).toEqual({ count: 12 });
    expect(await fx.client.count('cnt', { exact: false })).toEqual({ count: 12 });
    expect(
      await fx.client.count('cnt', { filter: { must: [{ key: 'big', match: { value: true } }] } }),
    ).toEqual({
      count: 4,
    });
  });

  it('gets one point by id over GET /points/{id}', async () => {
    const res = await fx.client.api().getPoint({ collection_name: 'pts', id: 1 });
    expect(res.data.result).toEqual({
      id: 1,
      payload: { name: 'one', tags: ['a'] },
      vector: [1, 0, 0],
    });
    expect(
      await failure(fx.client.api().getPoint({ collection_name: 'pts', id: 4242 })),
    ).toMatchObject({
      status: 404,
    });
  });
});

describe('scroll', () => {
  const uuids = ['b0000000-0000-4000-8000-000000000000', 'a0000000-0000-4000-8000-000000000000'];

  beforeAll(async () => {
    await fx.client.createCollection('scroll', { vectors: { size: 2, distance: 'Cosine' } });
    await fx.client.upsert('scroll', {
      points: [
        ...Array.from({ length: 25 }, (_, i) => ({
          id: 25 - i,
          vector: [1, i],
          payload: { n: 25 - i, odd: (25 - i) % 2 === 1 },
        })),
        ...uuids.map((id, i) => ({ id, vector: [0, 1], payload: { n: 100 + i, odd: false } })),
      ],
    });
  });

  it('pages in id order with next_page_offset, integers before UUIDs', async () => {
    const seen: (string | number)[] = [];
    let offset: string | number | null | undefined;
    let pages = 0;
    do {
      const page = await fx.client.scroll('scroll', {
        limit: 10,
        ...(offset != null ? { offset } : {}),
      });
      seen.push(...page.points.map((p) => p.id as string | number));
      offset = page.next_page_offset as string | number | null | undefined;
      pages++;
    } while (offset != null);
    expect(pages).toBe(3);
    expect(seen).toEqual([...Array.from({ length: 25 }, (_, i) => i + 1), uuids[1], uuids[0]]);
  });

  it('filters, starts at an offset and returns payload by default', async () => {
    const page = await fx.client.scroll('scroll', {
      filter: { must: [{ key: 'odd', match: { value: true } }] },
      offset: 10,
      limit: 3,
    });
    expect(page.points).toEqual([
      { id: 11, payload: { n: 11, odd: true } },
      { id: 13, payload: { n: 13, odd: true } },
      { id: 15, payload: { n: 15, odd: true } },
    ]);
    expect(page.next_page_offset).toBe(17);
  });

  it('orders by a range-indexed payload key and refuses without the index', async () => {
    const res = await failure(
      fx.client.scroll('scroll', { order_by: { key: 'n', direction: 'desc' } }),
    );
    expect(res.status).toBe(400);
    expect((res.data as { status: { error: string } }).status.error).toMatch(
      /^Bad request: No range index for `order_by` key: n\. Please create one to use `order_by`/,
    );
    await fx.client.createPayloadIndex('scroll', {
      field_name: 'n',
      field_schema: 'integer',
      wait: true,
    });
    expect((await fx.client.getCollection('scroll')).payload_schema.n).toMatchObject({
      data_type: 'integer',
      points: 27,
    });
    const page = await fx.client.scroll('scroll', {
      order_by: { key: 'n', direction: 'desc', start_from: 24 },
      limit: 3,
    });
    expect(page.points.map((p) => [p.id, p.order_value])).toEqual([
      [24, 24],
      [23, 23],
      [22, 22],
    ]);
    expect(page.next_page_offset).toBeNull();
  });
});

describe('authentication', () => {
  let secured: QdrantStandIn;
  beforeAll(async () => {
    secured = await startQdrantStandIn({ apiKey: 'secret-key' });
    // The official client warns about every key sent over plain HTTP; here that is the point.
    vi.spyOn(console, 'warn').mockImplementation(() => {});
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await secured.close();
  });

  it('accepts the api-key header and a bearer token', async () => {
    const withKey = connect(secured.url, { apiKey: 'secret-key' });
    expect(await withKey.getCollections()).toEqual({ collections: [] });
    const bearer = new QdrantClient({
      url: secured.url,
      headers: { Authorization: 'Bearer secret-key' },
      checkCompatibility: false,
    });
    expect(await bearer.collectionExists('x')).toEqual({ exists: false });
  });

  it('answers 401 with Qdrant’s reasons, and leaves / and /healthz open', async () => {
    const wrong = connect(secured.url, { apiKey: 'nope' });
    expect(await failure(wrong.getCollections())).toEqual({
      status: 401,
      data: 'Invalid API key or JWT',
    });
    const none = connect(secured.url);
    expect(await failure(none.getCollections())).toEqual({
      status: 401,
      data: 'Must provide an API key or an Authorization bearer token',
    });
    expect((await none.versionInfo()).version).toBe('1.18.0');
    expect((await none.api().healthz({})).status).toBe(200);
  });
});

describe('robustness', () => {
  it('lets the client time out, and keeps serving afterwards', async () => {
    const slow = await startQdrantStandIn({ latencyMs: 300 });
    try {
      const impatient = connect(slow.url, { timeout: 50 });
      await expect(impatient.getCollections()).rejects.toBeInstanceOf(QdrantClientTimeoutError);
      const patient = connect(slow.url, { timeout: 5000 });
      expect(await patient.getCollections()).toEqual({ collections: [] });
    } finally {
      await slow.close();
    }
  });

  it('ignores unknown query parameters and body fields', async () => {
    const res = await fx.client.api().countPoints({
      collection_name: 'pts',
      exact: true,
      timeout: 7,
      consistency: 'majority',
      not_a_field: { anything: 1 },
    } as unknown as Parameters<ReturnType<QdrantClient['api']>['countPoints']>[0]);
    expect(res.data).toMatchObject({
      result: { count: 4 },
      status: 'ok',
      time: expect.any(Number),
    });
  });

  it('answers validation failures with 422 and broken requests with 400', async () => {
    expect(await failure(fx.client.query('pts', { query: [1, 0, 0], limit: 0 }))).toEqual({
      status: 422,
      data: errorBody(
        'Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]',
      ),
    });
    const broken = { filter: { must: [{ nonsense: true }] } };
    const res = await failure(
      fx.client.count('pts', broken as Parameters<QdrantClient['count']>[1]),
    );
    expect(res.status).toBe(400);
    expect((res.data as { status: { error: string } }).status.error).toMatch(
      /^Format error in JSON body: Expected some form of condition/,
    );
  });
});
