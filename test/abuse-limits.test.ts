import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Kind, type OperationDefinitionNode, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../schema/index.js';
import { loadConfig } from '../src/config.js';
import { limitSettings, operationCost } from '../src/security/limits.js';
import { loadTrustedDocuments } from '../src/security/trusted-documents.js';
import { type App, createApp } from '../src/yoga.js';
import { ingestDemoBook } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * The limits against the frontend's real operations (client/operations must pass the defaults
 * with the largest page sizes), the per-viewer rate limits (aliases, two instances, refunds, the
 * streamed turn), trusted documents, and what production mode turns off.
 */

let gw: TestGateway;
const reader = randomUUID();
let token: string;
let bookId: string;
let characterId: string;
const extraApps: App[] = [];

const OPS_DIR = new URL('../client/operations/', import.meta.url);
const operations = readdirSync(OPS_DIR)
  .filter((f) => f.endsWith('.graphql'))
  .map((f) => ({ file: f, text: readFileSync(new URL(f, OPS_DIR), 'utf8') }));

beforeAll(async () => {
  gw = await startTestGateway({
    worker: true,
    env: {
      RATE_LIMIT_ENABLED: 'true',
      RATE_LIMIT_MESSAGES: '3',
      RATE_LIMIT_SEARCHES: '3',
      LIMIT_MAX_ALIASES: '',
      LIMIT_MAX_TOKENS: '',
    },
  });
  token = await gw.token(reader);
  bookId = await ingestDemoBook(gw, reader);
  await gw.runtime.stopWorker(5000);
  const [c] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  characterId = c!.id;
}, 60_000);
afterAll(async () => {
  for (const app of extraApps) await app.dispose();
  await gw?.close();
});

/** Another app on the same stores and Redis (another instance), with settings changed. */
function variant(env: Record<string, string>): App {
  const config = loadConfig({ ...gw.env, ...env });
  const app = createApp({ ...gw.deps, config });
  extraApps.push(app);
  return app;
}

async function call(
  app: App,
  body: Record<string, unknown>,
  o: { token?: string | null; accept?: string } = {},
) {
  const bearer = o.token === undefined ? token : o.token;
  const res = await app.fetch('http://gateway.test/graphql', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: o.accept ?? 'application/graphql-response+json',
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { res, text, body: parseAny(text) };
}

function parseAny(text: string): {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
} {
  if (text.startsWith('{')) return JSON.parse(text);
  const events = text
    .split('\n')
    .filter((l) => l.startsWith('data:') && l.length > 6)
    .map((l) => JSON.parse(l.slice(5)));
  return { errors: events.flatMap((e) => e.errors ?? []), data: events.at(-1)?.data ?? null };
}

function variablesFor(op: OperationDefinitionNode, pageSize: number): Record<string, unknown> {
  const vars: Record<string, unknown> = {};
  for (const v of op.variableDefinitions ?? []) {
    const name = v.variable.name.value;
    if (name === 'first' || name === 'last') vars[name] = pageSize;
    else if (/Id$|^id$/.test(name)) vars[name] = randomUUID();
    else if (name === 'content') vars[name] = 'Hello';
    else if (name === 'input') vars[name] = { title: 'A book' };
    // Sent as JSON it arrives as `{}`: refused as BAD_USER_INPUT, not for its shape.
    else if (name === 'file') vars[name] = new File(['Once upon a time.'], 'book.txt');
    else if (name === 'title') vars[name] = 'A title';
  }
  return vars;
}

describe('operation limits and the real operations', () => {
  it('every operation of client/operations fits the default limits at the largest page size', async () => {
    const config = gw.deps.config;
    const settings = limitSettings(config);
    const report: Record<string, number> = {};
    for (const { file, text } of operations) {
      const document = parse(text);
      const op = document.definitions.find(
        (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
      )!;
      const variables = variablesFor(op, config.pageSize.max);
      const cost = operationCost(schema, document, op, variables, settings);
      expect(cost, file).not.toBeNull();
      expect(cost!, file).toBeLessThanOrEqual(config.security.limits.cost);
      report[file] = cost!;
      // And through the app: nothing refused for its shape (ids are random: NOT_FOUND is fine).
      const isSubscription = op.operation === 'subscription';
      const { body } = await call(
        gw.app,
        { query: text, variables },
        { accept: isSubscription ? 'text/event-stream' : undefined },
      );
      const codes = (body.errors ?? []).map((e) => e.extensions?.code);
      expect(codes, file).not.toContain('OPERATION_LIMIT_EXCEEDED');
      expect(codes, file).not.toContain('GRAPHQL_VALIDATION_FAILED');
      expect(codes, file).not.toContain('INTERNAL_SERVER_ERROR');
    }
    // The figures the defaults were chosen from (LIMIT_MAX_COST 5000).
    console.info('cost of each operation at the largest page size:', report);
    expect(Math.max(...Object.values(report))).toBeLessThan(config.security.limits.cost);
  });

  it('a page size multiplies: the same query costs more with a bigger page', () => {
    const settings = limitSettings(gw.deps.config);
    const document = parse(
      'query ($n: Int) { books(first: $n) { edges { node { characters { name } } } } }',
    );
    const op = document.definitions[0] as OperationDefinitionNode;
    const small = operationCost(schema, document, op, { n: 5 }, settings)!;
    const big = operationCost(schema, document, op, { n: 50 }, settings)!;
    expect(big).toBeGreaterThan(small * 8);
  });
});

describe('rate limits', () => {
  const SEND = 'mutation ($i: SendMessageInput!) { sendMessage(input: $i) { reply { id } } }';
  const newSession = async (t = token) => {
    const { body } = await call(
      gw.app,
      {
        query: 'mutation ($c: ID!) { createChatSession(input: { characterId: $c }) { id } }',
        variables: { c: characterId },
      },
      { token: t },
    );
    return (body.data?.createChatSession as { id: string }).id;
  };

  it('sendMessage and sendMessageStream share one bucket, aliases count, two instances share it', async () => {
    const user = randomUUID();
    const t = await gw.token(user);
    const sessionId = await newSession(t);
    const other = variant({}); // a second instance on the same Redis
    // One plain turn on this instance, one streamed turn on the other: 2 of 3.
    const first = await call(
      gw.app,
      { query: SEND, variables: { i: { sessionId, content: 'Who keeps the lamp?' } } },
      { token: t },
    );
    expect(first.body.errors).toBeUndefined();
    const streamed = await call(
      other,
      {
        query:
          'subscription ($i: SendMessageInput!) { sendMessageStream(input: $i) { __typename } }',
        variables: { i: { sessionId, content: 'And the storm?' } },
      },
      { token: t, accept: 'text/event-stream' },
    );
    expect(streamed.body.errors).toEqual([]);
    expect(await gw.redis.get(`ratelimit:messages:${user}`)).toBe('2');
    // Two aliased sends need two: refused whole, before anything runs.
    const twice = await call(
      other,
      {
        query: `mutation ($i: SendMessageInput!) { a: sendMessage(input: $i) { reply { id } } b: sendMessage(input: $i) { reply { id } } }`,
        variables: { i: { sessionId, content: 'Twice?' } },
      },
      { token: t },
    );
    expect(twice.res.status).toBe(429);
    expect(twice.body.errors?.[0]?.extensions).toMatchObject({
      code: 'RATE_LIMITED',
      bucket: 'messages',
    });
    expect(Number(twice.res.headers.get('retry-after'))).toBeGreaterThan(0);
    const [row] = await gw.db.sql<{ n: number }[]>`
      select count(*)::int as n from messages where session_id = ${sessionId}`;
    expect(row?.n).toBe(4);
    // The stream is limited the same way, in the stream.
    const third = await call(
      gw.app,
      { query: SEND, variables: { i: { sessionId, content: 'Third?' } } },
      { token: t },
    );
    expect(third.body.errors).toBeUndefined();
    const fourth = await call(
      gw.app,
      {
        query:
          'subscription ($i: SendMessageInput!) { sendMessageStream(input: $i) { __typename } }',
        variables: { i: { sessionId, content: 'Fourth?' } },
      },
      { token: t, accept: 'text/event-stream' },
    );
    expect(fourth.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  });

  it("a caller's mistakes are given back: bad input does not use up the window", async () => {
    const user = randomUUID();
    const t = await gw.token(user);
    const sessionId = await newSession(t);
    for (let i = 0; i < 10; i++) {
      const bad = await call(
        gw.app,
        { query: SEND, variables: { i: { sessionId, content: '   ' } } },
        { token: t },
      );
      expect(bad.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const missing = await call(
        gw.app,
        { query: SEND, variables: { i: { sessionId: randomUUID(), content: 'hi' } } },
        { token: t },
      );
      expect(missing.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
    expect(await gw.redis.exists(`ratelimit:messages:${user}`)).toBe(0);
    const ok = await call(
      gw.app,
      { query: SEND, variables: { i: { sessionId, content: 'Hello?' } } },
      { token: t },
    );
    expect(ok.body.errors).toBeUndefined();
    expect(await gw.redis.get(`ratelimit:messages:${user}`)).toBe('1');
    const ttl = await gw.redis.pttl(`ratelimit:messages:${user}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('searchBook, a query that embeds and reranks on every call, has its own bucket', async () => {
    const SEARCH =
      'query ($b: ID!, $q: String!) { searchBook(bookId: $b, query: $q) { chunkIndex } }';
    const key = `ratelimit:search:${reader}`;
    await gw.redis.del(key);
    // A search of a book that is not the reader's is their mistake: given back.
    for (let i = 0; i < 5; i++) {
      const missing = await call(gw.app, {
        query: SEARCH,
        variables: { b: randomUUID(), q: 'lamp' },
      });
      expect(missing.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
    expect(await gw.redis.exists(key)).toBe(0);
    // Two aliased searches take two of three, a third the last one.
    const both = await call(gw.app, {
      query:
        'query ($b: ID!) { a: searchBook(bookId: $b, query: "lamp") { chunkIndex } b: searchBook(bookId: $b, query: "storm") { chunkIndex } }',
      variables: { b: bookId },
    });
    expect(both.body.errors).toBeUndefined();
    expect(await gw.redis.get(key)).toBe('2');
    const third = await call(gw.app, { query: SEARCH, variables: { b: bookId, q: 'keeper' } });
    expect(third.body.errors).toBeUndefined();
    gw.counter.reset();
    const fourth = await call(gw.app, { query: SEARCH, variables: { b: bookId, q: 'bell' } });
    expect(fourth.res.status).toBe(429);
    expect(fourth.body.errors?.[0]?.extensions).toMatchObject({
      code: 'RATE_LIMITED',
      bucket: 'search',
    });
    expect(Number(fourth.res.headers.get('retry-after'))).toBeGreaterThan(0);
    // Refused before it ran: no embedding, no retriever, no store but the limiter's Redis call.
    const calls = Object.keys(gw.counter.snapshot());
    expect(
      calls.every((k) => k.startsWith('redis')),
      calls.join(', '),
    ).toBe(true);
    // Other queries are not limited, and another reader has their own window.
    const book = await call(gw.app, {
      query: 'query ($b: ID!) { book(id: $b) { id } }',
      variables: { b: bookId },
    });
    expect(book.body.errors).toBeUndefined();
    const other = await call(
      gw.app,
      { query: SEARCH, variables: { b: randomUUID(), q: 'lamp' } },
      { token: await gw.token(randomUUID()) },
    );
    expect(other.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});

describe('trusted documents', () => {
  const trusted = loadTrustedDocuments();
  const bookPageHash = [...trusted.byHash].find(([, d]) =>
    d.definitions.some((x) => x.kind === Kind.OPERATION_DEFINITION && x.name?.value === 'BookPage'),
  )![0];

  it('codegen hashed every operation of client/operations', () => {
    expect(trusted.byHash.size).toBe(operations.length);
    expect([...trusted.operationNames].sort()).toEqual(
      operations.map((o) => o.file.replace('.graphql', '')).sort(),
    );
  });

  it('when on, only those run: by documentId or by APQ hash; query texts and unknown hashes are refused', async () => {
    const app = variant({ TRUSTED_DOCUMENTS: 'true' });
    gw.counter.reset();
    const text = await call(app, { query: '{ viewer { id } }' });
    expect(text.res.status).toBe(400);
    expect(text.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_ONLY');
    const unknown = await call(app, { documentId: `sha256:${'0'.repeat(64)}` });
    expect(unknown.res.status).toBe(400);
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(gw.counter.snapshot()).toEqual({});

    const byId = await call(app, {
      documentId: `sha256:${bookPageHash}`,
      variables: { id: bookId },
    });
    expect(byId.body.errors).toBeUndefined();
    expect((byId.body.data?.book as { id: string }).id).toBe(bookId);
    const byApq = await call(app, {
      extensions: { persistedQuery: { version: 1, sha256Hash: bookPageHash } },
      variables: { id: bookId },
    });
    expect((byApq.body.data?.book as { id: string }).id).toBe(bookId);
  });
});

describe('production mode', () => {
  const INTROSPECTION = '{ __schema { queryType { name } } }';

  it('turns off introspection, field suggestions and GraphiQL', async () => {
    const app = variant({ NODE_ENV: 'production' });
    const intro = await call(app, { query: INTROSPECTION });
    expect(intro.res.status).toBe(400);
    expect(intro.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const typo = await call(app, { query: '{ viewr { id } }' });
    expect(typo.body.errors?.[0]?.message).not.toMatch(/Did you mean/);
    const page = await app.fetch('http://gateway.test/graphql', {
      headers: { accept: 'text/html' },
    });
    expect(await page.text()).not.toMatch(/<html/i);
  });

  it('each can be turned back on', async () => {
    const app = variant({
      NODE_ENV: 'production',
      GRAPHQL_INTROSPECTION: 'true',
      GRAPHQL_SUGGESTIONS: 'true',
      GRAPHIQL: 'true',
    });
    const intro = await call(app, { query: INTROSPECTION }, { token: null });
    expect(intro.body.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    const typo = await call(app, { query: '{ viewr { id } }' });
    expect(typo.body.errors?.[0]?.message).toMatch(/Did you mean "viewer"/);
    const page = await app.fetch('http://gateway.test/graphql', {
      headers: { accept: 'text/html' },
    });
    expect(await page.text()).toMatch(/<html/i);
  });

  it('development mode (the default) has all three', async () => {
    const intro = await call(gw.app, { query: INTROSPECTION }, { token: null });
    expect(intro.body.errors).toBeUndefined();
    const page = await gw.app.fetch('http://gateway.test/graphql', {
      headers: { accept: 'text/html' },
    });
    expect(await page.text()).toMatch(/<html/i);
  });
});
