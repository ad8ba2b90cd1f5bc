import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { startQdrantStandIn } from '../src/qdrant/server.js';
import { call, connect, errorBody, failureText, useQdrantStandIn } from './support/qdrant.js';

const fx = useQdrantStandIn();
const http = (method: string, path: string, body?: unknown) =>
  call(fx.standIn.url, method, path, body);

const vectors = { size: 2, distance: 'Dot' as const };
const validation = (field: string, reason: string, where = 'JSON body') =>
  errorBody(`Validation error in ${where}: [${field}: ${reason}]`);
const formatError = { status: { error: expect.stringMatching(/^Format error in JSON body: /) } };

describe('collection parameters are validated as Qdrant validates them', () => {
  it.each([
    ['shard_number', { shard_number: 0 }, 'shard_number', 1],
    ['replication_factor', { replication_factor: 0 }, 'replication_factor', 1],
    ['write_consistency_factor', { write_consistency_factor: 0 }, 'write_consistency_factor', 1],
    ['hnsw ef_construct', { hnsw_config: { ef_construct: 3 } }, 'hnsw_config.ef_construct', 4],
    [
      'hnsw full_scan_threshold',
      { hnsw_config: { full_scan_threshold: 9 } },
      'hnsw_config.full_scan_threshold',
      10,
    ],
    ['wal capacity', { wal_config: { wal_capacity_mb: 0 } }, 'wal_config.wal_capacity_mb', 1],
    [
      'optimizer vacuum_min_vector_number',
      { optimizers_config: { vacuum_min_vector_number: 99 } },
      'optimizers_config.vacuum_min_vector_number',
      100,
    ],
  ])('%s below its minimum → 422, nothing created', async (_, extra, field, min) => {
    const value = Object.values(extra)[0];
    const shown = typeof value === 'number' ? value : Object.values(value)[0];
    const res = await http('PUT', '/collections/bad_params', { vectors, ...extra });
    expect(res).toEqual({
      status: 422,
      body: validation(field, `value ${shown} invalid, must be ${min} or larger`),
    });
    expect((await http('GET', '/collections/bad_params/exists')).body).toMatchObject({
      result: { exists: false },
    });
  });

  it('negative or non-integer counts are JSON format errors (400)', async () => {
    for (const extra of [
      { shard_number: -1 },
      { replication_factor: 1.5 },
      { hnsw_config: { m: -1 } },
      { hnsw_config: { ef_construct: 'many' } },
    ]) {
      const res = await http('PUT', '/collections/bad_types', { vectors, ...extra });
      expect(res, JSON.stringify(extra)).toMatchObject({ status: 400, body: formatError });
    }
  });

  it('accepts the documented edge values (m: 0 turns the HNSW graph off) and reports them', async () => {
    const ok = await fx.client.createCollection('edge_params', {
      vectors: { size: 2, distance: 'Dot' },
      shard_number: 1,
      replication_factor: 2,
      write_consistency_factor: 1,
      hnsw_config: { m: 0, ef_construct: 4, full_scan_threshold: 10 },
    });
    expect(ok).toBe(true);
    const info = await fx.client.getCollection('edge_params');
    expect(info.config.hnsw_config).toMatchObject({
      m: 0,
      ef_construct: 4,
      full_scan_threshold: 10,
    });
    expect(info.config.params).toMatchObject({ shard_number: 1, replication_factor: 2 });
  });

  it('PATCH validates params and hnsw_config the same way, and changes nothing on failure', async () => {
    await fx.client.createCollection('patched', { vectors });
    expect(
      await http('PATCH', '/collections/patched', { params: { replication_factor: 0 } }),
    ).toEqual({
      status: 422,
      body: validation('params.replication_factor', 'value 0 invalid, must be 1 or larger'),
    });
    expect(
      await http('PATCH', '/collections/patched', {
        optimizers_config: { indexing_threshold: 5 },
        hnsw_config: { ef_construct: 1 },
      }),
    ).toEqual({
      status: 422,
      body: validation('hnsw_config.ef_construct', 'value 1 invalid, must be 4 or larger'),
    });
    const info = await fx.client.getCollection('patched');
    expect(info.config.optimizer_config.indexing_threshold).toBe(10000);
    expect(info.config.params.replication_factor).toBe(1);
  });

  it('the timeout query parameter must be a positive integer', async () => {
    expect(await http('PUT', '/collections/timed?timeout=0', { vectors })).toEqual({
      status: 422,
      body: validation('timeout', 'value 0 invalid, must be 1 or larger', 'query parameters'),
    });
    expect(await http('PUT', '/collections/timed?timeout=soon', { vectors })).toEqual({
      status: 400,
      body: errorBody('Query deserialize error: invalid digit found in string'),
    });
    expect(await http('PUT', '/collections/timed?timeout=-1', { vectors })).toMatchObject({
      status: 400,
    });
    expect((await http('PUT', '/collections/timed?timeout=30', { vectors })).status).toBe(200);
    expect((await http('POST', '/collections/timed/points/scroll?timeout=0', {})).status).toBe(422);
    // GET endpoints take no timeout, so Qdrant never reads one there.
    expect((await http('GET', '/collections/timed?timeout=0')).status).toBe(200);
  });
});

describe('search params', () => {
  beforeAll(async () => {
    await fx.client.createCollection('sp', { vectors });
    await fx.client.upsert('sp', { wait: true, points: [{ id: 1, vector: [1, 0] }] });
  });

  it('hnsw_ef below 0 or of the wrong type is a format error in search, query and prefetch', async () => {
    const bad = [
      ['search', { vector: [1, 0], limit: 1, params: { hnsw_ef: -1 } }],
      ['search', { vector: [1, 0], limit: 1, params: { hnsw_ef: 'wide' } }],
      ['search', { vector: [1, 0], limit: 1, params: { exact: 'yes' } }],
      ['query', { query: [1, 0], params: { hnsw_ef: -5 } }],
      ['query', { prefetch: { query: [1, 0], params: { hnsw_ef: -1 } }, query: [1, 0] }],
    ] as const;
    for (const [route, body] of bad) {
      const res = await http('POST', `/collections/sp/points/${route}`, body);
      expect(res, JSON.stringify(body)).toMatchObject({ status: 400, body: formatError });
    }
  });

  it('quantization oversampling below 1 is a validation error', async () => {
    const res = await http('POST', '/collections/sp/points/query', {
      query: [1, 0],
      params: { quantization: { oversampling: 0.5 } },
    });
    expect(res).toEqual({
      status: 422,
      body: validation(
        'params.quantization.oversampling',
        'value 0.5 invalid, must be 1 or larger',
      ),
    });
  });

  it('accepts hnsw_ef: 0 and exact search (exact either way here)', async () => {
    const hits = await fx.client.search('sp', {
      vector: [1, 0],
      limit: 1,
      params: { hnsw_ef: 0, exact: true },
    });
    expect(hits.map((h) => h.id)).toEqual([1]);
    const q = await fx.client.query('sp', { query: [1, 0], params: { hnsw_ef: 128 } });
    expect(q.points.map((p) => p.id)).toEqual([1]);
  });
});

describe('collection names in the path', () => {
  const routes: [string, string, unknown?][] = [
    ['GET', ''],
    ['PUT', '', { vectors }],
    ['PATCH', '', {}],
    ['DELETE', ''],
    ['GET', '/exists'],
    ['GET', '/aliases'],
    ['PUT', '/index', { field_name: 'a', field_schema: 'keyword' }],
    ['DELETE', '/index/a'],
    ['PUT', '/points', { points: [{ id: 1, vector: [1, 0] }] }],
    ['POST', '/points', { ids: [1] }],
    ['GET', '/points/1'],
    ['POST', '/points/delete', { points: [1] }],
    ['POST', '/points/payload', { points: [1], payload: {} }],
    ['PUT', '/points/payload', { points: [1], payload: {} }],
    ['POST', '/points/payload/delete', { points: [1], keys: ['a'] }],
    ['POST', '/points/payload/clear', { points: [1] }],
    ['PUT', '/points/vectors', { points: [] }],
    ['POST', '/points/search', { vector: [1, 0], limit: 1 }],
    ['POST', '/points/search/batch', { searches: [] }],
    ['POST', '/points/query', {}],
    ['POST', '/points/query/batch', { searches: [] }],
    ['POST', '/points/scroll', {}],
    ['POST', '/points/count', {}],
  ];

  it.each(routes)(
    '%s /collections/{bad}%s → 422 before anything else',
    async (method, rest, body) => {
      const res = await http(method, `/collections/bad%3Cname${rest}`, body);
      expect(res).toEqual({
        status: 422,
        body: validation('name', 'collection name cannot contain "<" char', 'path parameters'),
      });
    },
  );

  it('a name longer than 255 characters is refused on reads too', async () => {
    const res = await http('GET', `/collections/${'n'.repeat(256)}`);
    expect(res).toEqual({
      status: 422,
      body: validation('name', 'length must be between 1 and 255', 'path parameters'),
    });
  });
});

describe('a bad body on a missing collection is answered with the body error, as Qdrant does', () => {
  it.each([
    ['PUT', '/points', { points: 'all' }, 400],
    ['POST', '/points/search', { vector: [1, 0], limit: -1 }, 400],
    ['POST', '/points/search', { vector: [1, 0], limit: 0 }, 422],
    ['POST', '/points/query', { query: [1, 0], params: { hnsw_ef: -1 } }, 400],
    ['POST', '/points/scroll', { limit: 'ten' }, 400],
    ['PUT', '/index', { field_schema: 'keyword' }, 400],
    ['POST', '/points/payload', { points: [1] }, 400],
  ] as const)('%s %s → %s', async (method, rest, body, status) => {
    const res = await http(method, `/collections/nowhere${rest}`, body);
    expect(res.status).toBe(status);
    expect(JSON.stringify(res.body)).not.toContain("doesn't exist");
  });

  it('a good body on a missing collection is 404', async () => {
    const res = await http('POST', '/collections/nowhere/points/search', {
      vector: [1, 0],
      limit: 1,
    });
    expect(res).toEqual({
      status: 404,
      body: errorBody("Not found: Collection `nowhere` doesn't exist!"),
    });
  });
});

describe('nested payload paths', () => {
  const payload = {
    a: {
      b: [
        { c: 1, d: 2 },
        { c: 3, d: 4 },
      ],
      e: 5,
    },
    f: 6,
  };

  beforeAll(async () => {
    await fx.client.createCollection('nested', { vectors });
    await fx.client.upsert('nested', { wait: true, points: [{ id: 1, vector: [1, 0], payload }] });
  });
  const reset = () => fx.client.overwritePayload('nested', { points: [1], payload, wait: true });
  const stored = async () => (await fx.client.retrieve('nested', { ids: [1] }))[0]?.payload;

  it('with_payload include keeps only the paths named, through arrays', async () => {
    const pick = async (include: string[]) =>
      (await fx.client.retrieve('nested', { ids: [1], with_payload: { include } }))[0]?.payload;
    expect(await pick(['a.b[].c'])).toEqual({ a: { b: [{ c: 1 }, { c: 3 }] } });
    expect(await pick(['a.e', 'f'])).toEqual({ a: { e: 5 }, f: 6 });
    expect(await pick(['a.b[].c', 'a.b[].d'])).toEqual({ a: { b: payload.a.b } });
    expect(await pick(['a.b'])).toEqual({ a: { b: payload.a.b } });
    expect(await pick(['a.missing', 'nope'])).toEqual({});
    const hits = await fx.client.query('nested', {
      query: [1, 0],
      with_payload: ['a.b[].d'],
    });
    expect(hits.points[0]?.payload).toEqual({ a: { b: [{ d: 2 }, { d: 4 }] } });
  });

  it('with_payload exclude drops the paths named, through arrays', async () => {
    const drop = async (exclude: string[]) =>
      (await fx.client.scroll('nested', { with_payload: { exclude } })).points[0]?.payload;
    expect(await drop(['a.b[].c'])).toEqual({ a: { b: [{ d: 2 }, { d: 4 }], e: 5 }, f: 6 });
    expect(await drop(['a.e', 'f'])).toEqual({ a: { b: payload.a.b } });
    expect(await drop(['a.b'])).toEqual({ a: { e: 5 }, f: 6 });
  });

  it('delete_payload keys follow array paths', async () => {
    await fx.client.deletePayload('nested', { points: [1], keys: ['a.b[].d'], wait: true });
    expect(await stored()).toEqual({ a: { b: [{ c: 1 }, { c: 3 }], e: 5 }, f: 6 });
    await reset();
  });

  it('set_payload key may name an array element or every element', async () => {
    await fx.client.setPayload('nested', {
      points: [1],
      key: 'a.b[0]',
      payload: { x: 'first' },
      wait: true,
    });
    expect((await stored())?.a).toEqual({
      b: [
        { c: 1, d: 2, x: 'first' },
        { c: 3, d: 4 },
      ],
      e: 5,
    });
    await fx.client.setPayload('nested', {
      points: [1],
      key: 'a.b[]',
      payload: { y: 0 },
      wait: true,
    });
    expect((await stored())?.a).toMatchObject({
      b: [
        { c: 1, d: 2, x: 'first', y: 0 },
        { c: 3, d: 4, y: 0 },
      ],
    });
    await fx.client.setPayload('nested', {
      points: [1],
      key: 'a.b[7]',
      payload: { z: 1 },
      wait: true,
    });
    expect(JSON.stringify(await stored())).not.toContain('"z"');
    await fx.client.setPayload('nested', {
      points: [1],
      key: 'g.h',
      payload: { i: 1 },
      wait: true,
    });
    expect((await stored())?.g).toEqual({ h: { i: 1 } });
    await reset();
  });

  it('a malformed key is a format error and changes nothing', async () => {
    const res = await failureText(
      fx.client.setPayload('nested', { points: [1], key: 'a.b[x', payload: { x: 1 } }),
    );
    expect(res.status).toBe(400);
    expect(await stored()).toEqual(payload);
  });
});

describe('lookup_from', () => {
  beforeAll(async () => {
    await fx.client.createCollection('lk', { vectors });
    await fx.client.upsert('lk', { wait: true, points: [{ id: 1, vector: [1, 0] }] });
  });

  it.each([
    ['nearest id', { query: 1, lookup_from: { collection: 'ghost' } }],
    [
      'recommend',
      { query: { recommend: { positive: [1] } }, lookup_from: { collection: 'ghost' } },
    ],
    [
      'prefetch',
      {
        prefetch: { query: 1, lookup_from: { collection: 'ghost' } },
        query: { fusion: 'rrf' },
      },
    ],
  ])('naming a missing collection (%s) → 404', async (_, body) => {
    expect(await http('POST', '/collections/lk/points/query', body)).toEqual({
      status: 404,
      body: errorBody("Not found: Collection `ghost` doesn't exist!"),
    });
  });

  it('the legacy recommend endpoints answer the same', async () => {
    expect(
      await http('POST', '/collections/lk/points/recommend', {
        positive: [1],
        limit: 1,
        lookup_from: { collection: 'ghost' },
      }),
    ).toEqual({ status: 404, body: errorBody("Not found: Collection `ghost` doesn't exist!") });
  });
});

describe('telemetry', () => {
  it('GET /telemetry names the app and counts collections', async () => {
    const { data } = await fx.client.api().telemetry({});
    const names = (await fx.client.getCollections()).collections.length;
    expect(data).toMatchObject({
      status: 'ok',
      result: {
        id: expect.any(String),
        app: { name: 'qdrant', version: '1.18.0', startup: expect.any(String) },
        collections: { number_of_collections: names },
      },
    });
  });
});

describe('aliases', () => {
  beforeAll(async () => {
    await fx.client.createCollection('real', { vectors });
    await fx.client.upsert('real', { wait: true, points: [{ id: 7, vector: [1, 0] }] });
  });

  it('an alias reaches the collection for reads and writes, and is listed', async () => {
    expect(
      await fx.client.updateCollectionAliases({
        actions: [{ create_alias: { alias_name: 'nick', collection_name: 'real' } }],
      }),
    ).toBe(true);
    expect((await fx.client.getCollection('nick')).points_count).toBe(1);
    await fx.client.upsert('nick', { wait: true, points: [{ id: 8, vector: [0, 1] }] });
    expect((await fx.client.count('real')).count).toBe(2);
    expect((await fx.client.search('nick', { vector: [0, 1], limit: 1 }))[0]?.id).toBe(8);
    expect(await fx.client.getAliases()).toEqual({
      aliases: [{ alias_name: 'nick', collection_name: 'real' }],
    });
    expect(await fx.client.getCollectionAliases('real')).toEqual({
      aliases: [{ alias_name: 'nick', collection_name: 'real' }],
    });
    expect((await fx.client.collectionExists('nick')).exists).toBe(true);
    expect(await failureText(fx.client.createCollection('nick', { vectors }))).toEqual({
      status: 409,
      error: 'Wrong input: Alias `nick` already exists!',
    });
  });

  it('renames and deletes aliases; errors as Qdrant words them', async () => {
    await fx.client.updateCollectionAliases({
      actions: [{ rename_alias: { old_alias_name: 'nick', new_alias_name: 'handle' } }],
    });
    expect((await fx.client.getAliases()).aliases).toEqual([
      { alias_name: 'handle', collection_name: 'real' },
    ]);
    expect(
      await failureText(
        fx.client.updateCollectionAliases({
          actions: [{ create_alias: { alias_name: 'x', collection_name: 'ghost' } }],
        }),
      ),
    ).toEqual({ status: 404, error: "Not found: Collection `ghost` doesn't exist!" });
    expect(
      await failureText(
        fx.client.updateCollectionAliases({
          actions: [{ delete_alias: { alias_name: 'nick' } }],
        }),
      ),
    ).toEqual({ status: 404, error: 'Not found: Alias `nick` does not exists!' });
    expect(
      await failureText(
        fx.client.updateCollectionAliases({
          actions: [{ create_alias: { alias_name: 'real', collection_name: 'real' } }],
        }),
      ),
    ).toEqual({ status: 409, error: 'Wrong input: Collection `real` already exists!' });
    await fx.client.updateCollectionAliases({
      actions: [{ delete_alias: { alias_name: 'handle' } }],
    });
    expect((await fx.client.getAliases()).aliases).toEqual([]);
  });

  it('a failing action leaves the earlier actions of the request undone', async () => {
    const res = await failureText(
      fx.client.updateCollectionAliases({
        actions: [
          { create_alias: { alias_name: 'first', collection_name: 'real' } },
          { delete_alias: { alias_name: 'never-made' } },
        ],
      }),
    );
    expect(res.status).toBe(404);
    expect((await fx.client.getAliases()).aliases).toEqual([]);
  });

  it('deleting a collection deletes its aliases; aliases survive a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'qdrant-alias-'));
    try {
      const first = await startQdrantStandIn({ dataDir });
      const a = connect(first.url);
      await a.createCollection('c1', { vectors });
      await a.createCollection('c2', { vectors });
      await a.updateCollectionAliases({
        actions: [
          { create_alias: { alias_name: 'one', collection_name: 'c1' } },
          { create_alias: { alias_name: 'two', collection_name: 'c2' } },
        ],
      });
      await a.deleteCollection('c2');
      expect((await a.getAliases()).aliases).toEqual([
        { alias_name: 'one', collection_name: 'c1' },
      ]);
      await first.close();
      const second = await startQdrantStandIn({ dataDir });
      const b = connect(second.url);
      expect((await b.getAliases()).aliases).toEqual([
        { alias_name: 'one', collection_name: 'c1' },
      ]);
      expect((await b.getCollection('one')).status).toBe('green');
      await second.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('formula queries (score boosting)', () => {
  beforeAll(async () => {
    await fx.client.createCollection('fm', { vectors });
    await fx.client.upsert('fm', {
      wait: true,
      points: [
        {
          id: 1,
          vector: [1, 0],
          payload: { tag: 'h1', boost: 2, loc: { lat: 0, lon: 0 }, at: '2024-01-01T00:00:10Z' },
        },
        { id: 2, vector: [0.5, 0], payload: { tag: 'p' } },
        { id: 3, vector: [0, 1], payload: { tag: 'li', boost: 'x' } },
      ],
    });
  });
  type Formula = Record<string, unknown> | string | number;
  const ranked = async (formula: Formula, extra: Record<string, unknown> = {}) => {
    const res = await http('POST', '/collections/fm/points/query', {
      prefetch: { query: [1, 0], limit: 10 },
      query: { formula, ...extra },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const points = (res.body as { result: { points: { id: number; score: number }[] } }).result
      .points;
    return points.map((p) => [p.id, p.score]);
  };

  it('adds condition boosts to the prefetch score', async () => {
    expect(
      await ranked({
        sum: [
          '$score',
          { mult: [0.5, { key: 'tag', match: { any: ['h1', 'h2'] } }] },
          { mult: [0.25, { key: 'tag', match: { any: ['p', 'li'] } }] },
        ],
      }),
    ).toEqual([
      [1, 1.5],
      [2, 0.75],
      [3, 0.25],
    ]);
  });

  it('reads payload numbers, falling back on defaults', async () => {
    expect(await ranked({ mult: ['$score', 'boost'] }, { defaults: { boost: 10 } })).toEqual([
      [2, 5],
      [1, 2],
      [3, 0],
    ]);
  });

  it('$score[i] names the i-th prefetch', async () => {
    const res = await fx.client.query('fm', {
      prefetch: [
        { query: [1, 0], limit: 10 },
        { query: [0, 1], limit: 10 },
      ],
      query: { formula: { sum: ['$score[0]', { mult: [2, '$score[1]'] }] } },
    });
    expect(res.points.map((p) => [p.id, p.score])).toEqual([
      [3, 2],
      [1, 1],
      [2, 0.5],
    ]);
  });

  it('decays, geo distance, datetimes and division', async () => {
    const one = async (formula: Formula) => {
      const res = await fx.client.query('fm', {
        prefetch: { query: [1, 0], filter: { must: [{ has_id: [1] }] } },
        query: { formula } as never,
      });
      return res.points[0]?.score;
    };
    expect(await one({ exp_decay: { x: 'boost', scale: 2 } })).toBe(0.5);
    expect(await one({ gauss_decay: { x: 'boost', scale: 2 } })).toBe(0.5);
    expect(await one({ lin_decay: { x: 'boost', target: 0, scale: 4, midpoint: 0.5 } })).toBe(0.75);
    const metres = await one({ geo_distance: { origin: { lat: 0, lon: 1 }, to: 'loc' } });
    expect(metres).toBeCloseTo((6371088 * Math.PI) / 180, 0);
    expect(
      await one({ sum: [{ datetime_key: 'at' }, { neg: { datetime: '2024-01-01T00:00:00Z' } }] }),
    ).toBe(10);
    expect(await one({ div: { left: 1, right: 0, by_zero_default: 7 } })).toBe(7);
    expect(await one({ pow: { base: 'boost', exponent: 3 } })).toBe(8);
  });

  it('refuses what Qdrant refuses', async () => {
    const query = (body: unknown) => http('POST', '/collections/fm/points/query', body);
    expect((await query({ query: { formula: '$score' } })).status).toBe(400);
    for (const formula of [{ div: { left: 1, right: 0 } }, { sqrt: -1 }, { ln: 0 }]) {
      const res = await query({ prefetch: { query: [1, 0] }, query: { formula } });
      expect(res.status, JSON.stringify(formula)).toBe(400);
    }
    const bad = await query({ prefetch: { query: [1, 0] }, query: { formula: { bogus: 1 } } });
    expect(bad).toMatchObject({ status: 400, body: formatError });
  });
});
