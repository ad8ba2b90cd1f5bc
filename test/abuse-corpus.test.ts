import { randomUUID } from 'node:crypto';
import { signSupabaseJwt } from '@falsafa/standins';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/yoga.js';
import { ingestDemoBook } from './support/books.js';
import { startTestGateway, TEST_JWT_SECRET, type TestGateway } from './support/gateway.js';
import { type StoreSnapshot, storeSnapshot } from './support/snapshot.js';

/**
 * The bad-request corpus: each request gets its documented HTTP status and error code, never a
 * 500, and leaves every store as it was (table rows, Redis keys and values, Qdrant and Typesense
 * counts compared before and after). Requests refused before execution must not even touch a
 * store (the store-call counter stays empty). Rate limits and the default operation limits are on.
 */

let gw: TestGateway;
const reader = randomUUID();
const stranger = randomUUID();
let token: string;
let strangerToken: string;
let bookId: string;
let characterId: string;
let sessionId: string;
let strangerSessionId: string;
let strangerBookId: string;
let replyId: string;
let strangerReplyId: string;

const URL_ = 'http://gateway.test/graphql';
const GQL_ACCEPT = 'application/graphql-response+json';

beforeAll(async () => {
  gw = await startTestGateway({
    worker: true,
    // The production defaults, not the test gateway's loosened ones.
    env: { RATE_LIMIT_ENABLED: 'true', LIMIT_MAX_ALIASES: '', LIMIT_MAX_TOKENS: '' },
  });
  token = await gw.token(reader);
  strangerToken = await gw.token(stranger);
  bookId = await ingestDemoBook(gw, reader);
  await gw.runtime.stopWorker(5000); // nothing in the background from here on
  const [c] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  characterId = c!.id;
  sessionId = await gw.seed.session(reader, characterId, bookId);
  strangerSessionId = await gw.seed.session(stranger, characterId, bookId);
  strangerBookId = await gw.seed.book({ userId: stranger, status: 'pending' });
  await gw.db.sql`update books set storage_path = 'x/y.txt' where id = ${strangerBookId}`;
  const turn = await gw.gql(
    'mutation ($s: ID!) { sendMessage(input: { sessionId: $s, content: "Who keeps the lamp?" }) { reply { id } } }',
    { s: sessionId },
    { token },
  );
  expect(turn.body.errors).toBeUndefined();
  replyId = (turn.body.data?.sendMessage as { reply: { id: string } }).reply.id;
  const theirs = await gw.db.sql<{ id: string; role: string }[]>`
    insert into messages (session_id, role, content, created_at) values
      (${strangerSessionId}, 'user', 'Who keeps the lamp?', now() - interval '1 second'),
      (${strangerSessionId}, 'assistant', 'I do.', now())
    returning id, role`;
  strangerReplyId = theirs.find((m) => m.role === 'assistant')!.id;
  // Fill the read-through caches the corpus may read, so reads do not count as changes.
  for (const id of [bookId, strangerBookId]) {
    await gw.gql('query ($id: ID!) { book(id: $id) { id characters { id } } }', { id }, { token });
  }
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

interface Case {
  name: string;
  send: () => Response | Promise<Response>;
  status: number;
  code: string;
  /** Refused before execution: no store may be touched at all. */
  beforeExecution?: boolean;
}

function post(body: BodyInit, headers: Record<string, string>, init: RequestInit = {}) {
  return gw.app.fetch(URL_, {
    method: 'POST',
    headers: { accept: GQL_ACCEPT, ...headers },
    body,
    ...init,
  });
}

function gqlRequest(
  query: string,
  variables: Record<string, unknown> = {},
  o: { token?: string | null; headers?: Record<string, string> } = {},
) {
  const bearer = o.token === undefined ? token : o.token;
  return post(JSON.stringify({ query, variables }), {
    'content-type': 'application/json',
    ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
    ...o.headers,
  });
}

const forged = () =>
  new SignJWT({ role: 'authenticated' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(reader)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('another-projects-secret-0123456789-abcdef'));

const unsigned = () => {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ sub: reader, role: 'authenticated', exp: 4e9 })}.`;
};

function multipart(fileBytes: number, query: string): { body: string; type: string } {
  const boundary = 'falsafa-corpus-boundary';
  const ops = JSON.stringify({ query, variables: { f: null } });
  const body = [
    `--${boundary}`,
    'Content-Disposition: form-data; name="operations"',
    '',
    ops,
    `--${boundary}`,
    'Content-Disposition: form-data; name="map"',
    '',
    '{"0":["variables.f"]}',
    `--${boundary}`,
    'Content-Disposition: form-data; name="0"; filename="book.txt"',
    'Content-Type: text/plain',
    '',
    'x'.repeat(fileBytes),
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

const SEND = 'mutation ($i: SendMessageInput!) { sendMessage(input: $i) { reply { id } } }';
const CREATE =
  'mutation ($i: CreateChatSessionInput!) { createChatSession(input: $i) { id title } }';
const RENAME =
  'mutation ($i: RenameChatSessionInput!) { renameChatSession(input: $i) { id title } }';
const DELETE_SESSION =
  'mutation ($i: DeleteChatSessionInput!) { deleteChatSession(input: $i) { deletedSessionId } }';
const SET_POSITION =
  'mutation ($i: SetReadingPositionInput!) { setReadingPosition(input: $i) { id } }';
const REGENERATE =
  'mutation ($i: RegenerateReplyInput!) { regenerateReply(input: $i) { reply { id } } }';
const EDIT = 'mutation ($i: EditMessageInput!) { editMessage(input: $i) { reply { id } } }';
const SELECT_BRANCH = 'mutation ($i: SelectBranchInput!) { selectBranch(input: $i) { id } }';
/** Sends while another turn holds the reader's session lock, then lets it go. */
async function whileLocked(send: () => Response | Promise<Response>): Promise<Response> {
  await gw.redis.set(`chat:lock:${sessionId}`, 'another-instance', 'PX', 10_000);
  try {
    return await send();
  } finally {
    await gw.redis.del(`chat:lock:${sessionId}`);
  }
}
const deep = (levels: number) => {
  let q = 'id';
  for (let i = 0; i < levels; i++) q = `characters { book { ${q} } }`;
  return `query ($id: ID!) { book(id: $id) { ${q} } }`;
};

const transportCases = (): Case[] => [
  {
    name: 'malformed JSON',
    send: () => post('{"query": "{ viewer { id } }"', json()),
    status: 400,
    code: 'BAD_REQUEST',
    beforeExecution: true,
  },
  {
    name: 'a JSON batch (batching is off)',
    send: () => post(JSON.stringify([{ query: '{ viewer { id } }' }]), json()),
    status: 400,
    code: 'BAD_REQUEST',
    beforeExecution: true,
  },
  {
    name: 'a query that is not a string',
    send: () => post(JSON.stringify({ query: { $gt: '' } }), json()),
    status: 400,
    code: 'BAD_REQUEST',
    beforeExecution: true,
  },
  {
    name: 'no query at all',
    send: () => post(JSON.stringify({ variables: {} }), json()),
    status: 400,
    code: 'BAD_REQUEST',
    beforeExecution: true,
  },
  {
    name: 'text/plain from a page (no Authorization, no CSRF header)',
    send: () =>
      post(JSON.stringify({ query: '{ viewer { id } }' }), { 'content-type': 'text/plain' }),
    status: 403,
    code: 'CSRF_HEADER_REQUIRED',
    beforeExecution: true,
  },
  {
    name: 'a form post from a page',
    send: () =>
      post('query=mutation%7BprocessBook(bookId%3A%22x%22)%7Bid%7D%7D', {
        'content-type': 'application/x-www-form-urlencoded',
      }),
    status: 403,
    code: 'CSRF_HEADER_REQUIRED',
    beforeExecution: true,
  },
  {
    name: 'no content type at all',
    send: () => post(JSON.stringify({ query: '{ viewer { id } }' }), {}),
    status: 403,
    code: 'CSRF_HEADER_REQUIRED',
    beforeExecution: true,
  },
  {
    name: 'a bare GET without a token (the same answer as a POST without one)',
    send: () => gw.app.fetch(`${URL_}?query=${encodeURIComponent('{ viewer { id } }')}`),
    status: 401,
    code: 'UNAUTHENTICATED',
    beforeExecution: true,
  },
  {
    name: 'a mutation over GET',
    send: () =>
      gw.app.fetch(
        `${URL_}?query=${encodeURIComponent(`mutation { processBook(bookId: "${bookId}") { id } }`)}`,
        { headers: { authorization: `Bearer ${token}`, accept: GQL_ACCEPT } },
      ),
    status: 405,
    code: 'BAD_REQUEST',
    beforeExecution: true,
  },
  {
    name: 'PUT',
    send: () =>
      gw.app.fetch(URL_, {
        method: 'PUT',
        headers: { ...json(), authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: '{ viewer { id } }' }),
      }),
    status: 405,
    code: 'BAD_REQUEST',
    beforeExecution: true,
  },
  {
    name: 'XML',
    send: () =>
      post('<query>{ viewer { id } }</query>', {
        'content-type': 'application/xml',
        authorization: `Bearer ${token}`,
      }),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    beforeExecution: true,
  },
  {
    name: 'text/plain with a token (no parser for it)',
    send: () =>
      post(JSON.stringify({ query: '{ viewer { id } }' }), {
        'content-type': 'text/plain',
        authorization: `Bearer ${token}`,
      }),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    beforeExecution: true,
  },
  {
    name: 'a multipart request for anything but createBook',
    send: () => {
      const m = multipart(100, `mutation { processBook(bookId: "${bookId}") { id } }`);
      return post(m.body, { 'content-type': m.type, authorization: `Bearer ${token}` });
    },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    beforeExecution: true,
  },
  {
    name: 'an oversized multipart upload',
    send: () => {
      const { uploads, security } = gw.deps.config;
      const m = multipart(
        uploads.maxBytes + security.bodyLimitBytes + 1,
        'mutation ($f: File!) { createBook(input: { title: "Big" }, file: $f) { id } }',
      );
      return post(m.body, {
        'content-type': m.type,
        'content-length': String(Buffer.byteLength(m.body)),
        authorization: `Bearer ${token}`,
      });
    },
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    beforeExecution: true,
  },
  {
    name: 'a 1 MB JSON body',
    send: () =>
      post(
        JSON.stringify({
          query: SEND,
          variables: { i: { sessionId, content: 'x'.repeat(1 << 20) } },
        }),
        {
          ...json(),
          authorization: `Bearer ${token}`,
        },
      ),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    beforeExecution: true,
  },
  {
    name: 'an oversized chunked body (no Content-Length)',
    send: () => {
      const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 64) controller.enqueue(chunk);
          else controller.close();
        },
      });
      return post(body, { ...json(), authorization: `Bearer ${token}` }, {
        duplex: 'half',
      } as RequestInit);
    },
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    beforeExecution: true,
  },
];

const json = () => ({ 'content-type': 'application/json' });

const documentCases = (): Case[] => [
  {
    name: 'a syntax error',
    send: () => gqlRequest('{ book(id: "x") { id '),
    status: 400,
    code: 'GRAPHQL_PARSE_FAILED',
    beforeExecution: true,
  },
  {
    name: 'an unknown field',
    send: () => gqlRequest('{ book(id: "x") { systemPrompt } }'),
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    beforeExecution: true,
  },
  {
    name: 'a fragment cycle',
    send: () =>
      gqlRequest(
        '{ book(id: "x") { ...A } } fragment A on Book { characters { book { ...B } } } fragment B on Book { ...A }',
      ),
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    beforeExecution: true,
  },
  {
    name: 'a variable of the wrong type',
    send: () => gqlRequest('query ($id: ID!) { book(id: $id) { id } }', { id: { $ne: null } }),
    status: 400,
    code: 'BAD_USER_INPUT',
    beforeExecution: true,
  },
  {
    name: 'a deep query (book → characters → book … 6 times)',
    send: () => gqlRequest(deep(6), { id: bookId }),
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
    beforeExecution: true,
  },
  {
    name: 'a wide query (thousands of tokens)',
    send: () => gqlRequest(`{ viewer { ${'id '.repeat(3000)} } }`),
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
    beforeExecution: true,
  },
  {
    name: 'an alias bomb on a read',
    send: () =>
      gqlRequest(
        `query ($id: ID!) { ${Array.from({ length: 50 }, (_, i) => `b${i}: book(id: $id) { id }`).join(' ')} }`,
        { id: bookId },
      ),
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
    beforeExecution: true,
  },
  {
    name: 'an alias bomb on sendMessage',
    send: () =>
      gqlRequest(
        `mutation ($i: SendMessageInput!) { ${Array.from({ length: 30 }, (_, i) => `m${i}: sendMessage(input: $i) { reply { id } }`).join(' ')} }`,
        { i: { sessionId, content: 'again' } },
      ),
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
    beforeExecution: true,
  },
  {
    name: 'a directive flood',
    send: () =>
      gqlRequest(
        `{ viewer { ${Array.from({ length: 30 }, (_, i) => `f${i}: id @include(if: true)`).join(' ')} } }`,
      ),
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
    beforeExecution: true,
  },
  {
    name: 'a costly query (pages inside pages)',
    send: () =>
      gqlRequest(
        '{ books(first: 100) { edges { node { characters { book { characters { name description } } } } } } }',
      ),
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
    beforeExecution: true,
  },
  {
    name: 'a costly query through variables',
    send: () =>
      gqlRequest(
        'query ($n: Int) { chatSessions(first: $n) { edges { node { messages(last: $n) { edges { node { citations { text } } } } } } } }',
        { n: 100 },
      ),
    status: 400,
    code: 'OPERATION_LIMIT_EXCEEDED',
    beforeExecution: true,
  },
];

const authCases = (): Case[] => {
  const q = `{ chatSession(id: "${randomUUID()}") { id } }`;
  const with_ = (authorization: () => Promise<string>) => async () =>
    post(JSON.stringify({ query: q }), { ...json(), authorization: await authorization() });
  return [
    {
      name: 'no token',
      send: () => gqlRequest(q, {}, { token: null }),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
    {
      name: 'a forged token (another secret)',
      send: with_(async () => `Bearer ${await forged()}`),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
    {
      name: 'an expired token',
      send: with_(async () => `Bearer ${await gw.token(reader, { expiresInSeconds: -60 })}`),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
    {
      name: 'an unsigned token (alg none)',
      send: with_(async () => `Bearer ${unsigned()}`),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
    {
      name: 'a service-role token',
      send: with_(
        async () => `Bearer ${await signSupabaseJwt(TEST_JWT_SECRET, { role: 'service_role' })}`,
      ),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
    {
      name: 'a token whose subject is SQL',
      send: with_(
        async () =>
          `Bearer ${await signSupabaseJwt(TEST_JWT_SECRET, { role: 'authenticated', sub: "x' or '1'='1" })}`,
      ),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
    {
      name: 'a Basic credential',
      send: with_(async () => 'Basic YWRtaW46YWRtaW4='),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
  ];
};

const idCases = (): Case[] => [
  {
    name: 'a book id with SQL in it',
    send: () => gqlRequest(`{ book(id: "1'; drop table books;--") { id } }`),
    status: 200,
    code: 'BAD_USER_INPUT',
    beforeExecution: false,
  },
  {
    name: 'a session id that is a path',
    send: () => gqlRequest('{ chatSession(id: "../../etc/passwd") { id } }'),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  {
    name: 'a PostgREST filter as a character id',
    send: () => gqlRequest(CREATE, { i: { characterId: 'eq.1&or=(id.neq.0)' } }),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  {
    name: 'a wildcard as a book id to process',
    send: () => gqlRequest('mutation { processBook(bookId: "*") { id } }'),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  {
    name: 'a session id that is not a UUID, to sendMessage',
    send: () => gqlRequest(SEND, { i: { sessionId: '1 OR 1=1', content: 'hello' } }),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  {
    name: 'a forged cursor',
    send: () => gqlRequest('{ books(first: 2, after: "e30") { edges { cursor } } }'),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  {
    name: "another reader's session",
    send: () =>
      gqlRequest(
        'query ($id: ID!) { chatSession(id: $id) { id messages(last: 5) { edges { node { content } } } } }',
        {
          id: strangerSessionId,
        },
      ),
    status: 200,
    code: 'NOT_FOUND',
  },
  {
    name: "a message into another reader's session",
    send: () => gqlRequest(SEND, { i: { sessionId: strangerSessionId, content: 'Hi, it is me' } }),
    status: 200,
    code: 'NOT_FOUND',
  },
  {
    name: "a message into another reader's session, streamed",
    send: () =>
      post(
        JSON.stringify({
          query:
            'subscription ($i: SendMessageInput!) { sendMessageStream(input: $i) { __typename } }',
          variables: { i: { sessionId: strangerSessionId, content: 'Hi' } },
        }),
        { ...json(), accept: 'text/event-stream', authorization: `Bearer ${token}` },
      ),
    status: 200,
    code: 'NOT_FOUND',
  },
  {
    name: "processing another reader's book",
    send: () =>
      gqlRequest('mutation ($b: ID!) { processBook(bookId: $b) { id } }', { b: strangerBookId }),
    status: 200,
    code: 'FORBIDDEN',
  },
  {
    name: 'a message far over the size limit (inside the body limit)',
    send: () => gqlRequest(SEND, { i: { sessionId, content: 'y'.repeat(60_000) } }),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  {
    name: 'a session title far over the size limit',
    send: () => gqlRequest(CREATE, { i: { characterId, title: 't'.repeat(50_000) } }),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  {
    name: 'a NUL character in a message (PostgreSQL text cannot hold it)',
    send: () => gqlRequest(SEND, { i: { sessionId, content: 'hello\u0000there' } }),
    status: 400,
    code: 'BAD_USER_INPUT',
    beforeExecution: true,
  },
  {
    name: 'a NUL character in a session title, inline',
    send: () =>
      gqlRequest(
        `mutation { createChatSession(input: { characterId: "${characterId}", title: "a\\u0000b" }) { id } }`,
      ),
    status: 400,
    code: 'BAD_USER_INPUT',
    beforeExecution: true,
  },
  {
    name: 'a lone surrogate in a session title',
    send: () => gqlRequest(CREATE, { i: { characterId, title: 'half \ud800 a pair' } }),
    status: 400,
    code: 'BAD_USER_INPUT',
    beforeExecution: true,
  },
  {
    name: 'a NUL character in a search query',
    send: () =>
      gqlRequest('query ($b: ID!, $q: String!) { searchBook(bookId: $b, query: $q) { text } }', {
        b: bookId,
        q: 'lamp\u0000',
      }),
    status: 400,
    code: 'BAD_USER_INPUT',
    beforeExecution: true,
  },
  {
    name: 'an empty message',
    send: () => gqlRequest(SEND, { i: { sessionId, content: ' \n\t ' } }),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  {
    name: "renaming another reader's session",
    send: () => gqlRequest(RENAME, { i: { sessionId: strangerSessionId, title: 'Mine now' } }),
    status: 200,
    code: 'NOT_FOUND',
  },
  {
    name: "deleting another reader's session",
    send: () => gqlRequest(DELETE_SESSION, { i: { sessionId: strangerSessionId } }),
    status: 200,
    code: 'NOT_FOUND',
  },
  {
    name: 'deleting a session id that is not a UUID',
    send: () => gqlRequest(DELETE_SESSION, { i: { sessionId: "*' or 1=1" } }),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  {
    name: 'a session title of zero-width characters only',
    send: () => gqlRequest(RENAME, { i: { sessionId, title: ' \u200b\u2060\ufeff ' } }),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  {
    name: 'a session title of invisible characters only, to createChatSession',
    send: () => gqlRequest(CREATE, { i: { characterId, title: '\u3164\u200d\u2800' } }),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  ...[
    { chapter: -1 },
    { chapter: 9 },
    { percent: -1 },
    { percent: 100.5 },
    { chapter: 1, percent: 5 },
  ].map(
    (position): Case => ({
      name: `a reading position out of range: ${JSON.stringify(position)}`,
      send: () => gqlRequest(SET_POSITION, { i: { sessionId, readingPosition: position } }),
      status: 200,
      code: 'BAD_USER_INPUT',
    }),
  ),
  {
    name: 'a new session at a chapter past the last',
    send: () => gqlRequest(CREATE, { i: { characterId, readingPosition: { chapter: 1000 } } }),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
  {
    name: 'a reading position that is not a number',
    send: () => gqlRequest(SET_POSITION, { i: { sessionId, readingPosition: { percent: 'NaN' } } }),
    status: 400,
    code: 'BAD_USER_INPUT',
    beforeExecution: true,
  },
  {
    name: "the reading position of another reader's session",
    send: () =>
      gqlRequest(SET_POSITION, {
        i: { sessionId: strangerSessionId, readingPosition: { chapter: 1 } },
      }),
    status: 200,
    code: 'NOT_FOUND',
  },
  {
    name: "regenerating another reader's reply",
    send: () => gqlRequest(REGENERATE, { i: { messageId: strangerReplyId } }),
    status: 200,
    code: 'NOT_FOUND',
  },
  {
    name: "editing another reader's message",
    send: () => gqlRequest(EDIT, { i: { messageId: strangerReplyId, content: 'Mine now' } }),
    status: 200,
    code: 'NOT_FOUND',
  },
  {
    name: "switching another reader's branch",
    send: () => gqlRequest(SELECT_BRANCH, { i: { messageId: strangerReplyId } }),
    status: 200,
    code: 'NOT_FOUND',
  },
  {
    name: 'regenerating a reply mid-turn (the session lock held)',
    send: () => whileLocked(() => gqlRequest(REGENERATE, { i: { messageId: replyId } })),
    status: 200,
    code: 'SESSION_BUSY',
  },
  {
    name: 'a regenerate id that is not a UUID',
    send: () => gqlRequest(REGENERATE, { i: { messageId: "1' or '1'='1" } }),
    status: 200,
    code: 'BAD_USER_INPUT',
    beforeExecution: true,
  },
  {
    name: 'an edit to an empty message',
    send: () => gqlRequest(EDIT, { i: { messageId: replyId, content: ' \u200b ' } }),
    status: 200,
    code: 'BAD_USER_INPUT',
    beforeExecution: true,
  },
  {
    name: 'a new session title far over the size limit',
    send: () => gqlRequest(RENAME, { i: { sessionId, title: 't'.repeat(50_000) } }),
    status: 200,
    code: 'BAD_USER_INPUT',
  },
];

/** Injection-looking strings: SQL, PostgREST, Redis/Lua, Typesense/Qdrant filters, paths, markup. */
const INJECTIONS = [
  "'; drop table messages; --",
  '" or ""="',
  'id=eq.1&or=(user_id.neq.0)',
  '*',
  '\r\nFLUSHALL\r\n',
  "]]..redis.call('FLUSHALL')..[[",
  'chat:lock:* && filter_by: book_id:!=x',
  '{"must":[{"key":"text","match":{"any":["*"]}}]}',
  '../../../../etc/passwd',
  '<script>alert(1)</script>',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4j-style payload, meant literally
  '${jndi:ldap://127.0.0.1/a}',
  '") { id } __schema { types { name } } #',
  '\u202Egnp.exe',
  '%00%27%22',
];

const injectionCases = (): Case[] =>
  INJECTIONS.flatMap((s, n) => [
    {
      name: `#${n} as the content of a message to a session that does not exist`,
      send: () => gqlRequest(SEND, { i: { sessionId: randomUUID(), content: s } }),
      status: 200,
      code: 'NOT_FOUND',
    },
    {
      name: `#${n} as a clientMessageId`,
      send: () => gqlRequest(SEND, { i: { sessionId, content: 'hello', clientMessageId: s } }),
      status: 200,
      code: 'BAD_USER_INPUT',
    },
    {
      name: `#${n} as a session title for a character that does not exist`,
      send: () => gqlRequest(CREATE, { i: { characterId: randomUUID(), title: s } }),
      status: 200,
      code: 'NOT_FOUND',
    },
    {
      name: `#${n} as a search query on a book that does not exist`,
      send: () =>
        gqlRequest('query ($b: ID!, $q: String!) { searchBook(bookId: $b, query: $q) { text } }', {
          b: randomUUID(),
          q: s,
        }),
      status: 200,
      code: 'NOT_FOUND',
    },
    {
      name: `#${n} as a cursor`,
      send: () =>
        gqlRequest(
          'query ($a: String) { chatSessions(first: 2, after: $a) { edges { cursor } } }',
          {
            a: s,
          },
        ),
      status: 200,
      code: 'BAD_USER_INPUT',
    },
    {
      name: `#${n} as an id`,
      send: () => gqlRequest('query ($id: ID!) { character(id: $id) { id } }', { id: s }),
      status: 200,
      code: 'BAD_USER_INPUT',
    },
  ]);

async function expectRefused(c: Case) {
  const before: StoreSnapshot = await storeSnapshot(gw);
  gw.counter.reset();
  const res = await c.send();
  const text = await res.text();
  const calls = gw.counter.snapshot();
  const after = await storeSnapshot(gw);

  expect(res.status, text.slice(0, 300)).toBe(c.status);
  expect(res.status).toBeLessThan(500);
  const body = parseBody(text, res.headers.get('content-type'));
  const codes = (body.errors ?? []).map((e) => e.extensions?.code);
  expect(codes[0], text.slice(0, 300)).toBe(c.code);
  expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
  expect(text).not.toMatch(/Unexpected error/);
  if (c.beforeExecution) expect(calls, 'a store was touched').toEqual({});
  expect(after).toEqual(before);
}

function parseBody(
  text: string,
  type: string | null,
): { errors?: { extensions?: { code?: string } }[] } {
  if (type?.includes('event-stream')) {
    const data = text
      .split('\n')
      .filter((l) => l.startsWith('data:') && l.length > 6)
      .map((l) => JSON.parse(l.slice(5)));
    return { errors: data.flatMap((d) => d.errors ?? []) };
  }
  return JSON.parse(text);
}

describe('transport: bodies, content types, methods, sizes', () => {
  it.each(transportCases().map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    await expectRefused(c);
  });
});

describe('documents: syntax, validation, operation limits', () => {
  it.each(documentCases().map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    await expectRefused(c);
  });
});

describe('tokens', () => {
  it.each(authCases().map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    await expectRefused(c);
  });
});

describe("ids, other readers' data, sizes", () => {
  it.each(idCases().map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    await expectRefused(c);
  });
});

describe('injection-looking strings in every text input', () => {
  it.each(injectionCases().map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    await expectRefused(c);
  });

  it('are stored as the data they are when the request is valid', async () => {
    const before = await storeSnapshot(gw);
    const title = INJECTIONS.join(' ');
    const created = await gw.gql(
      CREATE,
      { i: { characterId, title: title.slice(0, 200) } },
      { token },
    );
    expect(created.body.errors).toBeUndefined();
    const sid = (created.body.data?.createChatSession as { id: string }).id;
    const content = INJECTIONS.slice(0, 8).join(' | ');
    const sent = await gw.gql(
      'mutation ($i: SendMessageInput!) { sendMessage(input: $i) { userMessage { content } } }',
      { i: { sessionId: sid, content } },
      { token },
    );
    expect(sent.body.errors).toBeUndefined();
    expect(sent.body.data?.sendMessage).toEqual({ userMessage: { content } });
    const [row] = await gw.db.sql<
      { title: string }[]
    >`select title from chat_sessions where id = ${sid}`;
    expect(row?.title).toBe(title.slice(0, 200));
    const after = await storeSnapshot(gw);
    // Exactly one session and one turn more; nothing else in the database moved.
    expect(after.tables.chat_sessions?.n).toBe((before.tables.chat_sessions?.n ?? 0) + 1);
    expect(after.tables.messages?.n).toBe((before.tables.messages?.n ?? 0) + 2);
    for (const t of ['categories', 'books', 'characters']) {
      expect(after.tables[t]).toEqual(before.tables[t]);
    }
    expect(after.qdrant).toEqual(before.qdrant);
    expect(after.typesense).toEqual(before.typesense);
    expect(await gw.redis.dbsize()).toBeGreaterThan(0);
  });
});

describe('rate limits', () => {
  it('refuse the attempt past the limit with RATE_LIMITED, 429 and Retry-After, changing nothing', async () => {
    const limit = gw.deps.config.security.rateLimit!.sessions;
    const key = `ratelimit:sessions:${stranger}`;
    // Exhaust the window with sessions that are made, as a real client would.
    for (let i = 0; i < limit; i++) {
      const res = await gw.gql(CREATE, { i: { characterId } }, { token: strangerToken });
      expect(res.body.errors).toBeUndefined();
    }
    expect(await gw.redis.get(key)).toBe(String(limit));
    const before = await storeSnapshot(gw);
    const res = await gqlRequest(CREATE, { i: { characterId } }, { token: strangerToken });
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(gw.deps.config.security.rateLimit!.windowSeconds);
    const body = (await res.json()) as { errors: { extensions: Record<string, unknown> }[] };
    expect(body.errors[0]?.extensions).toMatchObject({
      code: 'RATE_LIMITED',
      retryAfter,
      bucket: 'sessions',
    });
    // A refused attempt takes nothing: every store, the counter included, is as it was.
    expect(await storeSnapshot(gw)).toEqual(before);
    // Other readers and other buckets are not affected.
    const mine = await gw.gql(CREATE, { i: { characterId } }, { token });
    expect(mine.body.errors).toBeUndefined();
  });
});

/** GET requests whose parameters are malformed or name nothing: always 4xx with a code. */
const getParamCases = (): Case[] => {
  const get = (params: string) => () =>
    gw.app.fetch(`${URL_}?query=${encodeURIComponent('{ viewer { id } }')}&${params}`, {
      headers: { authorization: `Bearer ${token}`, accept: GQL_ACCEPT },
    });
  return [
    {
      name: 'GET with variables that are not JSON',
      send: get('variables=%7Bbad'),
      status: 400,
      code: 'BAD_REQUEST',
      beforeExecution: true,
    },
    {
      name: 'GET with extensions that are not JSON',
      send: get('extensions=%7Bbad'),
      status: 400,
      code: 'BAD_REQUEST',
      beforeExecution: true,
    },
    {
      name: 'GET with variables that are an array',
      send: get('variables=%5B1%5D'),
      status: 400,
      code: 'BAD_REQUEST',
      beforeExecution: true,
    },
    {
      name: 'GET with an operationName that names no operation',
      send: get('operationName=Nope'),
      status: 400,
      code: 'OPERATION_RESOLUTION_FAILURE',
      beforeExecution: true,
    },
  ];
};

describe('GET parameters', () => {
  it.each(getParamCases().map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    await expectRefused(c);
  });
});

// Deeply nested variables, invisible messages, invalid UTF-8, misrouted subscriptions, tokens.

/** JSON text of a value nested `levels` deep (built as text: a stringify that deep overflows). */
const nestedJson = (levels: number, open: string, close: string) =>
  `${open.repeat(levels)}"x"${close.repeat(levels)}`;

function deepVariables(
  query: string,
  variables: Record<string, unknown>,
  nestedText: string,
  app: App = gw.app,
) {
  const body = JSON.stringify({ query, variables }).replace(/}}$/, `,"deep":${nestedText}}}`);
  return app.fetch(URL_, {
    method: 'POST',
    headers: { ...json(), accept: GQL_ACCEPT, authorization: `Bearer ${token}` },
    body,
  });
}

/** The same gateway with the catalog response cache on (its key is built from the variables). */
let cachedApp: App | undefined;
const withResponseCache = () => {
  cachedApp ??= createApp({
    ...gw.deps,
    config: { ...gw.deps.config, responseCacheTtlMs: 60_000 },
  });
  return cachedApp;
};
afterAll(async () => {
  await cachedApp?.dispose();
});

const BLANKS: [string, string][] = [
  ['zero-width spaces (U+200B)', '\u200B\u200B\u200B'],
  ['zero-width non-joiners (U+200C)', '\u200C\u200C'],
  ['zero-width joiners (U+200D)', '\u200D'],
  ['word joiners (U+2060)', '\u2060\u2060'],
  ['byte order marks (U+FEFF)', '\uFEFF\uFEFF'],
  ['no-break spaces (U+00A0)', '\u00A0\u00A0'],
  ['ideographic spaces (U+3000)', '\u3000\u3000'],
  ['combining marks with no base', '\u0301\u0308'],
  ['a mix with bidi marks and a Hangul filler', ' \u200E\u200F\u3164\u2028\u00AD\t\u200B '],
];

function rawBody(bytes: Uint8Array, withLength: boolean) {
  const headers = { ...json(), authorization: `Bearer ${token}` };
  if (withLength) {
    return post(bytes as Uint8Array<ArrayBuffer>, {
      ...headers,
      'content-length': String(bytes.byteLength),
    });
  }
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  return post(body, headers, { duplex: 'half' } as RequestInit);
}

/** A sendMessage body whose content holds bytes that are not UTF-8 (a lone 0xFF, an overlong). */
const invalidUtf8 = () => {
  const [head, tail] = JSON.stringify({
    query: SEND,
    variables: { i: { sessionId, content: '@@' } },
  }).split('@@');
  return new Uint8Array([
    ...new TextEncoder().encode(head),
    0x68,
    0xff,
    0xc0,
    0xaf,
    0x69,
    ...new TextEncoder().encode(tail),
  ]);
};

const claimsToken = (claims: Record<string, unknown>, o: { exp?: boolean; aud?: string } = {}) => {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(reader);
  if (o.exp !== false) jwt = jwt.setExpirationTime('1h');
  if (o.aud !== undefined) jwt = jwt.setAudience(o.aud);
  return jwt.sign(new TextEncoder().encode(TEST_JWT_SECRET));
};

const hostileCases = (): Case[] => {
  const q = `{ chatSession(id: "${randomUUID()}") { id } }`;
  const withToken = (make: () => Promise<string>) => async () =>
    post(JSON.stringify({ query: q }), { ...json(), authorization: `Bearer ${await make()}` });
  return [
    {
      name: 'variables nested 20,000 deep (a 40 KB body)',
      send: () =>
        deepVariables(
          'query ($id: ID!) { book(id: $id) { id } }',
          { id: bookId },
          nestedJson(20_000, '[', ']'),
        ),
      status: 400,
      code: 'BAD_REQUEST',
      beforeExecution: true,
    },
    {
      name: 'variables nested 20,000 deep, with the response cache on',
      send: () =>
        deepVariables(
          'query ($id: ID!) { book(id: $id) { id } }',
          { id: bookId },
          nestedJson(20_000, '[', ']'),
          withResponseCache(),
        ),
      status: 400,
      code: 'BAD_REQUEST',
      beforeExecution: true,
    },
    {
      name: 'variables of objects nested 12,000 deep, to a mutation',
      send: () =>
        deepVariables(SEND, { i: { sessionId, content: 'hi' } }, nestedJson(12_000, '{"":', '}')),
      status: 400,
      code: 'BAD_REQUEST',
      beforeExecution: true,
    },
    ...BLANKS.map(
      ([what, content]): Case => ({
        name: `a message of only ${what}`,
        send: () => gqlRequest(SEND, { i: { sessionId, content } }),
        status: 200,
        code: 'BAD_USER_INPUT',
      }),
    ),
    {
      name: 'a search query of only zero-width characters',
      send: () =>
        gqlRequest('query ($b: ID!, $q: String!) { searchBook(bookId: $b, query: $q) { text } }', {
          b: bookId,
          q: '\u200B\u2060\uFEFF',
        }),
      status: 200,
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'invalid UTF-8 in the body (with Content-Length)',
      send: () => rawBody(invalidUtf8(), true),
      status: 400,
      code: 'BAD_REQUEST',
      beforeExecution: true,
    },
    {
      name: 'invalid UTF-8 in the body (chunked)',
      send: () => rawBody(invalidUtf8(), false),
      status: 400,
      code: 'BAD_REQUEST',
      beforeExecution: true,
    },
    {
      name: 'a streamed message sent as a plain POST (Accept: application/json)',
      send: () =>
        post(
          JSON.stringify({
            query:
              'subscription ($i: SendMessageInput!) { sendMessageStream(input: $i) { __typename } }',
            variables: { i: { sessionId, content: 'Who keeps the lamp?' } },
          }),
          { ...json(), accept: 'application/json', authorization: `Bearer ${token}` },
        ),
      status: 406,
      code: 'NOT_ACCEPTABLE',
      beforeExecution: true,
    },
    {
      name: 'a progress subscription over GET without an event-stream Accept',
      send: () =>
        gw.app.fetch(
          `${URL_}?query=${encodeURIComponent(`subscription { bookProcessing(bookId: "${bookId}") { status } }`)}`,
          { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } },
        ),
      status: 406,
      code: 'NOT_ACCEPTABLE',
      beforeExecution: true,
    },
    {
      name: 'a token without exp',
      send: withToken(() =>
        claimsToken({ role: 'authenticated', aud: 'authenticated' }, { exp: false }),
      ),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
    {
      name: 'a token for another audience',
      send: withToken(() => claimsToken({ role: 'authenticated' }, { aud: 'another-app' })),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
    {
      name: 'a token without aud',
      send: withToken(() => claimsToken({ role: 'authenticated' })),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
    {
      name: 'a token without role',
      send: withToken(() => claimsToken({}, { aud: 'authenticated' })),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
    {
      name: 'a token with a role that is not a string',
      send: withToken(() => claimsToken({ role: ['authenticated'] }, { aud: 'authenticated' })),
      status: 401,
      code: 'UNAUTHENTICATED',
      beforeExecution: true,
    },
  ];
};

describe('hostile input: nesting, invisible text, bytes, transports, token claims', () => {
  it.each(hostileCases().map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    await expectRefused(c);
  });
});

describe('rate limits while Redis is down', () => {
  // The gateway's own Redis is fine; this app's client points at a port nothing listens on.
  let deadApp: App;
  let dead: Redis;
  beforeAll(() => {
    dead = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    dead.on('error', () => {});
    deadApp = createApp({ ...gw.deps, redis: dead });
  });
  afterAll(async () => {
    await deadApp?.dispose();
    dead?.disconnect();
  });

  const send = (query: string, variables: Record<string, unknown>) =>
    deadApp.fetch(URL_, {
      method: 'POST',
      headers: { ...json(), accept: GQL_ACCEPT, authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });

  const costly: [string, () => Response | Promise<Response>, string][] = [
    [
      'sendMessage',
      () => send(SEND, { i: { sessionId, content: 'Who keeps the lamp?' } }),
      'messages',
    ],
    [
      'sendMessageStream',
      () =>
        deadApp.fetch(URL_, {
          method: 'POST',
          headers: { ...json(), accept: 'text/event-stream', authorization: `Bearer ${token}` },
          body: JSON.stringify({
            query:
              'subscription ($i: SendMessageInput!) { sendMessageStream(input: $i) { __typename } }',
            variables: { i: { sessionId, content: 'Who keeps the lamp?' } },
          }),
        }),
      'messages',
    ],
    [
      'processBook',
      () => send('mutation ($b: ID!) { processBook(bookId: $b) { id } }', { b: bookId }),
      'processBook',
    ],
    [
      'searchBook',
      () =>
        send('query ($b: ID!) { searchBook(bookId: $b, query: "lamp") { chunkIndex } }', {
          b: bookId,
        }),
      'search',
    ],
  ];

  it.each(costly)(
    'refuse %s (a model call) with a retryable SERVICE_UNAVAILABLE before it runs',
    async (_name, request, bucket) => {
      const before = await storeSnapshot(gw);
      gw.counter.reset();
      const res = await request();
      const text = await res.text();
      const body = parseBody(text, res.headers.get('content-type'));
      expect(body.errors?.[0]?.extensions, text.slice(0, 300)).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        retryable: true,
        bucket,
      });
      if (!res.headers.get('content-type')?.includes('event-stream')) expect(res.status).toBe(503);
      // Only the limiter's failed Redis call: no session read, no model, no queue.
      const calls = Object.keys(gw.counter.snapshot());
      expect(
        calls.every((k) => k.startsWith('redis')),
        calls.join(', '),
      ).toBe(true);
      expect(await storeSnapshot(gw)).toEqual(before);
    },
  );

  it('let createChatSession (no model call) through, unlimited', async () => {
    const res = await send(CREATE, { i: { characterId } });
    const body = (await res.json()) as { errors?: { extensions?: Record<string, unknown> }[] };
    // Whatever the session's own use of Redis answers, the limiter did not refuse it.
    for (const e of body.errors ?? []) expect(e.extensions?.bucket).toBeUndefined();
    expect(res.status).not.toBe(429);
  });
});
