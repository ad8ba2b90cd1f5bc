/**
 * The embedded Typesense stand-in, driven only through the official `typesense` client over real
 * HTTP: collections, documents, import, search (ranking, filters, sorting, paging), multi_search,
 * authentication and the error classes the client raises.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Errors } from 'typesense';
import type { CollectionCreateSchema } from 'typesense/lib/Typesense/Collections.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTypesenseStandIn, type TypesenseStandIn } from '../src/typesense/server.js';

const API_KEY = 'standin-test-key';

function clientFor(standIn: TypesenseStandIn, apiKey = API_KEY): Client {
  return new Client({
    nodes: [{ host: standIn.host, port: standIn.port, protocol: 'http' }],
    apiKey,
    connectionTimeoutSeconds: 5,
    numRetries: 0,
    logLevel: 'silent',
  });
}

const chunkSchema = (name: string): CollectionCreateSchema => ({
  name,
  fields: [
    { name: 'text', type: 'string' },
    { name: 'book_id', type: 'string', facet: true },
    { name: 'chunk_index', type: 'int32' },
    { name: 'tags', type: 'string[]', optional: true },
    { name: 'score', type: 'float', optional: true },
  ],
});

interface Chunk {
  id: string;
  text: string;
  book_id: string;
  chunk_index: number;
  tags?: string[];
  score?: number;
}

const CHUNKS: Chunk[] = [
  {
    id: 'b1:0',
    book_id: 'b1',
    chunk_index: 0,
    text: 'The old lighthouse keeper watched the stormy sea.',
  },
  {
    id: 'b1:1',
    book_id: 'b1',
    chunk_index: 1,
    text: 'A dragon slept beneath the castle, dreaming of gold.',
    tags: ['dragon'],
  },
  {
    id: 'b1:2',
    book_id: 'b1',
    chunk_index: 2,
    text: 'The knight rode to the castle at dawn.',
    score: 2.5,
  },
  {
    id: 'b1:3',
    book_id: 'b1',
    chunk_index: 3,
    text: 'Dragon, dragon! cried the villagers as the dragon flew over the castle.',
  },
  {
    id: 'b2:0',
    book_id: 'b2',
    chunk_index: 0,
    text: 'Café au lait and croissants in a Parisian morning.',
  },
  {
    id: 'b2:1',
    book_id: 'b2',
    chunk_index: 1,
    text: 'The philosopher argued about virtue and happiness.',
    score: 9,
  },
];

describe('Typesense stand-in through the official client', () => {
  let standIn: TypesenseStandIn;
  let client: Client;

  beforeAll(async () => {
    standIn = await startTypesenseStandIn({ apiKey: API_KEY, port: 0 });
    client = clientFor(standIn);
  });

  afterAll(async () => {
    await standIn.close();
  });

  describe('health and auth', () => {
    it('answers /health with {ok: true}', async () => {
      expect(await client.health.retrieve()).toEqual({ ok: true });
    });

    it('rejects a wrong API key with 401 and the Typesense message', async () => {
      const bad = clientFor(standIn, 'wrong-key');
      const error = await bad
        .collections()
        .retrieve()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Errors.RequestUnauthorized);
      expect((error as Errors.HTTPError).httpStatus).toBe(401);
      expect((error as Error).message).toContain(
        'Forbidden - a valid `x-typesense-api-key` header must be sent.',
      );
    });

    it('accepts the key as a query parameter too', async () => {
      const viaQuery = new Client({
        nodes: [{ host: standIn.host, port: standIn.port, protocol: 'http' }],
        apiKey: API_KEY,
        sendApiKeyAsQueryParam: true,
        numRetries: 0,
        logLevel: 'silent',
      });
      expect(Array.isArray(await viaQuery.collections().retrieve())).toBe(true);
    });

    it('counts requests and resets the counter', async () => {
      standIn.resetCounters();
      await client.health.retrieve();
      await client.health.retrieve();
      expect(standIn.requests.count).toBe(2);
    });
  });

  describe('collections', () => {
    it('creates, retrieves, lists and deletes a collection', async () => {
      const created = await client.collections().create(chunkSchema('crud'));
      expect(created.name).toBe('crud');
      expect(created.num_documents).toBe(0);
      expect(typeof created.created_at).toBe('number');
      const text = created.fields.find((f) => f.name === 'text');
      expect(text).toMatchObject({ type: 'string', facet: false, optional: false, index: true });

      const fetched = await client.collections('crud').retrieve();
      expect(fetched.fields.map((f) => f.name)).toEqual([
        'text',
        'book_id',
        'chunk_index',
        'tags',
        'score',
      ]);
      expect(await client.collections('crud').exists()).toBe(true);

      const listed = await client.collections().retrieve();
      expect(listed.map((c) => c.name)).toContain('crud');

      const dropped = await client.collections('crud').delete();
      expect(dropped.name).toBe('crud');
      expect(await client.collections('crud').exists()).toBe(false);
    });

    it('refuses a duplicate name with 409', async () => {
      await client.collections().create(chunkSchema('dup'));
      const error = await client
        .collections()
        .create(chunkSchema('dup'))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Errors.ObjectAlreadyExists);
      expect((error as Error).message).toContain('A collection with name `dup` already exists.');
    });

    it('raises ObjectNotFound (404 "Not Found") for a missing collection', async () => {
      const error = await client
        .collections('nope')
        .retrieve()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Errors.ObjectNotFound);
      expect((error as Errors.HTTPError).httpStatus).toBe(404);
      expect((error as Error).message).toContain('Not Found');
      await expect(client.collections('nope').delete()).rejects.toBeInstanceOf(
        Errors.ObjectNotFound,
      );
      await expect(
        client.collections('nope').documents().search({ q: '*' }),
      ).rejects.toBeInstanceOf(Errors.ObjectNotFound);
    });

    it('rejects a schema with an unknown field type with 400', async () => {
      const error = await client
        .collections()
        .create({ name: 'badtype', fields: [{ name: 'x', type: 'strang' as 'string' }] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Errors.RequestMalformed);
      expect((error as Error).message).toContain('invalid data type `strang`');
    });
  });

  describe('documents', () => {
    beforeEach(async () => {
      if (await client.collections('docs').exists()) await client.collections('docs').delete();
      await client.collections().create(chunkSchema('docs'));
    });

    it('creates, retrieves, updates, upserts and deletes a document', async () => {
      const docs = client.collections<Chunk>('docs').documents();
      const created = await docs.create({ id: 'b:1', text: 'hello', book_id: 'b', chunk_index: 1 });
      expect(created).toEqual({ id: 'b:1', text: 'hello', book_id: 'b', chunk_index: 1 });
      expect(await client.collections<Chunk>('docs').documents('b:1').retrieve()).toEqual(created);

      const updated = await client
        .collections<Chunk>('docs')
        .documents('b:1')
        .update({ text: 'bye' });
      expect(updated).toMatchObject({ id: 'b:1', text: 'bye', chunk_index: 1 });

      await docs.upsert({ id: 'b:1', text: 'again', book_id: 'b', chunk_index: 7 });
      expect(await client.collections<Chunk>('docs').documents('b:1').retrieve()).toMatchObject({
        text: 'again',
        chunk_index: 7,
      });

      const deleted = await client.collections<Chunk>('docs').documents('b:1').delete();
      expect(deleted.id).toBe('b:1');
      const error = await client
        .collections('docs')
        .documents('b:1')
        .retrieve()
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Errors.ObjectNotFound);
      expect((error as Error).message).toContain('Could not find a document with id: b:1');
    });

    it('refuses a duplicate id on create with 409', async () => {
      const docs = client.collections<Chunk>('docs').documents();
      await docs.create({ id: 'x', text: 'a', book_id: 'b', chunk_index: 0 });
      const error = await docs
        .create({ id: 'x', text: 'a', book_id: 'b', chunk_index: 0 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Errors.ObjectAlreadyExists);
      expect((error as Error).message).toContain('A document with id x already exists.');
    });

    it('validates required fields and types like Typesense', async () => {
      const docs = client.collections('docs').documents();
      const missing = await docs
        .create({ id: 'm', book_id: 'b', chunk_index: 0 })
        .catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(Errors.RequestMalformed);
      expect((missing as Error).message).toContain(
        'Field `text` has been declared in the schema, but is not found in the document.',
      );
      const wrongType = await docs
        .create({ id: 'w', text: 'a', book_id: 'b', chunk_index: 'three' })
        .catch((e: unknown) => e);
      expect((wrongType as Error).message).toContain('Field `chunk_index` must be an int32.');
      const badId = await docs
        .create({ id: 5, text: 'a', book_id: 'b', chunk_index: 0 })
        .catch((e: unknown) => e);
      expect((badId as Error).message).toContain("Document's `id` field should be a string.");
      const coerced = await docs.create(
        { id: 'c', text: 'a', book_id: 'b', chunk_index: '12' },
        { dirty_values: 'coerce_or_reject' },
      );
      expect((coerced as Chunk).chunk_index).toBe(12);
    });

    it('updating a missing document is a 404', async () => {
      const error = await client
        .collections('docs')
        .documents()
        .update({ id: 'ghost', text: 'x' }, {})
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Errors.ObjectNotFound);
    });

    it('imports JSONL with one result per line, in order, mixing success and failure', async () => {
      const docs = client.collections('docs').documents();
      const results = await docs.import(
        [
          { id: '1', text: 'one', book_id: 'b', chunk_index: 1 },
          { id: '2', book_id: 'b', chunk_index: 2 },
          { id: '3', text: 'three', book_id: 'b', chunk_index: 'x' },
          { id: '1', text: 'dup', book_id: 'b', chunk_index: 1 },
          { id: '4', text: 'four', book_id: 'b', chunk_index: 4 },
        ],
        { action: 'create', throwOnFail: false } as never,
      );
      expect(results.map((r) => r.success)).toEqual([true, false, false, false, true]);
      expect(results[1]).toMatchObject({
        success: false,
        code: 400,
        error: 'Field `text` has been declared in the schema, but is not found in the document.',
      });
      expect(JSON.parse((results[1] as unknown as { document: string }).document)).toMatchObject({
        id: '2',
      });
      expect(results[3]).toMatchObject({
        code: 409,
        error: 'A document with id 1 already exists.',
      });
      expect((await client.collections('docs').retrieve()).num_documents).toBe(2);
    });

    it('throws ImportError for failures by default, carrying the per-line results', async () => {
      const error = await client
        .collections('docs')
        .documents()
        .import([
          { id: 'a', text: 'ok', book_id: 'b', chunk_index: 1 },
          { id: 'b', text: 'missing index', book_id: 'b' },
        ])
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Errors.ImportError);
      expect((error as Errors.ImportError).importResults.map((r) => r.success)).toEqual([
        true,
        false,
      ]);
    });

    it('imports with upsert and update actions, and from a raw JSONL string', async () => {
      const docs = client.collections<Chunk>('docs').documents();
      await docs.import([{ id: 'u', text: 'first', book_id: 'b', chunk_index: 0 }]);
      await docs.import([{ id: 'u', text: 'second', book_id: 'b', chunk_index: 0 }], {
        action: 'upsert',
      });
      await docs.import([{ id: 'u', chunk_index: 5 }] as Chunk[], { action: 'update' });
      expect(await client.collections<Chunk>('docs').documents('u').retrieve()).toMatchObject({
        text: 'second',
        chunk_index: 5,
      });
      const raw = await docs.import(
        '{"id":"r1","text":"raw","book_id":"b","chunk_index":1}\n{"bad json"',
        {
          action: 'create',
        },
      );
      const lines = (raw as unknown as string).split('\n').map((l) => JSON.parse(l));
      expect(lines[0]).toEqual({ success: true });
      expect(lines[1]).toMatchObject({ success: false, error: 'Bad JSON.' });
    });

    it('exports JSONL and deletes by filter', async () => {
      const docs = client.collections<Chunk>('docs').documents();
      await docs.import(CHUNKS);
      const exported = await docs.export();
      expect(exported.split('\n').map((l) => JSON.parse(l).id)).toEqual(CHUNKS.map((c) => c.id));
      const filtered = await docs.export({ filter_by: 'book_id:=b2' });
      expect(filtered.split('\n')).toHaveLength(2);
      expect(await docs.delete({ filter_by: 'book_id:=b1 && chunk_index:>=2' })).toEqual({
        num_deleted: 2,
      });
      expect((await client.collections('docs').retrieve()).num_documents).toBe(4);
    });
  });

  describe('search', () => {
    beforeAll(async () => {
      await client.collections().create(chunkSchema('books'));
      await client.collections<Chunk>('books').documents().import(CHUNKS);
    });

    const books = () => client.collections<Chunk>('books').documents();

    it('ranks by text match, ties going to the newest document', async () => {
      const result = await books().search({ q: 'dragon castle', query_by: 'text' });
      expect(result.found).toBe(2);
      // both hold the two words 3 positions apart: the same score, so the newer one is first
      expect(result.hits?.map((h) => h.document.id)).toEqual(['b1:3', 'b1:1']);
      const [first, second] = result.hits ?? [];
      expect(first?.text_match).toBe(second?.text_match);
      expect(Number.isInteger(first?.text_match)).toBe(true);
      expect(first?.text_match_info).toMatchObject({ tokens_matched: 2, fields_matched: 1 });
      const closer = await books().search({ q: 'dragon slept', query_by: 'text' });
      expect(closer.hits?.map((h) => h.document.id)).toEqual(['b1:1']);
    });

    it('returns the spec shape with highlights', async () => {
      const result = await books().search({ q: 'lighthouse', query_by: 'text' });
      expect(result).toMatchObject({
        facet_counts: [],
        found: 1,
        out_of: 6,
        page: 1,
        request_params: { collection_name: 'books', per_page: 10, q: 'lighthouse' },
      });
      expect(typeof result.search_time_ms).toBe('number');
      const hit = result.hits?.[0];
      expect(hit?.highlights?.[0]).toMatchObject({
        field: 'text',
        matched_tokens: ['lighthouse'],
        snippet: 'The old <mark>lighthouse</mark> keeper watched the stormy sea.',
      });
      expect(hit?.highlight).toEqual({
        text: {
          matched_tokens: ['lighthouse'],
          snippet: 'The old <mark>lighthouse</mark> keeper watched the stormy sea.',
        },
      });
    });

    it('normalises case, diacritics and punctuation, and prefix-matches the last word', async () => {
      const accents = await books().search({ q: 'CAFE parisian', query_by: 'text' });
      expect(accents.hits?.map((h) => h.document.id)).toEqual(['b2:0']);
      const prefix = await books().search({ q: 'philos', query_by: 'text' });
      expect(prefix.hits?.map((h) => h.document.id)).toEqual(['b2:1']);
      const noPrefix = await books().search({
        q: 'philos',
        query_by: 'text',
        prefix: false,
        num_typos: 0,
      });
      expect(noPrefix.found).toBe(0);
    });

    it('drops words from the right when nothing matches them all', async () => {
      const result = await books().search({ q: 'knight zzzzqqq', query_by: 'text' });
      expect(result.hits?.map((h) => h.document.id)).toEqual(['b1:2']);
      expect(result.hits?.[0]?.text_match_info).toMatchObject({
        num_tokens_dropped: 1,
        tokens_matched: 1,
      });
    });

    it('lists everything for q=* and filters with equality, lists, negation and ranges', async () => {
      const all = await books().search({ q: '*' });
      expect(all.found).toBe(6);
      const ids = async (filter_by: string) =>
        (
          await books().search({ q: '*', filter_by, sort_by: 'chunk_index:asc', per_page: 50 })
        ).hits?.map((h) => h.document.id);
      expect(await ids('book_id:=b2')).toEqual(['b2:0', 'b2:1']);
      expect(await ids('book_id:[b2]')).toEqual(['b2:0', 'b2:1']);
      expect(await ids('book_id:!=b1')).toEqual(['b2:0', 'b2:1']);
      expect(await ids('chunk_index:>2')).toEqual(['b1:3']);
      expect(await ids('chunk_index:>=2 && book_id:b1')).toEqual(['b1:2', 'b1:3']);
      expect(await ids('chunk_index:[1..2] && book_id:=b1')).toEqual(['b1:1', 'b1:2']);
      // ties keep Typesense's implicit last clause: newest document first
      expect(await ids('chunk_index:<1')).toEqual(['b2:0', 'b1:0']);
      expect(await ids('(book_id:=b2 && chunk_index:1) || chunk_index:3')).toEqual([
        'b2:1',
        'b1:3',
      ]);
      expect(await ids('score:>2')).toEqual(['b2:1', 'b1:2']);
      expect(await ids('tags:=dragon')).toEqual(['b1:1']);
      expect(await ids('id:=[b1:0, b2:1]')).toEqual(['b1:0', 'b2:1']);
    });

    it('combines filter_by with a keyword query', async () => {
      const result = await books().search({
        q: 'castle',
        query_by: 'text',
        filter_by: 'chunk_index:<=2',
      });
      expect(result.hits?.map((h) => h.document.id).sort()).toEqual(['b1:1', 'b1:2']);
    });

    it('reports filter errors with Typesense messages', async () => {
      const unknown = await books()
        .search({ q: '*', filter_by: 'nope:=1' })
        .catch((e: unknown) => e);
      expect(unknown).toBeInstanceOf(Errors.ObjectNotFound);
      expect((unknown as Error).message).toContain(
        'Could not find a filter field named `nope` in the schema.',
      );
      const bad = await books()
        .search({ q: '*', filter_by: 'chunk_index:>abc' })
        .catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(Errors.RequestMalformed);
      expect((bad as Error).message).toContain(
        'Error with filter field `chunk_index`: Not an int32.',
      );
    });

    it('sorts by numeric fields, both ways', async () => {
      const asc = await books().search({ q: '*', sort_by: 'chunk_index:asc,score:desc' });
      expect(asc.hits?.map((h) => h.document.id)).toEqual([
        'b2:0',
        'b1:0',
        'b2:1',
        'b1:1',
        'b1:2',
        'b1:3',
      ]);
      const desc = await books().search({ q: '*', sort_by: 'chunk_index:desc' });
      expect(desc.hits?.[0]?.document.id).toBe('b1:3');
    });

    it('rejects sorting on an unsortable field with 404', async () => {
      const error = await books()
        .search({ q: '*', sort_by: 'text:asc' })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Errors.ObjectNotFound);
      expect((error as Error).message).toContain(
        'Could not find a field named `text` in the schema for sorting.',
      );
    });

    it('pages with page and per_page, and caps per_page at 250', async () => {
      const pages = await Promise.all(
        [1, 2, 3].map((page) =>
          books().search({ q: '*', sort_by: 'chunk_index:asc', page, per_page: 2 }),
        ),
      );
      expect(pages.map((p) => p.hits?.length)).toEqual([2, 2, 2]);
      expect(pages.map((p) => p.page)).toEqual([1, 2, 3]);
      const seen = pages.flatMap((p) => p.hits?.map((h) => h.document.id) ?? []);
      expect(new Set(seen).size).toBe(6);
      const empty = await books().search({ q: '*', page: 4, per_page: 2 });
      expect(empty.hits).toEqual([]);
      expect(empty.found).toBe(6);
      const error = await books()
        .search({ q: '*', per_page: 251 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Errors.ObjectUnprocessable);
      expect((error as Error).message).toContain('Only upto 250 hits can be fetched per page.');
    });

    it('applies include_fields and exclude_fields', async () => {
      const inc = await books().search({ q: '*', include_fields: 'id,chunk_index', per_page: 1 });
      expect(Object.keys(inc.hits?.[0]?.document ?? {}).sort()).toEqual(['chunk_index', 'id']);
      const exc = await books().search({ q: '*', exclude_fields: 'text', per_page: 1 });
      expect(exc.hits?.[0]?.document).not.toHaveProperty('text');
    });

    it('requires q and query_by like Typesense', async () => {
      const noQueryBy = await books()
        .search({ q: 'dragon' })
        .catch((e: unknown) => e);
      expect(noQueryBy).toBeInstanceOf(Errors.RequestMalformed);
      expect((noQueryBy as Error).message).toContain('No search fields specified for the query.');
      const badField = await books()
        .search({ q: 'dragon', query_by: 'nope' })
        .catch((e: unknown) => e);
      expect(badField).toBeInstanceOf(Errors.ObjectNotFound);
    });

    it('runs multi_search with common params and per-search errors', async () => {
      const { results } = await client.multiSearch.perform(
        {
          searches: [
            { collection: 'books', q: 'dragon', filter_by: 'chunk_index:1' },
            { collection: 'books', q: 'philosopher', per_page: 1 },
            { collection: 'missing', q: 'x' },
            { collection: 'books', q: 'dragon', filter_by: 'nope:1' },
            // as in Typesense, a query-string parameter wins over the same one in a search
            { collection: 'books', q: 'dragon', query_by: 'nope' },
          ],
        },
        { query_by: 'text' },
      );
      expect(results).toHaveLength(5);
      const [first, second, third, fourth, fifth] = results as unknown as Record<string, unknown>[];
      const hitIds = (result: Record<string, unknown> | undefined) =>
        ((result?.hits ?? []) as { document: Chunk }[]).map((h) => h.document.id);
      expect(hitIds(first)).toEqual(['b1:1']);
      expect(hitIds(second)).toEqual(['b2:1']);
      expect(third).toEqual({ code: 404, error: 'Not found.' });
      expect(fourth).toEqual({
        code: 404,
        error: 'Could not find a filter field named `nope` in the schema.',
      });
      expect(fifth).toMatchObject({ found: 2 });
    });
  });
});

describe('Typesense stand-in persistence', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'typesense-standin-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps collections and documents across a restart with the same dataDir', async () => {
    const first = await startTypesenseStandIn({ apiKey: API_KEY, dataDir });
    const c1 = clientFor(first);
    await c1.collections().create(chunkSchema('kept'));
    await c1.collections().create(chunkSchema('dropped'));
    await c1.collections<Chunk>('kept').documents().import(CHUNKS);
    await c1
      .collections<Chunk>('kept')
      .documents('b2:1')
      .update({ text: 'An updated passage about virtue.' });
    await c1.collections('kept').documents('b1:0').delete();
    await c1.collections('dropped').delete();
    await first.close();

    const second = await startTypesenseStandIn({ apiKey: API_KEY, dataDir });
    try {
      const c2 = clientFor(second);
      expect((await c2.collections().retrieve()).map((c) => c.name)).toEqual(['kept']);
      const info = await c2.collections('kept').retrieve();
      expect(info.num_documents).toBe(5);
      expect(info.fields.map((f) => f.name)).toEqual([
        'text',
        'book_id',
        'chunk_index',
        'tags',
        'score',
      ]);
      const hit = await c2
        .collections<Chunk>('kept')
        .documents()
        .search({ q: 'updated virtue', query_by: 'text' });
      expect(hit.hits?.map((h) => h.document.id)).toEqual(['b2:1']);
      const dragons = await c2
        .collections<Chunk>('kept')
        .documents()
        .search({ q: 'dragon', query_by: 'text' });
      expect(dragons.hits?.[0]?.document.id).toBe('b1:3');
      await expect(c2.collections('kept').documents('b1:0').retrieve()).rejects.toBeInstanceOf(
        Errors.ObjectNotFound,
      );
    } finally {
      await second.close();
    }
  });
});
