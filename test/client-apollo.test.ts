import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ApolloClient, type ApolloLink, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { relayStylePagination } from '@apollo/client/utilities';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatPageDocument, SendMessageDocument } from '../client/generated/graphql.js';
import { loadConfig } from '../src/config.js';
import { createApp } from '../src/yoga.js';
import { ingestDemoBook } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/** Apollo Client 4 against the gateway over real HTTP, as the frontend sets it up. */

let gw: TestGateway;
let url: string;
const reader = randomUUID();
let token: string;
let bookId: string;
let sessionId: string;

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
  ({ url } = await gw.listen());
  token = await gw.token(reader);
  // An ingested book, so a turn's retrieval has collections to search.
  bookId = await ingestDemoBook(gw, reader);
  const [character] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  sessionId = await gw.seed.session(reader, character!.id, bookId, 'Apollo chat');
  await gw.seed.messages(sessionId, 5);
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

/** The requests the client sent, as JSON bodies. */
function recordingFetch(sent: Record<string, unknown>[]): typeof fetch {
  return (input, init) => {
    if (typeof init?.body === 'string') sent.push(JSON.parse(init.body));
    return fetch(input, init);
  };
}

function cache() {
  return new InMemoryCache({
    typePolicies: {
      Query: { fields: { chatSessions: relayStylePagination() } },
      ChatSession: { fields: { messages: relayStylePagination() } },
    },
  });
}

function client(link: ApolloLink, c = cache()) {
  return new ApolloClient({ link, cache: c });
}

const http = (sent: Record<string, unknown>[] = []) =>
  new HttpLink({
    uri: url,
    headers: { authorization: `Bearer ${token}` },
    fetch: recordingFetch(sent),
  });

const PAGE = gql`
  query Page($id: ID!, $first: Int!, $after: String) {
    chatSession(id: $id) {
      id
      messages(first: $first, after: $after) {
        edges { cursor node { id content } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`;

describe('Apollo Client', () => {
  it('pages a session’s messages with relayStylePagination, merging pages in the cache', async () => {
    const apollo = client(http());
    const first = await apollo.query({ query: PAGE, variables: { id: sessionId, first: 2 } });
    const page1 = (first.data as { chatSession: { messages: { pageInfo: { endCursor: string } } } })
      .chatSession.messages;
    expect(page1.pageInfo).toMatchObject({ hasNextPage: true });
    const second = await apollo.query({
      query: PAGE,
      variables: { id: sessionId, first: 3, after: page1.pageInfo.endCursor },
      fetchPolicy: 'network-only',
    });
    expect(second.error).toBeUndefined();
    const merged = apollo.readQuery({ query: PAGE, variables: { id: sessionId, first: 2 } }) as {
      chatSession: { messages: { edges: { node: { content: string } }[] } };
    };
    expect(merged.chatSession.messages.edges.map((e) => e.node.content)).toEqual([
      'message 0',
      'message 1',
      'message 2',
      'message 3',
      'message 4',
    ]);
  });

  it('follows automatic persisted queries: hash alone, not found, the text, then the hash alone', async () => {
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
    const sent: Record<string, unknown>[] = [];
    const link = () => new PersistedQueryLink({ sha256 }).concat(http(sent));
    const query = gql`
      query ApolloApqViewer {
        viewer {
          id
        }
      }
    `;
    const first = await client(link()).query({ query });
    expect(first.data).toEqual({ viewer: { __typename: 'Viewer', id: reader } });
    expect(sent.map((b) => typeof b.query === 'string')).toEqual([false, true]);
    const hash = (sent[0]!.extensions as { persistedQuery: { sha256Hash: string } }).persistedQuery
      .sha256Hash;
    expect(await gw.redis.exists(`apq:${hash}`)).toBe(1);

    // Another client (a new page load) finds the hash stored: one request, no text.
    const later = await client(link()).query({ query });
    expect(later.data).toEqual({ viewer: { __typename: 'Viewer', id: reader } });
    expect(sent.map((b) => typeof b.query === 'string')).toEqual([false, true, false]);
  });

  it('receives a subscription over multipart HTTP', async () => {
    const apollo = client(http());
    const events = await new Promise<unknown[]>((resolve, reject) => {
      const seen: unknown[] = [];
      apollo
        .subscribe({
          query: gql`
            subscription ApolloProgress($bookId: ID!) {
              bookProcessing(bookId: $bookId) { bookId status progress }
            }
          `,
          variables: { bookId },
        })
        .subscribe({
          next: (r) => (r.error ? reject(r.error) : seen.push(r.data)),
          error: reject,
          complete: () => resolve(seen),
        });
    });
    expect(events).toEqual([
      {
        bookProcessing: {
          __typename: 'BookProcessingEvent',
          bookId,
          status: 'COMPLETED',
          progress: 1,
        },
      },
    ]);
  });

  it('shows the two new messages of sendMessage in the cached session without a refetch', async () => {
    const sent: Record<string, unknown>[] = [];
    const apollo = client(http(sent));
    const page = await apollo.query({ query: ChatPageDocument, variables: { sessionId } });
    const before = page.data!.chatSession!.messages!;
    expect(before.edges).toHaveLength(5);

    await apollo.mutate({
      mutation: SendMessageDocument,
      variables: { sessionId, content: 'Tell me about the lamp.' },
      update(cache, { data }) {
        const turn = data?.sendMessage;
        if (!turn) return;
        cache.modify({
          id: cache.identify({ __typename: 'ChatSession', id: sessionId }),
          fields: {
            messages(existing: any, { toReference }) {
              const edges = turn.messageEdges.map((e) => ({
                __typename: 'MessageEdge',
                cursor: e.cursor,
                node: toReference({ __typename: 'Message', id: e.node.id }),
              }));
              return {
                ...existing,
                totalCount: existing.totalCount + edges.length,
                edges: [...existing.edges, ...edges],
              };
            },
          },
        });
      },
    });
    const requests = sent.length;
    const after = apollo.readQuery({ query: ChatPageDocument, variables: { sessionId } })!;
    const messages = after.chatSession!.messages!;
    expect(messages.totalCount).toBe(7);
    expect(messages.edges.map((e) => [e.node.role, e.node.content]).slice(-2)).toEqual([
      ['USER', 'Tell me about the lamp.'],
      ['ASSISTANT', expect.any(String)],
    ]);
    expect(after.chatSession!.messageCount).toBe(7);

    // The cursors are the connection's own: paging back from the newest gives the same ones.
    const fresh = await client(http()).query({ query: ChatPageDocument, variables: { sessionId } });
    expect(fresh.data!.chatSession!.messages!.edges.map((e) => e.cursor)).toEqual(
      messages.edges.map((e) => e.cursor),
    );
    expect(sent.length).toBe(requests);
  });

  it('normalises the answers to trusted documents (TRUSTED_DOCUMENTS=true): they carry __typename', async () => {
    const config = loadConfig({ ...gw.env, TRUSTED_DOCUMENTS: 'true' });
    const trusted = createApp({ ...gw.deps, config });
    const documents = JSON.parse(
      await readFile(
        new URL('../client/generated/persisted-documents.json', import.meta.url),
        'utf8',
      ),
    ) as Record<string, string>;
    const idOf = (name: string) =>
      Object.entries(documents).find(([, text]) => text.includes(` ${name}(`))![0];
    // The client sends the operation's documentId instead of its text.
    const link = new HttpLink({
      uri: 'http://gateway.test/graphql',
      headers: { authorization: `Bearer ${token}` },
      fetch: async (input, init) => {
        const body = JSON.parse(String(init?.body)) as Record<string, unknown>;
        const { query: _text, ...rest } = body;
        return trusted.fetch(String(input), {
          ...init,
          body: JSON.stringify({ ...rest, documentId: idOf(String(body.operationName)) }),
        });
      },
    });
    try {
      const apollo = client(link);
      const page = await apollo.query({ query: ChatPageDocument, variables: { sessionId } });
      expect(page.data?.chatSession?.id).toBe(sessionId);
      const stored = apollo.cache.extract() as Record<string, Record<string, unknown>>;
      expect(stored[`ChatSession:${sessionId}`]).toMatchObject({
        __typename: 'ChatSession',
        id: sessionId,
      });
      expect(stored[`Book:${bookId}`]).toMatchObject({ __typename: 'Book', id: bookId });
      const messageIds = page.data!.chatSession!.messages!.edges.map((e) => e.node.id);
      expect(messageIds.length).toBeGreaterThan(0);
      for (const id of messageIds) expect(stored[`Message:${id}`]).toBeDefined();
    } finally {
      await trusted.dispose();
    }
  });
});
