import { randomUUID } from 'node:crypto';
import { createClient, type ExecutionResult } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * A subscription started with a token that expires mid-stream ends at the token's `exp` with
 * UNAUTHENTICATED, over every transport the gateway serves (graphql-ws, SSE, multipart); one
 * started with a token still valid keeps running. The stream is a pending book's progress (no
 * worker runs here), which never ends by itself.
 */

let gw: TestGateway;
let url: string;
let wsUrl: string;
const reader = randomUUID();
let bookId: string;
const SUBSCRIPTION = 'subscription ($id: ID!) { bookProcessing(bookId: $id) { bookId status } }';

beforeAll(async () => {
  gw = await startTestGateway();
  ({ url, wsUrl } = await gw.listen());
  bookId = await gw.seed.book({ title: 'Pending Book', status: 'pending', userId: reader });
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

type Outcome = { events: ExecutionResult[]; ended: boolean };

/** A graphql-ws subscription; `ended` turns true when the server completes or fails it. */
function overWebSocket(token: string) {
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${token}` },
  });
  const outcome: Outcome = { events: [], ended: false };
  const done = new Promise<void>((resolve) => {
    client.subscribe(
      { query: SUBSCRIPTION, variables: { id: bookId } },
      {
        next: (r) => outcome.events.push(r as ExecutionResult),
        error: (error) => {
          outcome.events.push({ errors: [error as never] });
          outcome.ended = true;
          resolve();
        },
        complete: () => {
          outcome.ended = true;
          resolve();
        },
      },
    );
  });
  return { outcome, done, dispose: () => client.dispose() };
}

/**
 * The body of a subscription over HTTP with the given Accept, read to its end (or as far as it
 * came when `signal` aborts: a stream that never ends is read that far, and the test fails on it).
 */
async function overHttp(token: string, accept: string, signal: AbortSignal): Promise<string> {
  const res = await fetch(url, {
    signal,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept,
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify({ query: SUBSCRIPTION, variables: { id: bookId } }),
  });
  expect(res.status).toBe(200);
  let text = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
    }
  } catch {
    // Aborted: what came so far.
  }
  return text;
}

const codesIn = (text: string) => [...text.matchAll(/"code":"([A-Z_]+)"/g)].map((m) => m[1]);

describe('a subscription past its token expiry', () => {
  it('ends with UNAUTHENTICATED on graphql-ws, SSE and multipart; a valid token streams on', async () => {
    const shortLived = await gw.token(reader, { expiresInSeconds: 2 });
    const valid = await gw.token(reader);
    const stays = overWebSocket(valid);
    const ends = overWebSocket(shortLived);
    // Far past the token's expiry: the streams that have not ended by then are read that far.
    const cap = AbortSignal.timeout(15_000);
    const capped = new Promise<void>((resolve) => cap.addEventListener('abort', () => resolve()));
    const [sse, multipart] = await Promise.all([
      overHttp(shortLived, 'text/event-stream', cap),
      overHttp(shortLived, 'multipart/mixed;subscriptionSpec="1.0", application/json', cap),
      Promise.race([ends.done, capped]),
    ]);

    // graphql-ws: the current status, then the expiry error, then the end of the operation.
    expect(ends.outcome.ended).toBe(true);
    expect(ends.outcome.events[0]?.data).toEqual({ bookProcessing: { bookId, status: 'PENDING' } });
    expect(ends.outcome.events.at(-1)?.errors?.[0]).toMatchObject({
      message: 'The access token has expired; refresh it and retry',
      extensions: { code: 'UNAUTHENTICATED', reason: 'expired' },
    });
    // SSE and multipart: the same last event, and the response ends.
    expect(sse).toContain('"status":"PENDING"');
    expect(codesIn(sse)).toEqual(['UNAUTHENTICATED']);
    expect(sse).toMatch(/event: complete/);
    expect(multipart).toContain('"status":"PENDING"');
    expect(codesIn(multipart)).toEqual(['UNAUTHENTICATED']);
    expect(multipart.trimEnd().endsWith('--graphql--')).toBe(true);

    // The stream with a valid token has had its first event and is still running.
    expect(stays.outcome.events).toEqual([
      { data: { bookProcessing: { bookId, status: 'PENDING' } } },
    ]);
    expect(stays.outcome.ended).toBe(false);
    await stays.dispose();
    await ends.dispose();
  }, 30_000);
});
