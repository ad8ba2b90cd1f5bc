import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createGatewayLogger } from '../src/observability/logging.js';
import { type App, createApp } from '../src/yoga.js';
import { ingestDemoBook } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * Prometheus metrics at /metrics (requests and latency by operation, errors by code, store calls
 * by store and operation with latency, queue length, in-flight jobs, lock waits), the warm book
 * page that makes no Supabase call, and the request logs (request id, viewer, operation, duration;
 * never a token or a message's content).
 */

let gw: TestGateway;
const reader = randomUUID();
let token: string;
let bookId: string;
let characterId: string;
const apps: App[] = [];

const BOOK_PAGE = readFileSync(
  new URL('../client/operations/BookPage.graphql', import.meta.url),
  'utf8',
);
const SEND = readFileSync(
  new URL('../client/operations/SendMessage.graphql', import.meta.url),
  'utf8',
);
const CHAT_PAGE = readFileSync(
  new URL('../client/operations/ChatPage.graphql', import.meta.url),
  'utf8',
);

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
  token = await gw.token(reader);
  bookId = await ingestDemoBook(gw, reader);
  await gw.runtime.stopWorker(5000);
  const [c] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  characterId = c!.id;
}, 60_000);
afterAll(async () => {
  for (const app of apps) await app.dispose();
  await gw?.close();
});

async function scrape(app: App = gw.app): Promise<string> {
  const res = await app.fetch('http://gateway.test/metrics');
  expect(res.status).toBe(200);
  return res.text();
}

/** Sum of a metric's samples whose labels include all of `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const want = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (want) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function gql(app: App, query: string, variables: Record<string, unknown>, t = token) {
  const res = await app.fetch('http://gateway.test/graphql', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      authorization: `Bearer ${t}`,
    },
    body: JSON.stringify({ query, variables }),
  });
  return { res, body: (await res.json()) as { data?: any; errors?: any[] } };
}

async function newSession(): Promise<string> {
  const { body } = await gql(
    gw.app,
    'mutation ($c: ID!) { createChatSession(input: { characterId: $c }) { id } }',
    { c: characterId },
  );
  return body.data.createChatSession.id;
}

describe('/metrics', () => {
  it('a warm book page adds no Supabase call', async () => {
    await gql(gw.app, BOOK_PAGE, { id: bookId }); // warms the caches
    const before = await scrape();
    const { body } = await gql(gw.app, BOOK_PAGE, { id: bookId });
    expect(body.data.book.id).toBe(bookId);
    const after = await scrape();
    const supabase = (t: string) => sample(t, 'falsafa_store_calls_total', { store: 'supabase' });
    const redis = (t: string) => sample(t, 'falsafa_store_calls_total', { store: 'redis' });
    expect(supabase(after)).toBe(supabase(before));
    expect(redis(after)).toBeGreaterThan(redis(before)); // served from the Redis caches
    expect(
      sample(after, 'falsafa_graphql_requests_total', { operation: 'BookPage', status: '200' }) -
        sample(before, 'falsafa_graphql_requests_total', { operation: 'BookPage', status: '200' }),
    ).toBe(1);
  });

  it('counts requests and latency by operation, errors by code, store calls with latency', async () => {
    const sessionId = await newSession();
    await gql(gw.app, SEND, { sessionId, content: 'Who keeps the lamp?' });
    await gql(gw.app, SEND, { sessionId: randomUUID(), content: 'Anyone?' });
    await gql(gw.app, '{ books(first: 100000) { edges { cursor } } }', {});
    const text = await scrape();
    expect(sample(text, 'falsafa_graphql_requests_total', { operation: 'SendMessage' })).toBe(2);
    expect(
      sample(text, 'falsafa_graphql_request_duration_seconds_count', { operation: 'SendMessage' }),
    ).toBe(2);
    expect(text).toMatch(
      /falsafa_graphql_request_duration_seconds_bucket\{le="0\.5",operation="SendMessage",type="mutation"\}/,
    );
    expect(
      sample(text, 'falsafa_graphql_errors_total', { operation: 'SendMessage', code: 'NOT_FOUND' }),
    ).toBe(1);
    expect(
      sample(text, 'falsafa_graphql_errors_total', {
        operation: 'query:books',
        code: 'BAD_USER_INPUT',
      }),
    ).toBe(1);
    // Every store the turn used, by operation, with latency.
    for (const store of ['supabase', 'redis', 'qdrant', 'typesense', 'llm', 'embeddings']) {
      expect(sample(text, 'falsafa_store_calls_total', { store }), store).toBeGreaterThan(0);
      expect(
        sample(text, 'falsafa_store_call_duration_seconds_count', { store }),
        store,
      ).toBeGreaterThan(0);
    }
    expect(
      sample(text, 'falsafa_store_calls_total', { store: 'llm', op: 'generate' }),
    ).toBeGreaterThan(0);
    expect(sample(text, 'falsafa_session_lock_acquisitions_total')).toBeGreaterThan(0);
    expect(text).toContain('falsafa_session_locks_held 0');
  });

  it('counts a chat page served from the chat page cache as the same read as one that is not', async () => {
    const config = loadConfig({ ...gw.env, RESPONSE_CACHE_TTL_MS: '10000' });
    const app = createApp({ ...gw.deps, config });
    apps.push(app);
    const sessionId = await newSession();
    const before = await scrape(app);
    const first = await gql(app, CHAT_PAGE, { sessionId });
    const calls = gw.counter.snapshot();
    const second = await gql(app, CHAT_PAGE, { sessionId });
    expect(second.body).toEqual(first.body);
    // The second was the cached page: no Supabase call.
    const supabaseCalls = (snapshot: Record<string, number>) =>
      Object.entries(snapshot)
        .filter(([k]) => k.startsWith('supabase:'))
        .reduce((n, [, v]) => n + v, 0);
    expect(supabaseCalls(gw.counter.snapshot())).toBe(supabaseCalls(calls));
    const after = await scrape(app);
    const counted = (text: string) =>
      sample(text, 'falsafa_graphql_requests_total', {
        operation: 'ChatPage',
        type: 'query',
        status: '200',
      });
    expect(counted(after) - counted(before)).toBe(2);
    const invalid = (text: string) =>
      sample(text, 'falsafa_graphql_requests_total', { operation: 'invalid' });
    expect(invalid(after)).toBe(invalid(before));
  });

  it('shows the queue length and the worker in-flight jobs', async () => {
    const app = createApp(gw.deps, { worker: { inFlight: 2 } });
    apps.push(app);
    const job = JSON.stringify({
      job_id: 'metrics-test',
      type: 'process_book',
      book_id: randomUUID(),
    });
    await gw.redis.rpush('processing_queue', job, job, job);
    try {
      const text = await scrape(app);
      expect(sample(text, 'falsafa_queue_length')).toBe(3);
      expect(sample(text, 'falsafa_worker_inflight_jobs')).toBe(2);
    } finally {
      await gw.redis.del('processing_queue');
    }
  });

  it('counts GraphiQL page loads as operation="graphiql", not as invalid operations', async () => {
    const before = await scrape();
    for (let i = 0; i < 3; i++) {
      const page = await gw.app.fetch('http://gateway.test/graphql', {
        headers: { accept: 'text/html' },
      });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      await page.text();
    }
    const after = await scrape();
    const delta = (labels: Record<string, string>) =>
      sample(after, 'falsafa_graphql_requests_total', labels) -
      sample(before, 'falsafa_graphql_requests_total', labels);
    expect(delta({ operation: 'graphiql', type: 'none', status: '200' })).toBe(3);
    expect(delta({ operation: 'invalid' })).toBe(0);
  });

  it('counts lock waits: a second turn on the same session waits for the first', async () => {
    const sessionId = await newSession();
    const before = await scrape();
    const waited = (t: string) =>
      sample(t, 'falsafa_session_lock_acquisitions_total', { outcome: 'waited' });
    const results = await Promise.all([
      gql(gw.app, SEND, { sessionId, content: 'First question about the lamp?' }),
      gql(gw.app, SEND, { sessionId, content: 'Second question about the storm?' }),
    ]);
    for (const r of results) expect(r.body.errors).toBeUndefined();
    const after = await scrape();
    expect(waited(after) - waited(before)).toBe(1);
    expect(sample(after, 'falsafa_session_lock_wait_seconds_count')).toBeGreaterThan(
      sample(before, 'falsafa_session_lock_wait_seconds_count'),
    );
  });
});

describe('request logs', () => {
  it('carry the request id, viewer, operation and duration; never the token or the message', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
        done();
      },
    });
    const logger = createGatewayLogger('debug', {}, sink);
    const app = createApp({ ...gw.deps, logger });
    apps.push(app);
    const sessionId = await newSession();
    const secret = `the secret word is ${randomUUID()}`;
    const requestId = `req-${randomUUID().slice(0, 8)}`;
    const res = await app.fetch('http://gateway.test/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        'x-request-id': requestId,
      },
      body: JSON.stringify({
        query: SEND,
        variables: { sessionId, content: secret },
        operationName: 'SendMessage',
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe(requestId);
    // A failing one too: its error is logged with its code.
    await app.fetch('http://gateway.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: SEND, variables: { sessionId: 'nope', content: secret } }),
    });

    const done = lines.filter((l) => l.msg === 'request completed');
    expect(done).toHaveLength(2);
    expect(done[0]).toMatchObject({
      requestId,
      viewerId: reader,
      operationName: 'SendMessage',
      operation: 'SendMessage',
      operationType: 'mutation',
      status: 200,
    });
    expect(typeof done[0]!.durationMs).toBe('number');
    expect(done[1]).toMatchObject({ viewerId: reader, errorCodes: ['BAD_USER_INPUT'] });
    expect(done[1]!.requestId).not.toBe(requestId);
    // Every line (yoga's debug lines and the services' lines too) carries its request's id.
    expect(lines.length).toBeGreaterThan(done.length);
    for (const l of lines) expect(l.requestId, JSON.stringify(l)).toBeTypeOf('string');
    expect(lines.filter((l) => l.requestId === requestId).length).toBeGreaterThan(1);
    const all = JSON.stringify(lines);
    expect(all).not.toContain(token);
    expect(all).not.toContain(secret);
    expect(all).not.toMatch(/Bearer/);
  });
});
