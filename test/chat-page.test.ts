import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestDemoBook } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * The frontend's chat page (client/operations/ChatPage.graphql) over GraphQL: small by default,
 * its citations without their passages' text, which a client asks for when it shows a passage.
 */

const CHAT_PAGE = readFileSync(
  new URL('../client/operations/ChatPage.graphql', import.meta.url),
  'utf8',
);

const SEND = `mutation ($input: SendMessageInput!) {
  sendMessage(input: $input) { reply { id citations { chunkIndex } } } }`;

const CITED_TEXT = `query ($id: ID!) { chatSession(id: $id) {
  messages(last: 50) { edges { node { id citations { chunkIndex text } } } } } }`;

interface PageCitation {
  chunkIndex: number;
  score: number;
  text?: string;
}
interface PageNode {
  id: string;
  role: string;
  citations: PageCitation[];
}

let gw: TestGateway;
let token: string;
let sessionId: string;

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
  const reader = randomUUID();
  token = await gw.token(reader);
  const bookId = await ingestDemoBook(gw, reader);
  const [character] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  const created = await gw.gql(
    'mutation ($input: CreateChatSessionInput!) { createChatSession(input: $input) { id } }',
    { input: { characterId: character!.id } },
    { token },
  );
  expect(created.body.errors).toBeUndefined();
  sessionId = (created.body.data?.createChatSession as { id: string }).id;
  for (const content of ['What happened in the storm?', 'Who keeps the lamp?']) {
    const res = await gw.gql(SEND, { input: { sessionId, content } }, { token });
    expect(res.body.errors).toBeUndefined();
  }
}, 90_000);
afterAll(async () => {
  await gw?.close();
});

describe('the chat page', () => {
  it("answers the citations without their passages' text, which stays one field away", async () => {
    const page = await gw.gql(CHAT_PAGE, { sessionId }, { token });
    expect(page.body.errors).toBeUndefined();
    const edges = (
      page.body.data?.chatSession as { messages: { edges: { node: PageNode }[] } }
    ).messages.edges.map((e) => e.node);
    expect(edges).toHaveLength(4);
    const cited = edges.filter((m) => m.role === 'ASSISTANT' && m.citations.length > 0);
    expect(cited.length).toBe(2);
    for (const m of cited) {
      for (const c of m.citations) {
        expect(Object.keys(c).sort()).not.toContain('text');
        expect(Number.isInteger(c.chunkIndex)).toBe(true);
        expect(c.score).toBeGreaterThan(0);
      }
    }

    // The same messages' citations with their text, asked for, as saved with the turn.
    const full = await gw.gql(CITED_TEXT, { id: sessionId }, { token });
    expect(full.body.errors).toBeUndefined();
    const rows = await gw.db.sql<
      { id: string; citations: { chunk_index: number; text: string }[] }[]
    >`
      select id, citations from messages where session_id = ${sessionId} and role = 'assistant'`;
    const saved = new Map(rows.map((r) => [r.id, r.citations]));
    const asked = (
      full.body.data?.chatSession as {
        messages: {
          edges: { node: { id: string; citations: { chunkIndex: number; text: string }[] } }[];
        };
      }
    ).messages.edges.map((e) => e.node);
    for (const m of cited) {
      const withText = asked.find((a) => a.id === m.id)!;
      expect(withText.citations.map((c) => c.chunkIndex)).toEqual(
        m.citations.map((c) => c.chunkIndex),
      );
      expect(withText.citations.map((c) => c.text)).toEqual(saved.get(m.id)!.map((c) => c.text));
      expect(withText.citations.every((c) => c.text.length > 20)).toBe(true);
    }

    // Small by default: the page is a fraction of the page with the passages' text.
    const pageBytes = JSON.stringify(page.body).length;
    const textBytes = cited.reduce(
      (n, m) => n + saved.get(m.id)!.reduce((k, c) => k + c.text.length, 0),
      0,
    );
    expect(pageBytes).toBeLessThan(textBytes);
  });
});
