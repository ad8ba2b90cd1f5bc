import { randomUUID } from 'node:crypto';
import { ensureSupabaseShims, signSupabaseJwt } from '@falsafa/standins';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ws from 'ws';
import { startTestGateway, TEST_JWT_SECRET, type TestGateway } from './support/gateway.js';

// What each caller may do to each table, tried as Supabase runs a request: in a transaction,
// `set local role` and `request.jwt.claims`, then the statement (rolled back afterwards).
type Caller = 'anon' | 'other' | 'owner';
/** `denied`: no privilege (42501 permission denied); `refused`: a policy said no (42501 RLS);
 *  a number: the statement ran and saw or touched that many rows. */
type Outcome = 'denied' | 'refused' | number;

const owner = randomUUID();
const other = randomUUID();
let gw: TestGateway;
let ids: {
  category: string;
  book: string;
  character: string;
  session: string;
  message: string;
  branch: string;
  object: string;
};

function claims(caller: Caller): Record<string, unknown> {
  if (caller === 'anon') return { role: 'anon' };
  return { role: 'authenticated', aud: 'authenticated', sub: caller === 'owner' ? owner : other };
}

function sub(caller: Caller): string {
  return caller === 'owner' ? owner : other;
}

class Rollback extends Error {}

/** Runs `statement` as `caller` and rolls it back; what PostgreSQL answered. */
async function attempt(
  caller: Caller,
  statement: string,
  params: unknown[] = [],
): Promise<Outcome> {
  let outcome: Outcome = 'denied';
  try {
    await gw.db.sql.begin(async (tx) => {
      await tx`select set_config('role', ${caller === 'anon' ? 'anon' : 'authenticated'}, true),
                      set_config('request.jwt.claims', ${JSON.stringify(claims(caller))}, true)`;
      const rows = await tx.unsafe(statement, params as postgres.ParameterOrJSON<never>[]);
      outcome = rows.count ?? rows.length;
      throw new Rollback();
    });
  } catch (error) {
    if (error instanceof Rollback) return outcome;
    const e = error as { code?: string; message?: string };
    if (e.code !== '42501') throw error;
    return /row-level security/.test(e.message ?? '') ? 'refused' : 'denied';
  }
  return outcome;
}

interface Case {
  table: string;
  verb: 'select' | 'insert' | 'update' | 'delete' | 'truncate';
  what: string;
  sql: (caller: Caller) => [string, unknown[]];
  expect: Record<Caller, Outcome>;
}

const DENIED = { anon: 'denied', other: 'denied', owner: 'denied' } as const;

function cases(): Case[] {
  const truncate = (table: string): Case => ({
    table,
    verb: 'truncate',
    what: '',
    sql: () => [`truncate public.${table} cascade`, []],
    expect: DENIED,
  });
  const remove = (table: string, id: string): Case => ({
    table,
    verb: 'delete',
    what: '',
    sql: () => [`delete from public.${table} where id = $1`, [id]],
    expect: DENIED,
  });
  const sessionColumn = (column: string, value: (c: Caller) => unknown): Case => ({
    table: 'chat_sessions',
    verb: 'update',
    what: column,
    sql: (c) => [
      `update public.chat_sessions set ${column} = $1 where id = $2`,
      [value(c), ids.session],
    ],
    expect: DENIED,
  });
  return [
    // categories: read by readers, written by nobody.
    {
      table: 'categories',
      verb: 'select',
      what: '*',
      sql: () => ['select * from public.categories where id = $1', [ids.category]],
      expect: { anon: 'denied', other: 1, owner: 1 },
    },
    {
      table: 'categories',
      verb: 'insert',
      what: '',
      sql: () => ["insert into public.categories (name) values ('Mine')", []],
      expect: DENIED,
    },
    {
      table: 'categories',
      verb: 'update',
      what: 'name',
      sql: () => ["update public.categories set name = 'Renamed' where id = $1", [ids.category]],
      expect: DENIED,
    },
    remove('categories', ids.category),
    truncate('categories'),

    // books: the whole catalog is readable; a reader inserts their own pending book on their
    // own file; nobody else writes.
    {
      table: 'books',
      verb: 'select',
      what: '*',
      sql: () => ['select * from public.books where id = $1', [ids.book]],
      expect: { anon: 'denied', other: 1, owner: 1 },
    },
    {
      table: 'books',
      verb: 'insert',
      what: 'own row, own file',
      sql: (c) => [
        "insert into public.books (user_id, title, storage_path, processing_status) values ($1, 'New', $2, 'pending')",
        [c === 'anon' ? null : sub(c), `${c === 'anon' ? 'anon' : sub(c)}/new.md`],
      ],
      expect: { anon: 'denied', other: 1, owner: 1 },
    },
    {
      table: 'books',
      verb: 'insert',
      what: "own row, the owner's file",
      sql: (c) => [
        "insert into public.books (user_id, title, storage_path, processing_status) values ($1, 'New', $2, 'pending')",
        [c === 'anon' ? null : sub(c), `${owner}/private.md`],
      ],
      expect: { anon: 'denied', other: 'refused', owner: 1 },
    },
    {
      table: 'books',
      verb: 'insert',
      what: "the owner's row",
      sql: () => [
        "insert into public.books (user_id, title, processing_status) values ($1, 'New', 'pending')",
        [owner],
      ],
      expect: { anon: 'denied', other: 'refused', owner: 1 },
    },
    {
      table: 'books',
      verb: 'insert',
      what: 'already completed',
      sql: (c) => [
        "insert into public.books (user_id, title, processing_status) values ($1, 'New', 'completed')",
        [c === 'anon' ? null : sub(c)],
      ],
      expect: { anon: 'denied', other: 'refused', owner: 'refused' },
    },
    {
      table: 'books',
      verb: 'insert',
      what: 'id',
      sql: (c) => [
        "insert into public.books (id, user_id, title) values ($1, $2, 'New')",
        [randomUUID(), c === 'anon' ? null : sub(c)],
      ],
      expect: DENIED,
    },
    ...['title', 'storage_path', 'processing_status', 'user_id'].map(
      (column): Case => ({
        table: 'books',
        verb: 'update',
        what: column,
        sql: () => [`update public.books set ${column} = ${column} where id = $1`, [ids.book]],
        expect: DENIED,
      }),
    ),
    remove('books', ids.book),
    truncate('books'),

    // characters: readable without their system prompt; written by nobody.
    {
      table: 'characters',
      verb: 'select',
      what: 'public columns',
      sql: () => [
        'select id, book_id, name, safe_name, description, personality, avatar_url, created_at from public.characters where id = $1',
        [ids.character],
      ],
      expect: { anon: 'denied', other: 1, owner: 1 },
    },
    {
      table: 'characters',
      verb: 'select',
      what: 'system_prompt',
      sql: () => ['select system_prompt from public.characters where id = $1', [ids.character]],
      expect: DENIED,
    },
    {
      table: 'characters',
      verb: 'insert',
      what: '',
      sql: () => [
        "insert into public.characters (book_id, name, safe_name, system_prompt) values ($1, 'X', 'x', 'You are X.')",
        [ids.book],
      ],
      expect: DENIED,
    },
    {
      table: 'characters',
      verb: 'update',
      what: 'system_prompt',
      sql: () => [
        "update public.characters set system_prompt = 'Obey me.' where id = $1",
        [ids.character],
      ],
      expect: DENIED,
    },
    remove('characters', ids.character),
    truncate('characters'),

    // chat_sessions: a reader reads and creates their own, and renames it (title only).
    {
      table: 'chat_sessions',
      verb: 'select',
      what: '*',
      sql: () => ['select * from public.chat_sessions where id = $1', [ids.session]],
      expect: { anon: 'denied', other: 0, owner: 1 },
    },
    {
      table: 'chat_sessions',
      verb: 'insert',
      what: 'own row',
      sql: (c) => [
        "insert into public.chat_sessions (user_id, character_id, book_id, title) values ($1, $2, $3, 'Mine')",
        [c === 'anon' ? null : sub(c), ids.character, ids.book],
      ],
      expect: { anon: 'denied', other: 1, owner: 1 },
    },
    {
      table: 'chat_sessions',
      verb: 'insert',
      what: "the owner's row",
      sql: () => [
        'insert into public.chat_sessions (user_id, character_id, book_id) values ($1, $2, $3)',
        [owner, ids.character, ids.book],
      ],
      expect: { anon: 'denied', other: 'refused', owner: 1 },
    },
    {
      table: 'chat_sessions',
      verb: 'insert',
      what: 'message_count',
      sql: (c) => [
        'insert into public.chat_sessions (user_id, character_id, book_id, message_count) values ($1, $2, $3, 9999)',
        [c === 'anon' ? null : sub(c), ids.character, ids.book],
      ],
      expect: DENIED,
    },
    {
      table: 'chat_sessions',
      verb: 'update',
      what: 'title',
      sql: () => ["update public.chat_sessions set title = 'Renamed' where id = $1", [ids.session]],
      expect: { anon: 'denied', other: 0, owner: 1 },
    },
    sessionColumn('message_count', () => 9999),
    sessionColumn('preview', () => 'forged'),
    sessionColumn('book_id', () => ids.book),
    sessionColumn('character_id', () => ids.character),
    sessionColumn('user_id', sub),
    remove('chat_sessions', ids.session),
    truncate('chat_sessions'),

    // messages: a reader reads the messages of their own sessions; only the backend writes.
    {
      table: 'messages',
      verb: 'select',
      what: '*',
      sql: () => ['select * from public.messages where id = $1', [ids.message]],
      expect: { anon: 'denied', other: 0, owner: 1 },
    },
    {
      table: 'messages',
      verb: 'insert',
      what: '',
      sql: () => [
        "insert into public.messages (session_id, role, content) values ($1, 'assistant', 'forged')",
        [ids.session],
      ],
      expect: DENIED,
    },
    {
      table: 'messages',
      verb: 'update',
      what: 'content',
      sql: () => ["update public.messages set content = 'forged' where id = $1", [ids.message]],
      expect: DENIED,
    },
    remove('messages', ids.message),
    truncate('messages'),

    // chat_branches: a reader reads the branches of their own sessions; only the backend writes.
    {
      table: 'chat_branches',
      verb: 'select',
      what: '*',
      sql: () => ['select * from public.chat_branches where id = $1', [ids.branch]],
      expect: { anon: 'denied', other: 0, owner: 1 },
    },
    {
      table: 'chat_branches',
      verb: 'insert',
      what: '',
      sql: () => [
        'insert into public.chat_branches (session_id, fork_at) values ($1, now())',
        [ids.session],
      ],
      expect: DENIED,
    },
    {
      table: 'chat_branches',
      verb: 'update',
      what: 'fork_at',
      sql: () => ['update public.chat_branches set fork_at = now() where id = $1', [ids.branch]],
      expect: DENIED,
    },
    remove('chat_branches', ids.branch),
    truncate('chat_branches'),

    // storage.objects, the rows behind Storage: a reader's own prefix of the books bucket only.
    {
      table: 'storage.objects',
      verb: 'select',
      what: "the owner's file",
      sql: () => ['select * from storage.objects where id = $1', [ids.object]],
      expect: { anon: 0, other: 0, owner: 1 },
    },
    {
      table: 'storage.objects',
      verb: 'insert',
      what: 'own prefix',
      sql: (c) => [
        "insert into storage.objects (bucket_id, name) values ('books', $1)",
        [`${c === 'anon' ? 'anon' : sub(c)}/new.md`],
      ],
      expect: { anon: 'refused', other: 1, owner: 1 },
    },
    {
      table: 'storage.objects',
      verb: 'insert',
      what: "the owner's prefix",
      sql: () => [
        "insert into storage.objects (bucket_id, name) values ('books', $1)",
        [`${owner}/new.md`],
      ],
      expect: { anon: 'refused', other: 'refused', owner: 1 },
    },
    {
      table: 'storage.objects',
      verb: 'update',
      what: 'metadata',
      sql: () => ["update storage.objects set metadata = '{}' where id = $1", [ids.object]],
      expect: { anon: 0, other: 0, owner: 1 },
    },
    {
      table: 'storage.objects',
      verb: 'update',
      what: 'name, out of the own prefix',
      sql: () => [
        'update storage.objects set name = $1 where id = $2',
        [`${other}/moved.md`, ids.object],
      ],
      expect: { anon: 0, other: 0, owner: 'refused' },
    },
    {
      table: 'storage.objects',
      verb: 'delete',
      what: "the owner's file",
      sql: () => ['delete from storage.objects where id = $1', [ids.object]],
      expect: { anon: 0, other: 0, owner: 1 },
    },
    {
      table: 'storage.objects',
      verb: 'truncate',
      what: '',
      sql: () => ['truncate storage.objects', []],
      expect: DENIED,
    },
  ];
}

const TABLES = ['categories', 'books', 'characters', 'chat_sessions', 'messages', 'chat_branches'];
const COVERED = [...TABLES, 'storage.objects'];
const CALLERS: Caller[] = ['anon', 'other', 'owner'];

let anonKey: string;

function frontend(token?: string): SupabaseClient {
  return createClient(gw.standIn.url, anonKey, {
    realtime: { transport: ws as never },
    auth: { persistSession: false, autoRefreshToken: false },
    ...(token ? { global: { headers: { Authorization: `Bearer ${token}` } } } : {}),
  });
}

beforeAll(async () => {
  gw = await startTestGateway();
  anonKey = await signSupabaseJwt(TEST_JWT_SECRET, { role: 'anon' });
  const category = await gw.seed.category();
  const [book] = await gw.db.sql<{ id: string }[]>`
    insert into books (title, user_id, storage_path, category_id, processing_status)
    values ('Owned', ${owner}, ${`${owner}/owned.md`}, ${category}, 'completed') returning id`;
  const [character] = await gw.seed.characters(book!.id, 1);
  const session = await gw.seed.session(owner, character!, book!.id);
  await gw.seed.messages(session, 2);
  const [message] = await gw.db.sql<{ id: string }[]>`
    select id from messages where session_id = ${session} order by created_at limit 1`;
  const [branch] = await gw.db.sql<{ id: string }[]>`
    insert into chat_branches (session_id, fork_at) values (${session}, now()) returning id`;
  const [object] = await gw.db.sql<{ id: string }[]>`
    insert into storage.objects (bucket_id, name, owner, owner_id)
    values ('books', ${`${owner}/owned.md`}, ${owner}, ${owner}) returning id`;
  ids = {
    object: object!.id,
    category,
    book: book!.id,
    character: character!,
    session,
    message: message!.id,
    branch: branch!.id,
  };
});
afterAll(async () => {
  await gw?.close();
});

describe('least privilege (SQL as anon and authenticated, as Supabase runs a request)', () => {
  it('answers every verb on every table as the frontend needs and no more', async () => {
    const all = cases();
    for (const table of COVERED) {
      for (const verb of ['select', 'insert', 'update', 'delete', 'truncate']) {
        expect(
          all.some((c) => c.table === table && c.verb === verb),
          `${table} ${verb}`,
        ).toBe(true);
      }
    }
    const answers: string[] = [];
    const wanted: string[] = [];
    for (const c of all) {
      for (const caller of CALLERS) {
        const [statement, params] = c.sql(caller);
        const label = `${c.table} ${c.verb}${c.what ? ` (${c.what})` : ''} as ${caller}`;
        answers.push(`${label}: ${await attempt(caller, statement, params)}`);
        wanted.push(`${label}: ${c.expect[caller]}`);
      }
    }
    expect(answers).toEqual(wanted);
  });

  it('gives anon and authenticated nothing on tables and functions beyond those grants', async () => {
    const tables = await gw.db.sql<{ table: string; role: string; privilege: string }[]>`
      select c.relname as table, r.rolname as role, p.privilege_type as privilege
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'public'
      cross join (select rolname from pg_roles where rolname in ('anon', 'authenticated')) r
      cross join lateral (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'),
                                 ('REFERENCES'), ('TRIGGER')) p(privilege_type)
      where c.relkind in ('r', 'p', 'v', 'm', 'S')
        and has_table_privilege(r.rolname, c.oid, p.privilege_type)
      order by 1, 2, 3`;
    expect(tables.map((t) => `${t.table} ${t.role} ${t.privilege}`)).toEqual([
      'books authenticated SELECT',
      'categories authenticated SELECT',
      'chat_branches authenticated SELECT',
      'chat_sessions authenticated SELECT',
      'messages authenticated SELECT',
    ]);
    const functions = await gw.db.sql<{ name: string }[]>`
      select p.proname as name
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace and n.nspname = 'public'
      where has_function_privilege('anon', p.oid, 'execute')
         or has_function_privilege('authenticated', p.oid, 'execute')`;
    expect(functions).toEqual([]);
    // New objects are the service role's only until granted on purpose, also after a restart
    // has set up the Supabase roles again.
    await ensureSupabaseShims(gw.db.sql);
    await gw.db.sql`create table public.probe_later (id int primary key)`;
    try {
      expect(await attempt('owner', 'select * from public.probe_later')).toBe('denied');
      expect(await attempt('anon', 'truncate public.probe_later')).toBe('denied');
    } finally {
      await gw.db.sql`drop table public.probe_later`;
    }
  });
});

describe('least privilege through PostgREST (supabase-js, the reader token)', () => {
  it('lets a reader rename their session but not touch what the backend writes', async () => {
    const reader = frontend(await gw.token(owner));
    const renamed = await reader
      .from('chat_sessions')
      .update({ title: 'Evening talk' })
      .eq('id', ids.session)
      .select('title')
      .single();
    expect(renamed).toMatchObject({ status: 200, data: { title: 'Evening talk' } });
    for (const patch of [
      { message_count: 9999 },
      { preview: 'forged' },
      { book_id: ids.book },
      { character_id: ids.character },
    ]) {
      const forged = await reader.from('chat_sessions').update(patch).eq('id', ids.session);
      expect(forged, JSON.stringify(patch)).toMatchObject({
        status: 403,
        error: { code: '42501' },
      });
    }
    const res = await gw.gql(
      'query ($id: ID!) { chatSession(id: $id) { title messageCount preview } }',
      { id: ids.session },
      { token: await gw.token(owner) },
    );
    expect(res.body.data).toEqual({
      chatSession: { title: 'Evening talk', messageCount: 2, preview: null },
    });
  });

  it("hides characters' system prompts and gives anon nothing", async () => {
    const reader = frontend(await gw.token(other));
    const listed = await reader.from('characters').select('id, name').eq('id', ids.character);
    expect(listed).toMatchObject({ status: 200, data: [{ id: ids.character }] });
    const prompt = await reader.from('characters').select('system_prompt');
    expect(prompt).toMatchObject({ status: 403, error: { code: '42501' } });
    const star = await reader.from('characters').select('*');
    expect(star).toMatchObject({ status: 403, error: { code: '42501' } });
    const messages = await reader.from('messages').select('id');
    expect(messages).toMatchObject({ status: 200, data: [] });

    const anon = frontend();
    for (const table of TABLES) {
      const read = await anon.from(table).select('id');
      expect(read, table).toMatchObject({ status: 401, error: { code: '42501' } });
    }
    // The gateway (service role) still reads the prompt it needs.
    const [row] = await gw.deps.catalogStore.charactersByIds([ids.character]);
    expect(row?.system_prompt).toBe('You are character 000.');
  });
});
