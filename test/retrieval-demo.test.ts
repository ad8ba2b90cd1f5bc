import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_QUESTIONS } from '../src/ingest/demo-book.js';
import { ingestDemoBook } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * The chat turn on the ingested demo book with the embedded defaults (word-vector embedder, local
 * model): for each of the demo's example questions, the reply's citations contain the sentence of
 * the book that answers it.
 */
let gw: TestGateway;
const reader = randomUUID();
let token: string;
let sessionId: string;

beforeAll(async () => {
  gw = await startTestGateway({
    worker: true,
    env: { RATE_LIMIT_ENABLED: 'false', EMBEDDING_PROVIDER: 'words' },
  });
  token = await gw.token(reader);
  const bookId = await ingestDemoBook(gw, reader);
  const [mira] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} and name = 'Mira'`;
  sessionId = await gw.seed.session(reader, mira!.id, bookId);
}, 60_000);

afterAll(async () => {
  await gw?.close();
});

const SEND = `mutation ($input: SendMessageInput!) {
  sendMessage(input: $input) { reply { citations { chunkIndex text } } } }`;

describe('chat turn citations on the demo book', () => {
  it.each(DEMO_QUESTIONS)('$question cites the answer', async ({ question, answer }) => {
    const res = await gw.gql(SEND, { input: { sessionId, content: question } }, { token });
    expect(res.body.errors).toBeUndefined();
    const reply = (res.body.data?.sendMessage as { reply: { citations: { text: string }[] } })
      .reply;
    expect(reply.citations.length).toBeGreaterThan(0);
    expect(reply.citations.some((c) => c.text.includes(answer))).toBe(true);
  });
});
