/**
 * Conformance of the Typesense stand-in with Typesense's documented behaviour, through the official
 * `typesense` client over real HTTP: the text match ranking (each factor shown by crafted
 * documents), `text_match_info`, `text_match_type`, token dropping, typo and prefix settings per
 * field, and the document API's edge cases.
 */
import { Client } from 'typesense';
import type { CollectionCreateSchema } from 'typesense/lib/Typesense/Collections.js';
import type { SearchParams } from 'typesense/lib/Typesense/Documents.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTypesenseStandIn, type TypesenseStandIn } from '../src/typesense/server.js';

const API_KEY = 'standin-conformance-key';

interface Doc {
  id: string;
  title?: string;
  body?: string;
  popularity?: number;
}

/** The client's type of `text_match_info` lacks some of the fields Typesense sends. */
function info(hit: unknown): Record<string, unknown> {
  return ((hit as { text_match_info?: Record<string, unknown> }).text_match_info ?? {}) as Record<
    string,
    unknown
  >;
}

let standIn: TypesenseStandIn;
let client: Client;
let counter = 0;

beforeAll(async () => {
  standIn = await startTypesenseStandIn({ apiKey: API_KEY });
  client = new Client({
    nodes: [{ host: standIn.host, port: standIn.port, protocol: 'http' }],
    apiKey: API_KEY,
    connectionTimeoutSeconds: 5,
    numRetries: 0,
    logLevel: 'silent',
  });
});

afterAll(async () => {
  await standIn.close();
});

/** A fresh collection holding `docs`, written one by one in the given order (oldest first). */
async function collectionOf(docs: Doc[], extra: Partial<CollectionCreateSchema> = {}) {
  const name = `conformance_${++counter}`;
  await client.collections().create({
    name,
    fields: [
      { name: 'title', type: 'string', optional: true },
      { name: 'body', type: 'string', optional: true },
      { name: 'popularity', type: 'int32', optional: true },
    ],
    ...extra,
  });
  const documents = client.collections<Doc>(name).documents();
  for (const doc of docs) await documents.create(doc);
  const search = (params: Partial<SearchParams<Doc, string>>) =>
    documents.search({ q: '*', query_by: 'title,body', ...params });
  return {
    name,
    documents,
    search,
    ids: async (params: Partial<SearchParams<Doc, string>>) =>
      (await search(params)).hits?.map((h) => h.document.id),
  };
}

describe('text match ranking', () => {
  it('ranks documents matching more query words first, whatever their age', async () => {
    const c = await collectionOf([
      { id: 'all', body: 'alpha beta gamma' },
      { id: 'two', body: 'alpha beta' },
      { id: 'one', body: 'alpha' },
    ]);
    const result = await c.search({ q: 'alpha beta gamma', drop_tokens_threshold: 10 });
    expect(result.hits?.map((h) => h.document.id)).toEqual(['all', 'two', 'one']);
    expect(result.hits?.map((h) => h.text_match_info?.tokens_matched)).toEqual([3, 2, 1]);
    expect(result.hits?.map((h) => info(h).num_tokens_dropped)).toEqual([0, 1, 2]);
  });

  it('ranks fewer typos first', async () => {
    const c = await collectionOf([
      { id: 'exact', body: 'a colour wheel' },
      { id: 'typo', body: 'a color wheel' },
    ]);
    const result = await c.search({ q: 'colour', typo_tokens_threshold: 10, prefix: false });
    expect(result.hits?.map((h) => h.document.id)).toEqual(['exact', 'typo']);
    expect(result.hits?.map((h) => info(h).typo_prefix_score)).toEqual([0, 1]);
    // with the default threshold of 1, typo candidates are not tried once an exact match is found
    expect(await c.ids({ q: 'colour', prefix: false })).toEqual(['exact']);
  });

  it('ranks query words closer together first', async () => {
    const c = await collectionOf([
      { id: 'close', body: 'a red apple on the table' },
      { id: 'apart', body: 'red wine and a green apple' },
    ]);
    expect(await c.ids({ q: 'red apple' })).toEqual(['close', 'apart']);
    // the same distance in the other order counts the same
    const d = await collectionOf([
      { id: 'reversed', body: 'an apple red and ripe' },
      { id: 'in-order', body: 'a red apple and ripe' },
    ]);
    const result = await d.search({ q: 'red apple' });
    const [first, second] = result.hits ?? [];
    expect(first?.text_match_info?.score).toBe(second?.text_match_info?.score);
  });

  it('ranks a field equal to the query first with prioritize_exact_match, not without', async () => {
    const c = await collectionOf([
      { id: 'verbatim', title: 'moby dick' },
      { id: 'longer', title: 'moby dick the whale' },
    ]);
    expect(await c.ids({ q: 'moby dick' })).toEqual(['verbatim', 'longer']);
    // without it the two tie, and the newest document comes first
    expect(await c.ids({ q: 'moby dick', prioritize_exact_match: false })).toEqual([
      'longer',
      'verbatim',
    ]);
  });

  it('ranks a match in a heavier field first: query_by order, then query_by_weights', async () => {
    const c = await collectionOf([
      { id: 'in-title', title: 'the lantern room' },
      { id: 'in-body', body: 'the lantern room' },
    ]);
    const byOrder = await c.search({ q: 'lantern' });
    expect(byOrder.hits?.map((h) => h.document.id)).toEqual(['in-title', 'in-body']);
    expect(byOrder.hits?.map((h) => h.text_match_info?.best_field_weight)).toEqual([15, 14]);
    // weights out of descending order are ranked and normalised to 15, 14, ...
    const weighted = await c.search({ q: 'lantern', query_by_weights: '1,5' });
    expect(weighted.hits?.map((h) => h.document.id)).toEqual(['in-body', 'in-title']);
    expect(weighted.hits?.map((h) => h.text_match_info?.best_field_weight)).toEqual([15, 14]);
    // weights in descending order and at most 15 are used as given
    const given = await c.search({ q: 'lantern', query_by_weights: '4,2' });
    expect(given.hits?.map((h) => h.text_match_info?.best_field_weight)).toEqual([4, 2]);
  });

  it('breaks ties by the default sorting field, else newest first', async () => {
    const docs = [
      { id: 'p5', body: 'the same words', popularity: 5 },
      { id: 'p10', body: 'the same words', popularity: 10 },
      { id: 'p1', body: 'the same words', popularity: 1 },
    ];
    const sorted = await collectionOf(docs, {
      fields: [
        { name: 'body', type: 'string' },
        { name: 'popularity', type: 'int32' },
      ],
      default_sorting_field: 'popularity',
    });
    const ids = async (params: Partial<SearchParams<Doc, string>>) =>
      (await sorted.documents.search({ q: '*', query_by: 'body', ...params })).hits?.map(
        (h) => h.document.id,
      );
    expect(await ids({ q: 'same words' })).toEqual(['p10', 'p5', 'p1']);
    const unsorted = await collectionOf(docs);
    expect(await unsorted.ids({ q: 'same words' })).toEqual(['p1', 'p10', 'p5']);
    // an explicit sort_by puts text match after it
    expect(await ids({ q: 'same words', sort_by: 'popularity:asc' })).toEqual(['p1', 'p5', 'p10']);
  });

  it('ranks earlier words first with prioritize_token_position', async () => {
    const c = await collectionOf([
      { id: 'early', body: 'lantern in the hall' },
      { id: 'late', body: 'in the hall a lantern' },
    ]);
    expect(await c.ids({ q: 'lantern' })).toEqual(['late', 'early']);
    expect(await c.ids({ q: 'lantern', prioritize_token_position: true })).toEqual([
      'early',
      'late',
    ]);
  });

  it('ranks more matching fields first with prioritize_num_matching_fields', async () => {
    const c = await collectionOf([
      { id: 'both', title: 'harbour lights', body: 'harbour at night' },
      { id: 'one', title: 'harbour lights' },
    ]);
    const result = await c.search({ q: 'harbour' });
    expect(result.hits?.map((h) => h.document.id)).toEqual(['both', 'one']);
    expect(result.hits?.map((h) => h.text_match_info?.fields_matched)).toEqual([2, 1]);
    expect(await c.ids({ q: 'harbour', prioritize_num_matching_fields: false })).toEqual([
      'one',
      'both',
    ]);
  });
});

describe('text_match and text_match_info', () => {
  it('reports the 64-bit score exactly, with the info fields read from its layout', async () => {
    const c = await collectionOf([{ id: 'x', title: 'silver moon', body: 'a silver night' }]);
    const response = await fetch(
      `${standIn.url}/collections/${c.name}/documents/search?q=silver%20moon&query_by=title,body`,
      { headers: { 'x-typesense-api-key': API_KEY } },
    );
    const text = await response.text();
    const raw = /"text_match":(\d+)/.exec(text)?.[1] as string;
    const info = (JSON.parse(text) as { hits: { text_match_info: Record<string, unknown> }[] })
      .hits[0]?.text_match_info as Record<string, unknown>;
    expect(Object.keys(info)).toEqual([
      'best_field_score',
      'best_field_weight',
      'fields_matched',
      'num_tokens_dropped',
      'score',
      'tokens_matched',
      'typo_prefix_score',
    ]);
    expect(info.score).toBe(raw);
    const score = BigInt(raw);
    expect(score >> 59n).toBe(2n);
    expect(info).toMatchObject({
      best_field_score: String((score >> 11n) & ((1n << 48n) - 1n)),
      best_field_weight: 15,
      fields_matched: 2,
      num_tokens_dropped: 0,
      tokens_matched: 2,
      typo_prefix_score: 0,
    });
    // the title's score: 2 words in the window, 2 in the field, no typo, distance 1, verbatim
    expect(BigInt(info.best_field_score as string)).toBe(
      (2n << 40n) | (2n << 32n) | (255n << 24n) | (99n << 16n) | (1n << 8n),
    );
  });

  it('scores by the best field (max_score) or by the heaviest matching field (max_weight)', async () => {
    const c = await collectionOf([
      { id: 'body-close', title: 'moon', body: 'silver moon' },
      { id: 'title-apart', title: 'silver and the moon', body: 'nothing here' },
    ]);
    const maxScore = await c.search({ q: 'silver moon', text_match_type: 'max_score' });
    expect(maxScore.hits?.map((h) => h.document.id)).toEqual(['body-close', 'title-apart']);
    expect(maxScore.hits?.[0]?.text_match_info?.best_field_weight).toBe(14);
    const maxWeight = await c.search({ q: 'silver moon', text_match_type: 'max_weight' });
    expect(maxWeight.hits?.map((h) => h.document.id)).toEqual(['title-apart', 'body-close']);
    expect(maxWeight.hits?.map((h) => h.text_match_info?.best_field_weight)).toEqual([15, 15]);
    const score = BigInt(maxWeight.hits?.[0]?.text_match_info?.score as string);
    expect((score >> 51n) & 0xffn).toBe(15n);
  });

  it('gives wildcard hits the fixed text match 100', async () => {
    const c = await collectionOf([{ id: 'a', body: 'anything' }]);
    const result = await c.search({ q: '*' });
    expect(result.hits?.[0]?.text_match).toBe(100);
  });
});

describe('drop_tokens_threshold, num_typos and prefix', () => {
  const docs = [
    { id: 'one-two', body: 'one two' },
    { id: 'two-three', body: 'two three' },
    { id: 'three', body: 'three' },
    { id: 'one', body: 'one' },
  ];

  it('drops words from the right, then from the left, until enough documents match', async () => {
    const c = await collectionOf(docs);
    const q = 'one two three';
    expect(await c.ids({ q })).toEqual(['one-two']);
    // "one two" finds one document; "one" makes two
    expect(await c.ids({ q, drop_tokens_threshold: 2 })).toEqual(['one-two', 'one']);
    // then from the left: "two three", "three"
    const all = await c.search({ q, drop_tokens_threshold: 10 });
    expect(all.hits?.map((h) => h.document.id)).toEqual(['two-three', 'one-two', 'one', 'three']);
    expect(all.hits?.map((h) => info(h).num_tokens_dropped)).toEqual([1, 1, 2, 2]);
    expect(await c.ids({ q, drop_tokens_mode: 'left_to_right' } as never)).toEqual(['two-three']);
    expect(await c.ids({ q, drop_tokens_threshold: 0 })).toEqual([]);
  });

  it('applies num_typos per field, and not below min_len_1typo', async () => {
    const c = await collectionOf([
      { id: 't', title: 'lantern' },
      { id: 'b', body: 'lantern' },
    ]);
    expect(await c.ids({ q: 'lantrn', num_typos: 0 })).toEqual([]);
    expect(await c.ids({ q: 'lantrn', num_typos: 1 })).toEqual(['t', 'b']);
    expect(await c.ids({ q: 'lantrn', num_typos: '0,1' })).toEqual(['b']);
    expect(await c.ids({ q: 'lantrn', min_len_1typo: 7 } as never)).toEqual([]);
  });

  it('applies prefix per field', async () => {
    const c = await collectionOf([
      { id: 't', title: 'lanterns' },
      { id: 'b', body: 'lanterns' },
    ]);
    expect(await c.ids({ q: 'lant', num_typos: 0 })).toEqual(['t', 'b']);
    expect(await c.ids({ q: 'lant', num_typos: 0, prefix: 'true,false' })).toEqual(['t']);
    expect(await c.ids({ q: 'lant', num_typos: 0, prefix: 'false,true' })).toEqual(['b']);
    expect(await c.ids({ q: 'lant', num_typos: 0, prefix: false })).toEqual([]);
  });
});

describe('phrases and exclusions in q', () => {
  const docs = [
    { id: 'phrase', body: 'a red apple fell' },
    { id: 'reversed', body: 'an apple red and ripe' },
    { id: 'apart', body: 'red and big apple' },
    { id: 'wine', body: 'red wine' },
  ];

  it('keeps only documents holding a quoted phrase as consecutive words', async () => {
    const c = await collectionOf(docs);
    expect(await c.ids({ q: '"red apple"' })).toEqual(['phrase']);
    expect(await c.ids({ q: '"red apple" fell' })).toEqual(['phrase']);
    expect(await c.ids({ q: '"apple red"' })).toEqual(['reversed']);
    // an unclosed quote is a plain word
    expect(await c.ids({ q: '"wine' })).toEqual(['wine']);
  });

  it('removes documents holding an excluded word or an excluded phrase', async () => {
    const c = await collectionOf(docs);
    expect(await c.ids({ q: 'red -wine', drop_tokens_threshold: 0 })).toEqual([
      'apart',
      'reversed',
      'phrase',
    ]);
    expect(await c.ids({ q: 'red -"red apple"' })).toEqual(['wine', 'apart', 'reversed']);
    expect(await c.ids({ q: '-apple' })).toEqual(['wine']);
  });
});

describe('documents API', () => {
  it('answers a delete of a missing document with its id when ignore_not_found is true', async () => {
    const c = await collectionOf([{ id: 'kept', body: 'x' }]);
    await expect(c.documents.search({ q: '*' })).resolves.toMatchObject({ found: 1 });
    const doc = client.collections<Doc>(c.name).documents('missing');
    await expect(doc.delete()).rejects.toMatchObject({ httpStatus: 404 });
    await expect(doc.delete({ ignore_not_found: true } as never)).resolves.toEqual({
      id: 'missing',
    });
    await expect(
      client
        .collections<Doc>(c.name)
        .documents('kept')
        .delete({ ignore_not_found: true } as never),
    ).resolves.toEqual({ body: 'x', id: 'kept' });
  });

  it('writes import result lines as Typesense does, with return_doc and return_id', async () => {
    const c = await collectionOf([{ id: 'taken', body: 'x' }]);
    const jsonl = [
      '{"title":"T","id":"new","body":"B"}',
      '{"id":"taken","body":"again"}',
      '{"id":"bad","popularity":"many"}',
      '{not json',
    ].join('\n');
    const plain = await c.documents.import(jsonl);
    expect(plain.split('\n')).toEqual([
      '{"success":true}',
      `{"code":409,"document":${JSON.stringify('{"id":"taken","body":"again"}')},"error":"A document with id taken already exists.","success":false}`,
      `{"code":400,"document":${JSON.stringify('{"id":"bad","popularity":"many"}')},"error":"Field \`popularity\` must be an int32.","success":false}`,
      `{"code":400,"document":"{not json","error":"Bad JSON.","success":false}`,
    ]);
    const returned = await c.documents.import(
      '{"id":"n2","title":"T","body":"B"}\n{"id":"taken"}',
      {
        return_doc: true,
        return_id: true,
      },
    );
    expect(returned.split('\n')).toEqual([
      '{"document":{"body":"B","id":"n2","title":"T"},"id":"n2","success":true}',
      `{"code":409,"document":${JSON.stringify('{"id":"taken"}')},"error":"A document with id taken already exists.","id":"taken","success":false}`,
    ]);
  });

  it('exports and returns documents with their keys in sorted order, id among them', async () => {
    const c = await collectionOf([]);
    const created = await c.documents.create({ title: 'T', id: 'k', popularity: 3, body: 'B' });
    expect(Object.keys(created)).toEqual(['body', 'id', 'popularity', 'title']);
    await c.documents.create({ popularity: 1, body: 'no id' } as Doc);
    expect((await c.documents.export()).split('\n')).toEqual([
      '{"body":"B","id":"k","popularity":3,"title":"T"}',
      '{"body":"no id","id":"1","popularity":1}',
    ]);
    const fetched = await client.collections<Doc>(c.name).documents('k').retrieve();
    expect(Object.keys(fetched)).toEqual(['body', 'id', 'popularity', 'title']);
    const hit = (await c.documents.search({ q: 'B', query_by: 'body' })).hits?.[0];
    expect(Object.keys(hit?.document ?? {})).toEqual(['body', 'id', 'popularity', 'title']);
  });
});
