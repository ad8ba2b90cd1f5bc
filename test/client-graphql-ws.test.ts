import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, createClient, type ExecutionResult } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import { Lifecycle } from '../src/http/lifecycle.js';
import { createGatewayServer } from '../src/http/server.js';
import { attachGraphQLWebSocket, type GraphQLWebSocket } from '../src/http/websocket.js';
import { type App, createApp } from '../src/yoga.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/** graphql-ws against the gateway over a real socket: the token in connectionParams. */

let gw: TestGateway;
let wsUrl: string;
const reader = randomUUID();
let token: string;
let sessionId: string;
let otherSessionId: string;
let bookId: string;
const clients: Client[] = [];

beforeAll(async () => {
  gw = await startTestGateway();
  ({ wsUrl } = await gw.listen());
  token = await gw.token(reader);
  bookId = await gw.seed.book({ title: 'Socket Book' });
  const [characterId] = await gw.seed.characters(bookId, 1);
  sessionId = await gw.seed.session(reader, characterId!, bookId);
  otherSessionId = await gw.seed.session(randomUUID(), characterId!, bookId);
}, 60_000);
const servers: { server: Server; webSocket: GraphQLWebSocket; app: App }[] = [];
afterAll(async () => {
  for (const c of clients) await c.dispose();
  for (const s of servers) {
    await s.webSocket.close();
    s.server.closeAllConnections();
    await new Promise((resolve) => s.server.close(resolve));
    await s.app.dispose();
  }
  await gw?.close();
});

/** Another instance on the same stores, settings changed, served over HTTP and WebSocket. */
async function serve(env: Record<string, string>, keepAliveMs?: number) {
  const config = loadConfig({ ...gw.env, ...env });
  const app = createApp({ ...gw.deps, config });
  const lifecycle = new Lifecycle();
  const server = createGatewayServer(app, lifecycle);
  const webSocket = attachGraphQLWebSocket(server, app, {
    auth: gw.deps.auth,
    logger: gw.deps.logger,
    security: config.security,
    lifecycle,
    ...(keepAliveMs ? { keepAliveMs } : {}),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ server, webSocket, app });
  const { port } = server.address() as { port: number };
  return { url: `ws://127.0.0.1:${port}/graphql`, webSocket, lifecycle };
}

/** A raw graphql-transport-ws socket, for what the client library hides (close codes, pings). */
async function rawSocket(url: string, headers: Record<string, string> = {}) {
  const socket = new WebSocket(url, 'graphql-transport-ws', { headers });
  const messages: Record<string, unknown>[] = [];
  socket.on('message', (data) => messages.push(JSON.parse(String(data))));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  const opened = new Promise<boolean>((resolve) => {
    socket.on('open', () => resolve(true));
    socket.on('unexpected-response', (_req, res) => {
      resolve(false);
      messages.push({ status: res.statusCode });
    });
    socket.on('error', () => resolve(false));
  });
  return { socket, messages, closed, opened: await opened };
}

const until = async (check: () => boolean) => {
  while (!check()) await sleep(10);
};

function client(
  authorization: string | null,
  onClose?: (code: number, reason: string) => void,
  lazy = true,
) {
  const c = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy,
    connectionParams: authorization ? { authorization } : {},
    on: {
      closed: (event) => {
        const e = event as { code: number; reason: string };
        onClose?.(e.code, String(e.reason));
      },
    },
  });
  clients.push(c);
  return c;
}

/** Every result of one operation, or the errors it ended with. */
function collect(c: Client, query: string, variables: Record<string, unknown> = {}) {
  return new Promise<{ results: ExecutionResult[]; error: unknown }>((resolve) => {
    const results: ExecutionResult[] = [];
    c.subscribe(
      { query, variables },
      {
        next: (r) => results.push(r as ExecutionResult),
        error: (error) => resolve({ results, error }),
        complete: () => resolve({ results, error: null }),
      },
    );
  });
}

const STREAM = `subscription ($input: SendMessageInput!) {
  sendMessageStream(input: $input) {
    __typename
    ... on MessageDelta { delta }
    ... on TurnCompleted { payload { userMessage { content } reply { role content } session { id messageCount } } }
  }
}`;

describe('graphql-ws', () => {
  it('streams a chat turn with the token in connectionParams and saves both messages', async () => {
    const c = client(`Bearer ${token}`);
    const { results, error } = await collect(c, STREAM, {
      input: { sessionId, content: 'Who are you?' },
    });
    expect(error).toBeNull();
    const events = results.map((r) => r.data?.sendMessageStream as Record<string, unknown>);
    expect(events.some((e) => e.__typename === 'MessageDelta')).toBe(true);
    const last = events.at(-1) as { __typename: string; payload: Record<string, unknown> };
    expect(last.__typename).toBe('TurnCompleted');
    expect(last.payload).toMatchObject({
      userMessage: { content: 'Who are you?' },
      reply: { role: 'ASSISTANT' },
      session: { id: sessionId, messageCount: 2 },
    });
    const deltas = events.flatMap((e) => (e.__typename === 'MessageDelta' ? [e.delta] : []));
    expect(deltas.join('')).toBe((last.payload.reply as { content: string }).content);
    const [row] = await gw.db.sql<{ n: number }[]>`
      select count(*)::int as n from messages where session_id = ${sessionId}`;
    expect(row!.n).toBe(2);
  });

  it('streams bookProcessing of a book to its end', async () => {
    const c = client(`Bearer ${token}`);
    const { results, error } = await collect(
      c,
      'subscription ($id: ID!) { bookProcessing(bookId: $id) { bookId status progress } }',
      { id: bookId },
    );
    expect(error).toBeNull();
    expect(results.at(-1)?.data).toEqual({
      bookProcessing: { bookId, status: 'COMPLETED', progress: 1 },
    });
  });

  it('runs queries and mutations too, with the same answers as HTTP', async () => {
    const c = client(`Bearer ${token}`);
    const q = await collect(c, `{ viewer { id } chatSession(id: "${sessionId}") { id } }`);
    expect(q.results).toEqual([
      { data: { viewer: { id: reader }, chatSession: { id: sessionId } } },
    ]);
    const m = await collect(
      c,
      'mutation ($id: ID!) { renameChatSession(input: { sessionId: $id, title: "Renamed" }) { id title } }',
      { id: sessionId },
    );
    expect(m.results).toEqual([
      { data: { renameChatSession: { id: sessionId, title: 'Renamed' } } },
    ]);
  });

  it("refuses another reader's session with the HTTP error code and saves nothing", async () => {
    const c = client(`Bearer ${token}`);
    const { results, error } = await collect(c, STREAM, {
      input: { sessionId: otherSessionId, content: 'Hello?' },
    });
    const errors = [
      ...(Array.isArray(error) ? error : []),
      ...results.flatMap((r) => r.errors ?? []),
    ] as { extensions?: { code?: string } }[];
    expect(errors.map((e) => e.extensions?.code)).toContain('NOT_FOUND');
    expect(results.every((r) => !r.data?.sendMessageStream)).toBe(true);
    const [row] = await gw.db.sql<{ n: number }[]>`
      select count(*)::int as n from messages where session_id = ${otherSessionId}`;
    expect(row!.n).toBe(0);
  });

  it('closes the connection with 4403 for an expired or missing token', async () => {
    const expired = await gw.token(reader, { expiresInSeconds: -60 });
    for (const authorization of [`Bearer ${expired}`, null]) {
      let closed: { code: number; reason: string } | null = null;
      const c = client(authorization, (code, reason) => {
        closed = { code, reason };
      });
      const { results, error } = await collect(c, '{ viewer { id } }');
      expect(results).toEqual([]);
      expect(error).toBeTruthy();
      expect(closed).toMatchObject({ code: 4403 });
    }
  });

  it('applies the same limits and codes as HTTP (depth, text guard, validation)', async () => {
    const c = client(`Bearer ${token}`);
    const deep = `{ chatSession(id: "${sessionId}") { ${'book { characters { book { '.repeat(8)}id${' } } }'.repeat(8)} } }`;
    const refused = await collect(c, deep);
    expect(refused.results).toEqual([]);
    expect((refused.error as { extensions?: { code?: string } }[])[0]?.extensions?.code).toBe(
      'OPERATION_LIMIT_EXCEEDED',
    );
    const invalid = await collect(c, '{ nope }');
    expect((invalid.error as { extensions?: { code?: string } }[])[0]?.extensions?.code).toBe(
      'GRAPHQL_VALIDATION_FAILED',
    );
  });

  it('checks the token again for each operation: one that expired since connecting is refused', async () => {
    const shortLived = await gw.token(reader, { expiresInSeconds: 1 });
    let closes = 0;
    const c = client(`Bearer ${shortLived}`, () => closes++, false);
    const first = await collect(c, '{ viewer { id } }');
    expect(first.results).toEqual([{ data: { viewer: { id: reader } } }]);
    await sleep(2100);
    const later = await collect(c, '{ viewer { id } }');
    expect((later.error as { extensions?: { code?: string } }[])[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
    expect(closes).toBe(0);
  });

  it('needs no CSRF header to upgrade, and answers the protocol ping', async () => {
    const { url } = await serve({}, 100);
    const raw = await rawSocket(url, { origin: 'http://localhost:5173' });
    expect(raw.opened).toBe(true);
    let pings = 0;
    raw.socket.on('ping', () => {
      pings++;
    });
    raw.socket.send(
      JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }),
    );
    raw.socket.send(JSON.stringify({ type: 'ping' }));
    await until(() => raw.messages.some((m) => m.type === 'pong') && pings >= 2);
    expect(raw.messages).toContainEqual({ type: 'connection_ack' });
    raw.socket.close();
  });

  it('closes a message over BODY_LIMIT_BYTES with 1009', async () => {
    const { url } = await serve({ BODY_LIMIT_BYTES: '2048' });
    const raw = await rawSocket(url);
    raw.socket.send(
      JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }),
    );
    await until(() => raw.messages.length > 0);
    raw.socket.send(
      JSON.stringify({
        id: '1',
        type: 'subscribe',
        payload: { query: `{ viewer { id } } #${'x'.repeat(4000)}` },
      }),
    );
    expect((await raw.closed).code).toBe(1009);
  });

  it('takes only trusted documents when TRUSTED_DOCUMENTS=true', async () => {
    const { url } = await serve({ TRUSTED_DOCUMENTS: 'true' });
    const c = createClient({
      url,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${token}` },
    });
    clients.push(c);
    const text = await collect(c, '{ viewer { id } }');
    expect((text.error as { extensions?: { code?: string } }[])[0]?.extensions?.code).toBe(
      'PERSISTED_QUERY_ONLY',
    );
    const documents = JSON.parse(
      await readFile(
        new URL('../client/generated/persisted-documents.json', import.meta.url),
        'utf8',
      ),
    ) as Record<string, string>;
    const [hash] = Object.entries(documents).find(([, doc]) =>
      doc.includes('subscription BookProcessing'),
    )!;
    const byHash = await new Promise<ExecutionResult[]>((resolve, reject) => {
      const results: ExecutionResult[] = [];
      c.subscribe(
        {
          query: '',
          variables: { bookId },
          extensions: { persistedQuery: { version: 1, sha256Hash: hash.replace(/^sha256:/, '') } },
        },
        {
          next: (r) => results.push(r as ExecutionResult),
          error: reject,
          complete: () => resolve(results),
        },
      );
    });
    expect(byHash.at(-1)?.data).toMatchObject({ bookProcessing: { bookId, status: 'COMPLETED' } });
  });

  it('in production refuses an upgrade from an origin not in CORS_ORIGINS', async () => {
    const { url } = await serve({ NODE_ENV: 'production', CORS_ORIGINS: 'https://app.example' });
    const other = await rawSocket(url, { origin: 'https://evil.example' });
    expect(other.opened).toBe(false);
    expect(other.messages).toEqual([{ status: 403 }]);
    const ok = await rawSocket(url, { origin: 'https://app.example' });
    expect(ok.opened).toBe(true);
    ok.socket.close();
  });

  it('on shutdown closes open sockets with 1001 and refuses operations while draining', async () => {
    const { url, webSocket, lifecycle } = await serve({});
    const raw = await rawSocket(url);
    raw.socket.send(
      JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }),
    );
    await until(() => raw.messages.length > 0);
    lifecycle.startDraining();
    raw.socket.send(
      JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ viewer { id } }' } }),
    );
    await until(() => raw.messages.length > 1);
    expect(raw.messages[1]).toMatchObject({
      id: '1',
      type: 'error',
      payload: [{ extensions: { code: 'SERVICE_UNAVAILABLE' } }],
    });
    const late = await rawSocket(url);
    expect(late.opened).toBe(false);
    expect(late.messages).toEqual([{ status: 503 }]);
    await webSocket.close();
    expect(await raw.closed).toEqual({ code: 1001, reason: 'Going away' });
  });

  it('counts turns over the socket against the same per-reader rate limit as HTTP', async () => {
    const { url } = await serve({ RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_MESSAGES: '1' });
    const limited = randomUUID();
    const limitedToken = await gw.token(limited);
    const [character] = await gw.db.sql<{ id: string }[]>`
      select id from characters where book_id = ${bookId} limit 1`;
    const session = await gw.seed.session(limited, character!.id, bookId);
    const c = createClient({
      url,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${limitedToken}` },
    });
    clients.push(c);
    const input = { input: { sessionId: session, content: 'Who are you?' } };
    const first = await collect(c, STREAM, input);
    expect(first.error).toBeNull();
    const second = await collect(c, STREAM, input);
    const errors = [
      ...(Array.isArray(second.error) ? second.error : []),
      ...second.results.flatMap((r) => r.errors ?? []),
    ] as { extensions?: { code?: string } }[];
    expect(errors.map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);
    const [row] = await gw.db.sql<{ n: number }[]>`
      select count(*)::int as n from messages where session_id = ${session}`;
    expect(row!.n).toBe(2);
  });
});
