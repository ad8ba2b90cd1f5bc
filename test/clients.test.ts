import { createHash, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type App, createApp } from '../src/yoga.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * What browser clients depend on at the HTTP level: the CORS allowlist, requests that write
 * refused over GET, and automatic persisted queries shared by every instance through Redis.
 */

let gw: TestGateway;
const reader = randomUUID();
let token: string;
const extraApps: App[] = [];

beforeAll(async () => {
  gw = await startTestGateway();
  token = await gw.token(reader);
}, 60_000);
afterAll(async () => {
  for (const app of extraApps) await app.dispose();
  await gw?.close();
});

/** Another instance on the same stores and Redis, with settings changed. */
function variant(env: Record<string, string>, logger = gw.deps.logger): App {
  const config = loadConfig({ ...gw.env, ...env });
  const app = createApp({ ...gw.deps, config, logger });
  extraApps.push(app);
  return app;
}

function preflight(app: App, origin: string) {
  return app.fetch('http://gateway.test/graphql', {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });
}

function post(app: App, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return app.fetch('http://gateway.test/graphql', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      authorization: `Bearer ${token}`,
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

describe('CORS', () => {
  it('in production allows only the CORS_ORIGINS origins, without credentials, exposing x-request-id', async () => {
    const app = variant({ NODE_ENV: 'production', CORS_ORIGINS: 'https://app.example' });
    const other = await preflight(app, 'https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('access-control-allow-credentials')).toBeNull();

    const ok = await preflight(app, 'https://app.example');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
    expect(Number(ok.headers.get('access-control-max-age'))).toBeGreaterThan(0);

    const res = await post(app, { query: '{ viewer { id } }' }, { origin: 'https://app.example' });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase();
    expect(exposed.split(/\s*,\s*/)).toEqual(
      expect.arrayContaining(['x-request-id', 'retry-after']),
    );
    expect(res.headers.get('x-request-id')).toBeTruthy();

    const refused = await post(
      app,
      { query: '{ viewer { id } }' },
      { origin: 'https://evil.example' },
    );
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('in production with CORS_ORIGINS unset allows no origin, and the start log says so', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const app = variant({ NODE_ENV: 'production' }, pino({ level: 'info' }, sink));
    const res = await preflight(app, 'https://app.example');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(lines.join('')).toContain('no browser origin is allowed (CORS_ORIGINS is unset)');
  });

  it('sends the credentials flag only when CORS_CREDENTIALS=true', async () => {
    const app = variant({
      NODE_ENV: 'production',
      CORS_ORIGINS: 'https://app.example, https://admin.example',
      CORS_CREDENTIALS: 'true',
    });
    const res = await preflight(app, 'https://admin.example');
    expect(res.headers.get('access-control-allow-origin')).toBe('https://admin.example');
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
  });

  it('outside production with CORS_ORIGINS unset reflects any origin', async () => {
    const res = await preflight(gw.app, 'http://localhost:5173');
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('refuses a CORS_ORIGINS entry that is not an exact origin', () => {
    expect(() => loadConfig({ ...gw.env, CORS_ORIGINS: 'https://app.example/path' })).toThrow(
      /CORS_ORIGINS: "https:\/\/app.example\/path" is not an exact origin/,
    );
  });
});

describe('requests that write, over GET', () => {
  const STREAM = `subscription ($input: SendMessageInput!) {
    sendMessageStream(input: $input) { __typename }
  }`;
  let sessionId: string;

  beforeAll(async () => {
    const bookId = await gw.seed.book();
    const [characterId] = await gw.seed.characters(bookId, 1);
    sessionId = await gw.seed.session(reader, characterId!, bookId);
  });

  const messageCount = async () => {
    const [row] = await gw.db.sql<{ n: number }[]>`
      select count(*)::int as n from messages where session_id = ${sessionId}`;
    return row!.n;
  };

  it('refuses sendMessageStream over GET with 405 BAD_REQUEST and saves nothing', async () => {
    const url = new URL('http://gateway.test/graphql');
    url.searchParams.set('query', STREAM);
    url.searchParams.set(
      'variables',
      JSON.stringify({ input: { sessionId, content: 'Who are you?' } }),
    );
    const res = await gw.app.fetch(url, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${token}` },
    });
    const text = await res.text();
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(text).toContain('"code":"BAD_REQUEST"');
    expect(text).toContain('sendMessageStream writes and cannot be sent over GET');
    expect(await messageCount()).toBe(0);
  });

  it('still streams the same turn over POST (it saves both messages)', async () => {
    const res = await post(
      gw.app,
      { query: STREAM, variables: { input: { sessionId, content: 'Who are you?' } } },
      { accept: 'text/event-stream' },
    );
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toContain('TurnCompleted');
    expect(await messageCount()).toBe(2);
  });
});

describe('automatic persisted queries', () => {
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
  const persisted = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });

  it('follows the protocol across two instances sharing Redis, also over GET', async () => {
    const query = `query ApqViewer { viewer { id } }`;
    const hash = sha256(query);
    const a = gw.app;
    const b = variant({});

    const first = await post(a, { extensions: persisted(hash) });
    expect(first.status).toBe(400);
    expect(await first.json()).toMatchObject({
      errors: [{ extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } }],
    });

    const retry = await post(a, { query, extensions: persisted(hash) });
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual({ data: { viewer: { id: reader } } });
    expect(await gw.redis.get(`apq:${hash}`)).toBe(query);
    const ttl = await gw.redis.ttl(`apq:${hash}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(86_400);

    const other = await post(b, { extensions: persisted(hash) });
    expect(other.status).toBe(200);
    expect(await other.json()).toEqual({ data: { viewer: { id: reader } } });

    const url = new URL('http://gateway.test/graphql');
    url.searchParams.set('extensions', JSON.stringify(persisted(hash)));
    const viaGet = await b.fetch(url, {
      headers: { accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
    });
    expect(viaGet.status).toBe(200);
    expect(await viaGet.json()).toEqual({ data: { viewer: { id: reader } } });
  });

  it('refuses a hash that is not the query text’s SHA-256, storing nothing', async () => {
    const query = `query ApqWrong { viewer { id } }`;
    const wrong = sha256(`${query} `);
    const res = await post(gw.app, { query, extensions: persisted(wrong) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      errors: [{ extensions: { code: 'BAD_REQUEST' } }],
    });
    expect(await gw.redis.exists(`apq:${wrong}`, `apq:${sha256(query)}`)).toBe(0);

    const malformed = await post(gw.app, { query, extensions: persisted('abc') });
    expect(malformed.status).toBe(400);
  });

  it('runs a query over APQ_MAX_QUERY_BYTES without storing it', async () => {
    const app = variant({ APQ_MAX_QUERY_BYTES: '256' });
    const query = `query ApqLarge { viewer { id } ${'__typename '.repeat(30)}}`;
    const hash = sha256(query);
    const res = await post(app, { query, extensions: persisted(hash) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { viewer: { id: string } } }).data.viewer.id).toBe(
      reader,
    );
    expect(await gw.redis.exists(`apq:${hash}`)).toBe(0);
  });

  it('keeps TRUSTED_DOCUMENTS mode: a query text with a hash is refused', async () => {
    const app = variant({ TRUSTED_DOCUMENTS: 'true' });
    const query = `query ApqTrusted { viewer { id } }`;
    const res = await post(app, { query, extensions: persisted(sha256(query)) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      errors: [{ extensions: { code: 'PERSISTED_QUERY_ONLY' } }],
    });
    expect(await gw.redis.exists(`apq:${sha256(query)}`)).toBe(0);
  });
});

describe('Node: node(id:) and nodes(ids:)', () => {
  const NODE = `query ($id: ID!) {
    node(id: $id) {
      __typename id
      ... on Book { title }
      ... on Character { name }
      ... on ChatSession { sessionTitle: title }
      ... on Message { content }
    }
  }`;
  let ids: { book: string; character: string; session: string; message: string };
  let others: { session: string; message: string };

  beforeAll(async () => {
    const book = await gw.seed.book({ title: 'Node Book' });
    const [character] = await gw.seed.characters(book, 1);
    const session = await gw.seed.session(reader, character!, book, 'Mine');
    await gw.seed.messages(session, 1);
    const otherSession = await gw.seed.session(randomUUID(), character!, book, 'Theirs');
    await gw.seed.messages(otherSession, 1);
    const [m] = await gw.db.sql<{ id: string }[]>`
      select id from messages where session_id = ${session}`;
    const [o] = await gw.db.sql<{ id: string }[]>`
      select id from messages where session_id = ${otherSession}`;
    ids = { book, character: character!, session, message: m!.id };
    others = { session: otherSession, message: o!.id };
  });

  it('answers each of the four types by its raw id', async () => {
    const expected = [
      [ids.book, { __typename: 'Book', id: ids.book, title: 'Node Book' }],
      [ids.character, { __typename: 'Character', id: ids.character, name: 'Character 000' }],
      [ids.session, { __typename: 'ChatSession', id: ids.session, sessionTitle: 'Mine' }],
      [ids.message, { __typename: 'Message', id: ids.message, content: 'message 0' }],
    ] as const;
    for (const [id, node] of expected) {
      const res = await gw.gql(NODE, { id }, { token });
      expect(res.body).toEqual({ data: { node } });
    }
  });

  it("answers null for another reader's session and message, and for an unknown id", async () => {
    for (const id of [others.session, others.message, randomUUID()]) {
      const res = await gw.gql(NODE, { id }, { token });
      expect(res.body).toEqual({ data: { node: null } });
    }
  });

  it('nodes(ids:) answers in order, null where not found or not the reader’s', async () => {
    const res = await gw.gql(
      'query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }',
      { ids: [ids.message, others.message, ids.book, others.session, ids.session] },
      { token },
    );
    expect(res.body).toEqual({
      data: {
        nodes: [
          { __typename: 'Message', id: ids.message },
          null,
          { __typename: 'Book', id: ids.book },
          null,
          { __typename: 'ChatSession', id: ids.session },
        ],
      },
    });
  });

  it('refuses an id that is not a UUID with BAD_USER_INPUT', async () => {
    const res = await gw.gql(NODE, { id: 'Qm9vazox' }, { token });
    expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
