import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestDemoBook } from './support/books.js';
import { createChatSession } from './support/chat.js';
import { type GqlResult, startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * The offline fallback's replies (LLM_PROVIDER=local) over the ingested demo book, through GraphQL:
 * each question's reply holds a sentence of the book that answers it (labelled by hand below),
 * quotes once and cleanly, says no sentence twice and never echoes the question; a follow-up about
 * what was just said quotes the previous reply; the reply says it is extractive; and a streamed
 * reply arrives word by word.
 */

/** Question, and the book's sentences (any one of them) that answer it. */
const QUESTIONS: [string, string[]][] = [
  [
    'Who sent Mira to live at the lighthouse?',
    ['Her aunt had sent her there with a canvas bag, a letter and a warning to be useful.'],
  ],
  [
    'How many steps are there up to the lamp?',
    [
      'There are one hundred and twelve of them, and the lamp does not care if your legs are tired.',
      'Mira climbed the hundred and twelve steps four times before midnight to check the lamp',
      'That evening Mira climbed the hundred and twelve steps as she always did.',
    ],
  ],
  ['What is the name of the stranger who came on the ferry?', ['My name is Idris Calloway.']],
  [
    'When did the stranger arrive?',
    ['The stranger arrived three days later, on the last ferry before the storm.'],
  ],
  [
    'Why did Mira go out onto the rocks with Idris?',
    ['and Mira went with him, because Tomas told her to.'],
  ],
  [
    'Why did the Harbour Board not change the chart when Aldo Brenn wrote to them?',
    ['The Board cannot alter Admiralty charts on the word of a lamp keeper.'],
  ],
  [
    'How deep is the water over the sandbank at low water?',
    ['At low water it came within two fathoms of the surface.'],
  ],
  [
    'Where did the Merrow strike the rocks?',
    ['That is exactly where the Merrow struck.', 'East of the Needle'],
  ],
  [
    'What did Tomas say the sea tells you?',
    ['The sea tells you what it is going to do,', 'It tells you what it is going to do.'],
  ],
  [
    "What did the Board's chairman say Idris was asking for?",
    ['you are asking this Board to petition the Admiralty to change a chart'],
  ],
  [
    'What did the answer from the Admiralty say would happen to the chart?',
    ['The chart would be corrected.'],
  ],
];

const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
  reply { content } } }`;

let gw: TestGateway;
const reader = randomUUID();
let token: string;
let mira: string;

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
  token = await gw.token(reader);
  const bookId = await ingestDemoBook(gw, reader);
  const [row] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} and name = 'Mira'`;
  mira = row!.id;
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

const newSession = () => createChatSession(gw, token, mira);

async function ask(sessionId: string, content: string, query = SEND): Promise<GqlResult> {
  const res = await gw.gql(query, { input: { sessionId, content } }, { token });
  expect(res.body.errors).toBeUndefined();
  return res;
}

async function replyTo(sessionId: string, content: string): Promise<string> {
  const res = await ask(sessionId, content);
  return (res.body.data?.sendMessage as { reply: { content: string } }).reply.content;
}

/** Compared as words: quote marks, emphasis and case aside. */
const plain = (text: string) =>
  text
    .toLowerCase()
    .replace(/[‘’“”"_*]/g, ' ')
    .replace(/'/g, '’')
    .replace(/[^\p{L}\p{N}’]+/gu, ' ')
    .trim();

function sentencesOf(reply: string): string[] {
  const inner = reply.match(/“([\s\S]*)”/)?.[1] ?? reply;
  return inner
    .split(/(?<=[.!?][’']?)\s+(?=[‘“"']?\p{Lu})|\s…\s/u)
    .map(plain)
    .filter((s) => s.split(' ').length >= 3);
}

/**
 * The question comes back: all of it, or eight words of it in a row (the book's own sentences may
 * share a shorter phrase with a question asked in the book's words).
 */
function echoes(reply: string, question: string): boolean {
  const q = plain(question).split(' ');
  const r = ` ${plain(reply)} `;
  const n = Math.min(8, q.length);
  for (let i = 0; i + n <= q.length; i++)
    if (r.includes(` ${q.slice(i, i + n).join(' ')} `)) return true;
  return false;
}

function checkClean(reply: string, question: string) {
  const sentences = sentencesOf(reply);
  expect(new Set(sentences).size, `a sentence twice in: ${reply}`).toBe(sentences.length);
  expect(echoes(reply, question), `the question echoed in: ${reply}`).toBe(false);
  // One quotation, its marks not doubled: the book's own quotes are nested as single quotes.
  expect(reply.match(/“/g)?.length ?? 0, reply).toBeLessThanOrEqual(1);
  expect(reply.match(/”/g)?.length ?? 0, reply).toBeLessThanOrEqual(1);
  expect(reply, reply).not.toMatch(/["“”]\s*["“”]|"/);
}

describe('offline replies answer questions over the demo book', () => {
  it.each(QUESTIONS)('%s', async (question, answers) => {
    const reply = await replyTo(await newSession(), question);
    const found = answers.some((a) => plain(reply).includes(plain(a)));
    expect(found, `no answer in: ${reply}`).toBe(true);
    checkClean(reply, question);
  });
});

describe('offline replies in a conversation', () => {
  it('a follow-up about what was just said quotes the previous reply on that topic', async () => {
    const sessionId = await newSession();
    const first = await replyTo(sessionId, 'How long did the storm blow?');
    const stormy = sentencesOf(first).filter((s) => s.includes('storm'));
    expect(stormy.length, first).toBeGreaterThan(0);
    const question = 'What did you just say about the storm?';
    const second = await replyTo(sessionId, question);
    const again = sentencesOf(second);
    expect(
      stormy.some((s) => again.includes(s)),
      second,
    ).toBe(true);
    for (const s of again) expect(sentencesOf(first), second).toContain(s);
    checkClean(second, question);
  });

  it('a pointing follow-up is read with the previous turn', async () => {
    const sessionId = await newSession();
    await replyTo(sessionId, 'Who is Idris Calloway?');
    const reply = await replyTo(sessionId, 'Why did he come to Salt Hollow?');
    // Idris came to draw the coast anew: the answer is his, not any other arrival's.
    expect(plain(reply), reply).toMatch(/draw (this coast|new ones)/);
  });

  it('says in the metadata that the reply is extractive, also when read back', async () => {
    const sessionId = await newSession();
    const res = await ask(
      sessionId,
      'Where did Tomas keep his logbooks?',
      `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
        userMessage { generatedBy } reply { generatedBy citations { chunkIndex } } } }`,
    );
    const turn = res.body.data?.sendMessage as {
      userMessage: { generatedBy: string | null };
      reply: { generatedBy: string | null; citations: unknown[] };
    };
    expect(turn.reply.citations.length).toBeGreaterThan(0);
    expect(turn.reply.generatedBy).toBe('EXTRACTIVE');
    expect(turn.userMessage.generatedBy).toBeNull();
    const read = await gw.gql(
      `query ($id: ID!) { chatSession(id: $id) { messages(first: 10) {
        edges { node { role generatedBy } } } } }`,
      { id: sessionId },
      { token },
    );
    expect(read.body.errors).toBeUndefined();
    const nodes = (
      read.body.data?.chatSession as {
        messages: { edges: { node: { role: string; generatedBy: string | null } }[] };
      }
    ).messages.edges.map((e) => e.node);
    expect(nodes).toEqual([
      { role: 'USER', generatedBy: null },
      { role: 'ASSISTANT', generatedBy: 'EXTRACTIVE' },
    ]);
  });
});

describe('streamed offline replies', () => {
  it('arrive word by word over SSE, and the pieces make the saved reply', async () => {
    const sessionId = await newSession();
    const res = await gw.app.fetch('http://gateway.test/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({
        query: `subscription ($input: SendMessageInput!) { sendMessageStream(input: $input) {
          __typename ... on MessageDelta { delta }
          ... on TurnCompleted { payload { reply { content generatedBy } } } } }`,
        variables: { input: { sessionId, content: 'What happened on the night of the storm?' } },
      }),
    });
    expect(res.status).toBe(200);
    const items = (await res.text())
      .split('\n')
      .filter((l) => l.startsWith('data:') && l.length > 6)
      .map((l) => JSON.parse(l.slice(5)).data.sendMessageStream);
    const deltas = items.filter((i) => i.__typename === 'MessageDelta').map((i) => i.delta);
    const done = items.at(-1);
    expect(done.__typename).toBe('TurnCompleted');
    const saved: string = done.payload.reply.content;
    expect(deltas.join('')).toBe(saved);
    expect(deltas.length).toBeGreaterThan(2);
    // Word by word: as many pieces as the reply has words.
    expect(deltas.length).toBe(saved.split(/\s+/).length);
    expect(done.payload.reply.generatedBy).toBe('EXTRACTIVE');
  });
});
