import { randomUUID } from 'node:crypto';
import { Client, cacheExchange, fetchExchange, gql, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/** urql (@urql/core 6) with its default exchanges, over HTTP, SSE and WebSocket. */

let gw: TestGateway;
let url: string;
let wsUrl: string;
const reader = randomUUID();
let token: string;
let bookId: string;
let sessionId: string;
const disposers: (() => unknown)[] = [];

beforeAll(async () => {
  gw = await startTestGateway();
  ({ url, wsUrl } = await gw.listen());
  token = await gw.token(reader);
  bookId = await gw.seed.book({ title: 'Urql Book' });
  const [characterId] = await gw.seed.characters(bookId, 1);
  sessionId = await gw.seed.session(reader, characterId!, bookId, 'Urql chat');
}, 60_000);
afterAll(async () => {
  for (const dispose of disposers) await dispose();
  await gw?.close();
});

const http = () =>
  new Client({
    url,
    exchanges: [cacheExchange, fetchExchange],
    fetchSubscriptions: true,
    fetchOptions: { headers: { authorization: `Bearer ${token}` } },
  });

const STREAM = gql`
  subscription UrqlTurn($input: SendMessageInput!) {
    sendMessageStream(input: $input) {
      __typename
      ... on TurnCompleted {
        payload {
          userMessage { content }
          messageEdges { cursor node { id role } }
          session { id messageCount }
        }
      }
    }
  }
`;

describe('urql', () => {
  it('queries, serving a repeat from its document cache', async () => {
    const urql = http();
    const query = gql`
      query UrqlSession($id: ID!) {
        viewer { id }
        chatSession(id: $id) { id title book { id title } }
      }
    `;
    const first = await urql.query(query, { id: sessionId }).toPromise();
    expect(first.error).toBeUndefined();
    expect(first.data).toEqual({
      viewer: { __typename: 'Viewer', id: reader },
      chatSession: {
        __typename: 'ChatSession',
        id: sessionId,
        title: 'Urql chat',
        book: { __typename: 'Book', id: bookId, title: 'Urql Book' },
      },
    });
    const again = await urql.query(query, { id: sessionId }).toPromise();
    expect(again.operation.context.meta?.cacheOutcome).toBe('hit');
    expect(again.data).toEqual(first.data);
  });

  it('runs a mutation and a subscription over HTTP (SSE)', async () => {
    const urql = http();
    const renamed = await urql
      .mutation(
        gql`
          mutation UrqlRename($input: RenameChatSessionInput!) {
            renameChatSession(input: $input) { id title }
          }
        `,
        { input: { sessionId, title: 'Renamed by urql' } },
      )
      .toPromise();
    expect(renamed.data?.renameChatSession).toEqual({
      __typename: 'ChatSession',
      id: sessionId,
      title: 'Renamed by urql',
    });
    const progress = await new Promise<unknown[]>((resolve, reject) => {
      const seen: unknown[] = [];
      const sub = urql
        .subscription(
          gql`
            subscription UrqlProgress($bookId: ID!) {
              bookProcessing(bookId: $bookId) { bookId status }
            }
          `,
          { bookId },
        )
        .subscribe((r) => {
          if (r.error) reject(r.error);
          else seen.push(r.data);
          if (!r.hasNext) {
            sub.unsubscribe();
            resolve(seen);
          }
        });
    });
    expect(progress.at(-1)).toEqual({
      bookProcessing: { bookId, status: 'COMPLETED' },
    });
  });

  it('streams a chat turn over WebSocket through subscriptionExchange and graphql-ws', async () => {
    const ws = createWsClient({
      url: wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${token}` },
    });
    disposers.push(() => ws.dispose());
    const urql = new Client({
      url,
      exchanges: [
        cacheExchange,
        fetchExchange,
        subscriptionExchange({
          forwardSubscription(request) {
            const input = { ...request, query: request.query ?? '' };
            return {
              subscribe(sink) {
                return { unsubscribe: ws.subscribe(input, sink) };
              },
            };
          },
        }),
      ],
    });
    const last = await new Promise<Record<string, unknown>>((resolve, reject) => {
      let latest: Record<string, unknown> = {};
      const sub = urql
        .subscription(STREAM, { input: { sessionId, content: 'Who are you?' } })
        .subscribe((r) => {
          if (r.error) reject(r.error);
          if (r.data) latest = r.data.sendMessageStream;
          if (latest.__typename === 'TurnCompleted') {
            sub.unsubscribe();
            resolve(latest);
          }
        });
    });
    const payload = last.payload as {
      userMessage: { content: string };
      messageEdges: { cursor: string; node: { role: string } }[];
      session: { messageCount: number };
    };
    expect(payload.userMessage.content).toBe('Who are you?');
    expect(payload.messageEdges.map((e) => e.node.role)).toEqual(['USER', 'ASSISTANT']);
    expect(payload.messageEdges.every((e) => e.cursor.length > 0)).toBe(true);
    expect(payload.session.messageCount).toBe(2);
  });
});
