/**
 * More of the Typesense stand-in through the official client: typo tolerance, field weights,
 * exclusions, array highlighting, facets, dynamic (`.*`) schemas, emplace, update and delete by
 * filter, schema alteration, and writes reaching disk without an orderly close.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Errors } from 'typesense';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTypesenseStandIn, type TypesenseStandIn } from '../src/typesense/server.js';

const API_KEY = 'standin-features-key';

function clientFor(standIn: TypesenseStandIn): Client {
  return new Client({
    nodes: [{ host: standIn.host, port: standIn.port, protocol: 'http' }],
    apiKey: API_KEY,
    connectionTimeoutSeconds: 5,
    numRetries: 0,
    logLevel: 'silent',
  });
}

interface Book {
  id: string;
  title: string;
  author: string;
  genres: string[];
  year: number;
  in_print: boolean;
}

const BOOKS: Book[] = [
  {
    id: '1',
    title: 'Meditations',
    author: 'Marcus Aurelius',
    genres: ['philosophy', 'stoicism'],
    year: 180,
    in_print: true,
  },
  {
    id: '2',
    title: 'The Republic',
    author: 'Plato',
    genres: ['philosophy', 'politics'],
    year: -375,
    in_print: true,
  },
  {
    id: '3',
    title: 'Letters from a Stoic',
    author: 'Seneca',
    genres: ['stoicism', 'letters'],
    year: 65,
    in_print: false,
  },
  {
    id: '4',
    title: 'Plato and a Platypus',
    author: 'Thomas Cathcart',
    genres: ['humor', 'philosophy'],
    year: 2007,
    in_print: true,
  },
];

describe('Typesense stand-in features', () => {
  let standIn: TypesenseStandIn;
  let client: Client;

  beforeAll(async () => {
    standIn = await startTypesenseStandIn({ apiKey: API_KEY });
    client = clientFor(standIn);
    await client.collections().create({
      name: 'library',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'author', type: 'string' },
        { name: 'genres', type: 'string[]', facet: true },
        { name: 'year', type: 'int32', facet: true },
        { name: 'in_print', type: 'bool', facet: true },
      ],
      default_sorting_field: 'year',
    });
    await client.collections<Book>('library').documents().import(BOOKS);
  });

  afterAll(async () => {
    await standIn.close();
  });

  const library = () => client.collections<Book>('library').documents();

  it('tolerates typos when nothing matches exactly, and not when num_typos is 0', async () => {
    const typo = await library().search({ q: 'meditatoins', query_by: 'title' });
    expect(typo.hits?.map((h) => h.document.id)).toEqual(['1']);
    const strict = await library().search({ q: 'meditatoins', query_by: 'title', num_typos: 0 });
    expect(strict.found).toBe(0);
  });

  it('weights query_by fields with query_by_weights', async () => {
    // the author field equal to `plato` outranks any weight unless exact matches are not preferred
    const titleHeavy = await library().search({
      q: 'plato',
      query_by: 'title,author',
      query_by_weights: '10,1',
      prioritize_exact_match: false,
    });
    expect(titleHeavy.hits?.[0]?.document.id).toBe('4');
    const authorHeavy = await library().search({
      q: 'plato',
      query_by: 'title,author',
      query_by_weights: '1,10',
    });
    expect(authorHeavy.hits?.[0]?.document.id).toBe('2');
  });

  it('excludes documents with -word', async () => {
    const result = await library().search({ q: 'plato -platypus', query_by: 'title,author' });
    expect(result.hits?.map((h) => h.document.id)).toEqual(['2']);
  });

  it('highlights string[] fields in both formats', async () => {
    const result = await library().search({ q: 'stoicism', query_by: 'genres' });
    const hit = result.hits?.find((h) => h.document.id === '3');
    expect(hit?.highlights?.[0]).toEqual({
      field: 'genres',
      indices: [0],
      matched_tokens: [['stoicism']],
      snippets: ['<mark>stoicism</mark>'],
    });
    expect(hit?.highlight).toEqual({
      genres: [
        { matched_tokens: ['stoicism'], snippet: '<mark>stoicism</mark>' },
        { matched_tokens: [], snippet: 'letters' },
      ],
    });
  });

  it('uses the default sorting field, then text match order, and _text_match for wildcard is 100', async () => {
    const all = await library().search({ q: '*' });
    expect(all.hits?.map((h) => h.document.year)).toEqual([2007, 180, 65, -375]);
    expect(all.hits?.every((h) => h.text_match === 100)).toBe(true);
    const asc = await library().search({
      q: '*',
      sort_by: 'year:asc',
      offset: 1,
      limit: 2,
    } as never);
    expect((asc as { offset?: number }).offset).toBe(1);
    expect(asc.hits?.map((h) => h.document.year)).toEqual([65, 180]);
  });

  it('counts facets with stats and facet_query', async () => {
    const result = await library().search({ q: '*', facet_by: 'genres,year', max_facet_values: 2 });
    const genres = result.facet_counts?.find((f) => f.field_name === 'genres');
    expect(genres?.counts).toEqual([
      { count: 3, highlighted: 'philosophy', value: 'philosophy' },
      { count: 2, highlighted: 'stoicism', value: 'stoicism' },
    ]);
    const years = result.facet_counts?.find((f) => f.field_name === 'year');
    expect(years?.stats).toMatchObject({ min: -375, max: 2007, sum: 1877 });
    const queried = await library().search({
      q: '*',
      facet_by: 'genres',
      facet_query: 'genres:sto',
    });
    expect(queried.facet_counts?.[0]?.counts).toEqual([
      { count: 2, highlighted: '<mark>sto</mark>icism', value: 'stoicism' },
    ]);
    const error = await library()
      .search({ q: '*', facet_by: 'title' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Errors.ObjectNotFound);
    expect((error as Error).message).toContain(
      'Could not find a facet field named `title` in the schema.',
    );
  });

  it('filters on booleans and numeric lists', async () => {
    const ids = async (filter_by: string) =>
      (await library().search({ q: '*', filter_by })).hits?.map((h) => h.document.id).sort();
    expect(await ids('in_print:false')).toEqual(['3']);
    expect(await ids('in_print:!=false')).toEqual(['1', '2', '4']);
    expect(await ids('year:[<0, >2000]')).toEqual(['2', '4']);
    expect(await ids('genres:[humor, letters]')).toEqual(['3', '4']);
    expect(await ids('title:`Letters from a Stoic`')).toEqual(['3']);
    expect(await ids('title:!=`The Republic` && genres:philosophy')).toEqual(['1', '4']);
    const malformed = await library()
      .search({ q: '*', filter_by: '(year:>1' })
      .catch((e: unknown) => e);
    expect((malformed as Error).message).toContain(
      'Could not parse the filter query: unbalanced parentheses.',
    );
  });

  it('creates fields from a `.*` auto schema and generates ids', async () => {
    await client.collections().create({ name: 'auto', fields: [{ name: '.*', type: 'auto' }] });
    const docs = client.collections('auto').documents();
    const created = (await docs.create({ name: 'Ibn Rushd', born: 1126 })) as Record<
      string,
      unknown
    >;
    expect(created.id).toBe('0');
    const schema = await client.collections('auto').retrieve();
    expect(schema.fields.map((f) => [f.name, f.type])).toEqual([
      ['.*', 'auto'],
      ['name', 'string'],
      ['born', 'int64'],
    ]);
    const result = await docs.search({ q: 'rushd', query_by: 'name', filter_by: 'born:<1200' });
    expect(result.found).toBe(1);
  });

  it('emplaces, updates by filter and truncates', async () => {
    await client.collections().create({
      name: 'notes',
      fields: [
        { name: 'body', type: 'string' },
        { name: 'views', type: 'int32' },
      ],
    });
    const notes = client.collections('notes').documents();
    await notes.emplace({ id: 'n1', body: 'first note', views: 1 }, {});
    const emplaced = await notes.emplace({ id: 'n1', views: 5 }, {});
    expect(emplaced).toEqual({ id: 'n1', body: 'first note', views: 5 });
    await notes.create({ id: 'n2', body: 'second note', views: 0 });
    expect(await notes.update({ views: 9 }, { filter_by: 'views:<5' })).toEqual({ num_updated: 1 });
    expect((await client.collections('notes').documents('n2').retrieve()) as unknown).toMatchObject(
      { views: 9 },
    );
    expect(await notes.delete({ truncate: true } as never)).toEqual({ num_deleted: 2 });
    const missingFilter = await notes.delete({} as never).catch((e: unknown) => e);
    expect((missingFilter as Error).message).toContain('Parameter `filter_by` must be provided.');
  });

  it('alters a schema: adds and drops fields, validating existing documents', async () => {
    await client.collections().create({ name: 'alter', fields: [{ name: 'a', type: 'string' }] });
    await client.collections('alter').documents().create({ id: '1', a: 'alpha', b: 'beta' });
    await client.collections('alter').update({ fields: [{ name: 'b', type: 'string' }] });
    const found = await client
      .collections('alter')
      .documents()
      .search({ q: 'beta', query_by: 'b' });
    expect(found.found).toBe(1);
    const refused = await client
      .collections('alter')
      .update({ fields: [{ name: 'c', type: 'int32' }] })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Errors.RequestMalformed);
    expect((refused as Error).message).toContain('Field `c` has been declared in the schema');
    await client.collections('alter').update({ fields: [{ name: 'b', drop: true }] });
    expect((await client.collections('alter').retrieve()).fields.map((f) => f.name)).toEqual(['a']);
  });

  it('reports malformed multi_search bodies and parameters', async () => {
    const tooMany = await client.multiSearch
      .perform(
        {
          searches: [
            { collection: 'library', q: '*' },
            { collection: 'library', q: '*' },
          ],
        },
        {
          limit_multi_searches: 1,
        } as never,
      )
      .catch((e: unknown) => e);
    expect(tooMany).toBeInstanceOf(Errors.RequestMalformed);
    expect((tooMany as Error).message).toContain(
      'Number of multi searches exceeds `limit_multi_searches` parameter.',
    );
    const badParam = await client.multiSearch
      .perform({ searches: [{ collection: 'library', q: { nested: true } }] } as never)
      .catch((e: unknown) => e);
    expect((badParam as Error).message).toContain('One or more search parameters are malformed.');
  });
});

describe('Typesense stand-in persistence without an orderly close', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'typesense-standin-crash-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('flushes debounced writes on its own, and ignores stray temporary files', async () => {
    const first = await startTypesenseStandIn({ apiKey: API_KEY, dataDir });
    const c1 = clientFor(first);
    await c1.collections().create({ name: 'journal', fields: [{ name: 'entry', type: 'string' }] });
    await c1.collections('journal').documents().create({ id: 'j1', entry: 'a quiet day' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [dir] = await readdir(path.join(dataDir, 'collections'));
    await writeFile(
      path.join(dataDir, 'collections', dir ?? '', 'documents.jsonl.123.tmp'),
      '{"half',
    );

    // a second instance on the same directory, as after a crash of the first
    const second = await startTypesenseStandIn({ apiKey: API_KEY, dataDir });
    try {
      const doc = await clientFor(second).collections('journal').documents('j1').retrieve();
      expect(doc).toEqual({ id: 'j1', entry: 'a quiet day' });
    } finally {
      await second.close();
      await first.close();
    }
  });
});
