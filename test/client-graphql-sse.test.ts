import { randomUUID } from 'node:crypto';
import { createClient, type ExecutionResult } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/** graphql-sse (2.x) in its distinct connections mode, against the gateway over real HTTP. */

let gw: TestGateway;
let url: string;
const reader = randomUUID();
let token: string;
let bookId: string;
let sessionId: string;

beforeAll(async () => {
  gw = await startTestGateway();
  ({ url } = await gw.listen());
  token = await gw.token(reader);
  bookId = await gw.seed.book({ title: 'SSE Book' });
  const [characterId] = await gw.seed.characters(bookId, 1);
  sessionId = await gw.seed.session(reader, characterId!, bookId);
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

function collect(
  singleConnection: boolean,
  query: string,
  variables: Record<string, unknown> = {},
) {
  const client = createClient({
    url,
    singleConnection,
    retryAttempts: 0,
    headers: { authorization: `Bearer ${token}` },
  });
  return new Promise<{ results: ExecutionResult[]; error: unknown }>((resolve) => {
    const results: ExecutionResult[] = [];
    client.subscribe(
      { query, variables },
      {
        next: (r) => results.push(r as ExecutionResult),
        error: (error) => resolve({ results, error }),
        complete: () => resolve({ results, error: null }),
      },
    );
  }).finally(() => client.dispose());
}

describe('graphql-sse', () => {
  it('streams a chat turn and saves both messages', async () => {
    const { results, error } = await collect(
      false,
      `subscription ($input: SendMessageInput!) {
        sendMessageStream(input: $input) {
          __typename
          ... on MessageDelta { delta }
          ... on TurnCompleted { payload { reply { content } messageEdges { node { role } } } }
        }
      }`,
      { input: { sessionId, content: 'Who are you?' } },
    );
    expect(error).toBeNull();
    const events = results.map((r) => r.data?.sendMessageStream as Record<string, unknown>);
    const done = events.at(-1) as {
      __typename: string;
      payload: { reply: { content: string }; messageEdges: { node: { role: string } }[] };
    };
    expect(done.__typename).toBe('TurnCompleted');
    const deltas = events.flatMap((e) => (e.__typename === 'MessageDelta' ? [e.delta] : []));
    expect(deltas.join('')).toBe(done.payload.reply.content);
    expect(done.payload.messageEdges.map((e) => e.node.role)).toEqual(['USER', 'ASSISTANT']);
    const [row] = await gw.db.sql<{ n: number }[]>`
      select count(*)::int as n from messages where session_id = ${sessionId}`;
    expect(row!.n).toBe(2);
  });

  it('streams bookProcessing and runs a query', async () => {
    const progress = await collect(
      false,
      'subscription ($id: ID!) { bookProcessing(bookId: $id) { bookId status } }',
      { id: bookId },
    );
    expect(progress.results.at(-1)?.data).toEqual({
      bookProcessing: { bookId, status: 'COMPLETED' },
    });
    const query = await collect(false, '{ viewer { id } }');
    expect(query.results).toEqual([{ data: { viewer: { id: reader } } }]);
  });

  it('refuses the single connection mode with 405 BAD_REQUEST saying which mode to use', async () => {
    const { results, error } = await collect(true, '{ viewer { id } }');
    expect(results).toEqual([]);
    expect((error as { response?: Response }).response?.status).toBe(405);
    // What the client's reservation request (a PUT) is answered with.
    const res = await fetch(url, { method: 'PUT', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(405);
    expect(await res.json()).toMatchObject({
      errors: [
        {
          extensions: { code: 'BAD_REQUEST' },
          message: expect.stringContaining('distinct connections mode'),
        },
      ],
    });
  });
});
