import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from './support/gateway.js';

const BOOK_PAGE = `query ($id: ID!) { book(id: $id) { id title author processingStatus createdAt
  category { id name slug } characters { id name description book { id } } } }`;
const CHAT_PAGE = `query ($id: ID!, $last: Int, $before: String) { chatSession(id: $id) {
  id title messageCount character { id name } book { id title category { name } }
  messages(last: $last, before: $before) { edges { cursor node { id role content createdAt citations { chunkIndex } } }
  pageInfo { hasPreviousPage hasNextPage startCursor endCursor } } } }`;

let gw: TestGateway;
let token: string;
const reader = randomUUID();

beforeAll(async () => {
  gw = await startTestGateway();
  token = await gw.token(reader);
});
afterAll(async () => {
  await gw?.close();
});

describe('the read path', () => {
  it('answers the book page: book, category and characters by name', async () => {
    const categoryId = await gw.seed.category('Philosophy');
    const bookId = await gw.seed.book({ title: 'Walden', categoryId });
    const chars = await gw.seed.characters(bookId, 3);
    const res = await gw.gql(BOOK_PAGE, { id: bookId }, { token });
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    const book = res.body.data?.book as Record<string, any>;
    expect(book).toMatchObject({
      id: bookId,
      title: 'Walden',
      processingStatus: 'COMPLETED',
      category: { id: categoryId, name: 'Philosophy', slug: 'philosophy' },
    });
    expect(new Date(book.createdAt).toString()).not.toBe('Invalid Date');
    expect(book.characters.map((c: any) => c.id)).toEqual(chars);
    expect(book.characters.every((c: any) => c.book.id === bookId)).toBe(true);
  });

  it('answers NOT_FOUND for a book or a character that does not exist', async () => {
    const id = randomUUID();
    const book = await gw.gql(BOOK_PAGE, { id }, { token });
    expect(book.status).toBe(200);
    expect(book.body.data?.book).toBeNull();
    expect(book.body.errors).toHaveLength(1);
    expect(book.body.errors?.[0]).toMatchObject({
      message: `Book ${id} was not found`,
      path: ['book'],
      extensions: { code: 'NOT_FOUND' },
    });
    const character = await gw.gql(
      'query ($id: ID!) { character(id: $id) { id name } }',
      { id },
      { token },
    );
    expect(character.body.data?.character).toBeNull();
    expect(character.body.errors?.[0]).toMatchObject({
      message: `Character ${id} was not found`,
      path: ['character'],
      extensions: { code: 'NOT_FOUND' },
    });
  });

  it('pages the catalog newest first with opaque cursors, filtered by status and category', async () => {
    const categoryId = await gw.seed.category('Paging');
    const ids: string[] = [];
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) {
      ids.push(
        await gw.seed.book({ title: `P${i}`, categoryId, createdAt: new Date(t0 + i * 1000) }),
      );
    }
    await gw.seed.book({ title: 'Pending one', categoryId, status: 'pending' });
    const q = `query ($after: String, $c: ID) { books(first: 2, after: $after, categoryId: $c, status: COMPLETED) {
      edges { cursor node { title } } pageInfo { hasNextPage endCursor } } }`;
    const titles: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res = await gw.gql(q, { after, c: categoryId }, { token });
      expect(res.body.errors).toBeUndefined();
      const conn = res.body.data?.books as any;
      titles.push(...conn.edges.map((e: any) => e.node.title));
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(titles).toEqual(['P4', 'P3', 'P2', 'P1', 'P0']);
  });

  it('lists categories', async () => {
    await gw.seed.category('Zoology');
    const res = await gw.gql('{ categories { name } }', {}, { token });
    expect((res.body.data?.categories as any[]).map((c) => c.name)).toContain('Zoology');
  });

  it("pages a book's characters by name", async () => {
    const bookId = await gw.seed.book();
    await gw.seed.characters(bookId, 5);
    const q = `query ($id: ID!, $after: String) { book(id: $id) { characterConnection(first: 3, after: $after) {
      edges { node { name } } pageInfo { hasNextPage endCursor } } } }`;
    const first = await gw.gql(q, { id: bookId }, { token });
    const c1 = (first.body.data?.book as any).characterConnection;
    expect(c1.edges.map((e: any) => e.node.name)).toEqual([
      'Character 000',
      'Character 001',
      'Character 002',
    ]);
    expect(c1.pageInfo.hasNextPage).toBe(true);
    const second = await gw.gql(q, { id: bookId, after: c1.pageInfo.endCursor }, { token });
    const c2 = (second.body.data?.book as any).characterConnection;
    expect(c2.edges.map((e: any) => e.node.name)).toEqual(['Character 003', 'Character 004']);
    expect(c2.pageInfo.hasNextPage).toBe(false);
  });

  it('answers the chat page with the last messages, and pages back with before', async () => {
    const bookId = await gw.seed.book({ title: 'Chat book' });
    const [characterId] = await gw.seed.characters(bookId, 1);
    const sessionId = await gw.seed.session(reader, characterId!, bookId);
    await gw.seed.messages(sessionId, 7);
    const res = await gw.gql(CHAT_PAGE, { id: sessionId, last: 3 }, { token });
    expect(res.body.errors).toBeUndefined();
    const s = res.body.data?.chatSession as any;
    expect(s).toMatchObject({
      id: sessionId,
      messageCount: 7,
      character: { id: characterId },
      book: { id: bookId },
    });
    expect(s.messages.edges.map((e: any) => e.node.content)).toEqual([
      'message 4',
      'message 5',
      'message 6',
    ]);
    expect(s.messages.edges[0].node.role).toBe('USER');
    expect(s.messages.pageInfo.hasPreviousPage).toBe(true);
    const back = await gw.gql(
      CHAT_PAGE,
      { id: sessionId, last: 5, before: s.messages.pageInfo.startCursor },
      { token },
    );
    const m2 = (back.body.data?.chatSession as any).messages;
    expect(m2.edges.map((e: any) => e.node.content)).toEqual([
      'message 0',
      'message 1',
      'message 2',
      'message 3',
    ]);
    expect(m2.pageInfo.hasPreviousPage).toBe(false);
  });

  it('pages messages forward from the oldest', async () => {
    const bookId = await gw.seed.book();
    const [characterId] = await gw.seed.characters(bookId, 1);
    const sessionId = await gw.seed.session(reader, characterId!, bookId);
    await gw.seed.messages(sessionId, 4);
    const q = `query ($id: ID!, $after: String) { chatSession(id: $id) { messages(first: 3, after: $after) {
      edges { node { content } } pageInfo { hasNextPage endCursor } } } }`;
    const r1 = await gw.gql(q, { id: sessionId }, { token });
    const m1 = (r1.body.data?.chatSession as any).messages;
    expect(m1.edges.map((e: any) => e.node.content)).toEqual([
      'message 0',
      'message 1',
      'message 2',
    ]);
    const r2 = await gw.gql(q, { id: sessionId, after: m1.pageInfo.endCursor }, { token });
    const m2 = (r2.body.data?.chatSession as any).messages;
    expect(m2.edges.map((e: any) => e.node.content)).toEqual(['message 3']);
    expect(m2.pageInfo.hasNextPage).toBe(false);
  });

  it("lists only the viewer's sessions, most recently active first", async () => {
    const me = randomUUID();
    const other = randomUUID();
    const bookId = await gw.seed.book();
    const [characterId] = await gw.seed.characters(bookId, 1);
    const mine: string[] = [];
    for (let i = 0; i < 3; i++)
      mine.push(await gw.seed.session(me, characterId!, bookId, `mine ${i}`));
    await gw.seed.session(other, characterId!, bookId, 'not mine');
    await gw.db
      .sql`update chat_sessions set updated_at = now() + interval '1 hour' where id = ${mine[0]!}`;
    const q = `query ($after: String) { chatSessions(first: 2, after: $after) { edges { node { id title } } pageInfo { hasNextPage endCursor } } }`;
    const myToken = await gw.token(me);
    const r1 = await gw.gql(q, {}, { token: myToken });
    const c1 = r1.body.data?.chatSessions as any;
    expect(c1.edges[0].node.title).toBe('mine 0');
    const r2 = await gw.gql(q, { after: c1.pageInfo.endCursor }, { token: myToken });
    const c2 = r2.body.data?.chatSessions as any;
    const all = [...c1.edges, ...c2.edges].map((e: any) => e.node.id);
    expect(all.sort()).toEqual([...mine].sort());
    expect(c2.pageInfo.hasNextPage).toBe(false);
  });

  it('creates a chat session for a character of a completed book, and refuses a pending one', async () => {
    const bookId = await gw.seed.book({ title: 'Open' });
    const [characterId] = await gw.seed.characters(bookId, 1);
    const m = `mutation ($c: ID!, $t: String) { createChatSession(input: { characterId: $c, title: $t }) {
      id title messageCount book { id } character { id } } }`;
    const res = await gw.gql(m, { c: characterId, t: 'Evening talk' }, { token });
    expect(res.body.errors).toBeUndefined();
    const created = res.body.data?.createChatSession as any;
    expect(created).toMatchObject({ title: 'Evening talk', messageCount: 0, book: { id: bookId } });
    const [row] = await gw.db.sql`select user_id from chat_sessions where id = ${created.id}`;
    expect(row?.user_id).toBe(reader);

    const pendingBook = await gw.seed.book({ status: 'pending' });
    const [pendingChar] = await gw.seed.characters(pendingBook, 1);
    const refused = await gw.gql(m, { c: pendingChar }, { token });
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('FAILED_PRECONDITION');

    const missing = await gw.gql(m, { c: randomUUID() }, { token });
    expect(missing.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('answers viewer with the token subject', async () => {
    const res = await gw.gql('{ viewer { id } }', {}, { token });
    expect(res.body.data?.viewer).toEqual({ id: reader });
  });
});
