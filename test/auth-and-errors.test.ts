import { randomUUID } from 'node:crypto';
import { signSupabaseJwt } from '@falsafa/standins';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, TEST_JWT_SECRET, type TestGateway } from './support/gateway.js';
import { keysOf } from './support/redis.js';

let gw: TestGateway;
const owner = randomUUID();
let ownerToken: string;
let bookId: string;
let characterId: string;
let sessionId: string;

async function storeSnapshot() {
  const counts = await gw.db.sql`select
    (select count(*) from books)::int as books, (select count(*) from characters)::int as characters,
    (select count(*) from chat_sessions)::int as sessions, (select count(*) from messages)::int as messages,
    (select coalesce(max(updated_at)::text, '') from chat_sessions) as sessions_updated`;
  const redisKeys = await keysOf(gw.redis);
  return { rows: counts[0], redisKeys };
}

beforeAll(async () => {
  gw = await startTestGateway();
  ownerToken = await gw.token(owner);
  bookId = await gw.seed.book();
  [characterId] = (await gw.seed.characters(bookId, 1)) as [string];
  sessionId = await gw.seed.session(owner, characterId, bookId);
  await gw.seed.messages(sessionId, 2);
});
afterAll(async () => {
  await gw?.close();
});

const forged = () =>
  new SignJWT({ role: 'authenticated' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(randomUUID())
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('another-projects-secret-0123456789-abcdef'));

describe('authentication', () => {
  const cases: [string, () => Promise<Record<string, string>>][] = [
    ['no Authorization header', async () => ({})],
    ['a token that is not a JWT', async () => ({ authorization: 'Bearer not-a-token' })],
    ['a Basic credential', async () => ({ authorization: 'Basic dXNlcjpwYXNz' })],
    ['a forged token', async () => ({ authorization: `Bearer ${await forged()}` })],
    [
      'an expired token',
      async () => ({ authorization: `Bearer ${await gw.token(owner, { expiresInSeconds: -60 })}` }),
    ],
    [
      'a service-role token',
      async () => ({
        authorization: `Bearer ${await signSupabaseJwt(TEST_JWT_SECRET, { role: 'service_role' })}`,
      }),
    ],
  ];

  it.each(cases)(
    '%s gets UNAUTHENTICATED with 401 and touches no store',
    async (_name, headers) => {
      const h = await headers();
      const before = await storeSnapshot();
      gw.counter.reset();
      gw.standIn.resetCounters();
      for (const query of [
        `{ book(id: "${bookId}") { title } }`,
        `mutation { createChatSession(input: { characterId: "${characterId}" }) { id } }`,
      ]) {
        const res = await gw.gql(query, {}, { headers: h });
        expect(res.status).toBe(401);
        expect(res.body.data ?? null).toBeNull();
        expect(res.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      }
      expect(gw.counter.snapshot()).toEqual({});
      expect(gw.standIn.requests.count).toBe(0);
      expect(await storeSnapshot()).toEqual(before);
    },
  );

  it('a valid token reaches the data', async () => {
    const res = await gw.gql(`{ book(id: "${bookId}") { id } }`, {}, { token: ownerToken });
    expect(res.status).toBe(200);
    expect(res.body.data?.book).toEqual({ id: bookId });
  });
});

describe('bad input', () => {
  it.each([
    ['a malformed book id', `{ book(id: "42; drop table books") { id } }`],
    ['a malformed session id', `{ chatSession(id: "not-a-uuid") { id } }`],
    ['a malformed character id', `{ character(id: "") { id } }`],
    ['a page size over the maximum', `{ books(first: 100000) { edges { cursor } } }`],
    ['a zero page size', `{ chatSessions(first: 0) { edges { cursor } } }`],
    ['a negative page size', `{ books(first: -1) { edges { cursor } } }`],
    ['a forged cursor', `{ books(first: 2, after: "eyJub3QiOiJvdXJzIn0") { edges { cursor } } }`],
    [
      'a cursor with SQL in it',
      `{ books(first: 2, after: "${Buffer.from(JSON.stringify(["2026-01-01T00:00:00Z'); drop table books;--", randomUUID()])).toString('base64url')}") { edges { cursor } } }`,
    ],
    ['backward paging of a forward list', `{ books(last: 2) { edges { cursor } } }`],
    ['a malformed categoryId', `{ books(categoryId: "x") { edges { cursor } } }`],
    [
      'a title too long',
      `mutation { createChatSession(input: { characterId: "${randomUUID()}", title: "${'x'.repeat(201)}" }) { id } }`,
    ],
  ])('%s gets BAD_USER_INPUT and changes nothing', async (_name, query) => {
    const before = await storeSnapshot();
    const q = query.replace(/\$\{bookId\}/g, bookId);
    const res = await gw.gql(q, {}, { token: ownerToken });
    expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.body.errors?.[0]?.message).not.toMatch(/Unexpected error/);
    expect(await storeSnapshot()).toEqual(before);
  });

  it('injection-looking text stays data', async () => {
    const title = `Robert'); drop table chat_sessions;-- "quoted" ,.()`;
    const res = await gw.gql(
      'mutation ($c: ID!, $t: String) { createChatSession(input: { characterId: $c, title: $t }) { id title } }',
      { c: characterId, t: title },
      { token: ownerToken },
    );
    expect(res.body.errors).toBeUndefined();
    expect((res.body.data?.createChatSession as any).title).toBe(title);
    const [row] = await gw.db.sql`select count(*)::int as n from chat_sessions`;
    expect(row?.n).toBeGreaterThan(0);
  });
});

describe('ownership', () => {
  it("someone else's session is exactly like one that does not exist", async () => {
    const stranger = await gw.token(randomUUID());
    const q = `query ($id: ID!) { chatSession(id: $id) { id messages(last: 5) { edges { node { content } } } } }`;
    const theirs = await gw.gql(q, { id: sessionId }, { token: stranger });
    const nobodys = await gw.gql(q, { id: randomUUID() }, { token: stranger });
    for (const res of [theirs, nobodys]) {
      expect(res.body.data?.chatSession).toBeNull();
      expect(res.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
    expect(theirs.body.errors?.[0]?.message.replace(sessionId, 'ID')).toBe(
      nobodys.body.errors?.[0]?.message.replace(/[0-9a-f-]{36}/, 'ID'),
    );
    const mine = await gw.gql(q, { id: sessionId }, { token: ownerToken });
    expect((mine.body.data?.chatSession as any).messages.edges).toHaveLength(2);
  });

  it("another reader's sessions never show in chatSessions", async () => {
    const stranger = await gw.token(randomUUID());
    const res = await gw.gql('{ chatSessions { edges { node { id } } } }', {}, { token: stranger });
    expect((res.body.data?.chatSessions as any).edges).toEqual([]);
  });
});

describe('a store that is down', () => {
  it('Supabase down gives SERVICE_UNAVAILABLE quickly, not a hang', async () => {
    const down = await startTestGateway({ env: { STORE_TIMEOUT_MS: '500' } });
    try {
      const t = await down.token(randomUUID());
      await down.standIn.close();
      const t0 = Date.now();
      const res = await down.gql(`{ book(id: "${randomUUID()}") { id } }`, {}, { token: t });
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(res.body.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      expect(res.body.errors?.[0]?.message).toMatch(/supabase is unavailable/);
    } finally {
      await down.close().catch(() => {});
    }
  });
});
