import { randomUUID } from 'node:crypto';
import { signSupabaseJwt } from '@falsafa/standins';
import type { SupabaseClient } from '@supabase/supabase-js';
import { TEST_JWT_SECRET, type TestGateway } from './gateway.js';

/**
 * What each caller may do to each table and function of the schema: one case table, tried as
 * SQL in a Supabase-shaped transaction (test/least-privilege.test.ts) and as the frontend's
 * supabase-js calls over PostgREST and Storage (test/postgrest-reader-matrix.test.ts).
 */

/** `anon`: the anon key alone; `owner`: reader A, whose rows the fixture holds; `other`: reader B. */
export type Caller = 'anon' | 'other' | 'owner';
/** `denied`: no privilege (42501 permission denied); `refused`: a policy said no (42501 RLS);
 *  a number: the statement ran and saw or touched that many rows. */
export type Outcome = 'denied' | 'refused' | number;

export const CALLERS: Caller[] = ['anon', 'other', 'owner'];

/** What a supabase-js call answered, as far as the matrix reads it. */
export interface RestAnswer {
  data: unknown;
  error: { code?: string; message?: string } | null;
  count?: number | null;
  status: number;
}

export interface Case {
  table: string;
  verb: 'select' | 'insert' | 'update' | 'delete' | 'truncate' | 'upsert' | 'rpc';
  what: string;
  sql: (caller: Caller) => [string, unknown[]];
  /** The same request made by the frontend with supabase-js (none where no API reaches it). */
  rest?: (client: SupabaseClient, caller: Caller) => PromiseLike<RestAnswer>;
  expect: Record<Caller, Outcome>;
}

export interface PrivilegeFixture {
  owner: string;
  other: string;
  ids: {
    category: string;
    book: string;
    character: string;
    session: string;
    message: string;
    object: string;
  };
}

export const PUBLIC_TABLES = [
  'categories',
  'books',
  'characters',
  'chat_sessions',
  'messages',
  'chat_turn_fences',
  'book_jobs',
];
export const COVERED_TABLES = [...PUBLIC_TABLES, 'storage.objects'];

/** Reader A's book (on A's file), character, session with two messages, fence, job and file. */
export async function seedPrivilegeFixture(gw: TestGateway): Promise<PrivilegeFixture> {
  const owner = randomUUID();
  const other = randomUUID();
  const category = await gw.seed.category();
  const [book] = await gw.db.sql<{ id: string }[]>`
    insert into books (title, user_id, storage_path, category_id, processing_status)
    values ('Owned', ${owner}, ${`${owner}/owned.md`}, ${category}, 'completed') returning id`;
  const [character] = await gw.seed.characters(book!.id, 1);
  const session = await gw.seed.session(owner, character!, book!.id);
  await gw.seed.messages(session, 2);
  const [message] = await gw.db.sql<{ id: string }[]>`
    select id from messages where session_id = ${session} order by created_at limit 1`;
  await gw.db.sql`insert into chat_turn_fences (session_id, fence) values (${session}, 1)`;
  await gw.db
    .sql`insert into book_jobs (book_id, job_id, state) values (${book!.id}, 'job-1', 'done')`;
  // A's file goes in through Storage with A's token, so that it has its row and its bytes.
  const uploaded = await fetch(`${gw.standIn.url}/storage/v1/object/books/${owner}/owned.md`, {
    method: 'POST',
    headers: {
      apikey: await signSupabaseJwt(TEST_JWT_SECRET, { role: 'anon' }),
      authorization: `Bearer ${await gw.token(owner)}`,
      'content-type': 'text/markdown',
    },
    body: '# Owned',
  });
  if (!uploaded.ok) throw new Error(`upload: ${uploaded.status} ${await uploaded.text()}`);
  const [object] = await gw.db.sql<{ id: string }[]>`
    select id from storage.objects where bucket_id = 'books' and name = ${`${owner}/owned.md`}`;
  return {
    owner,
    other,
    ids: {
      object: object!.id,
      category,
      book: book!.id,
      character: character!,
      session,
      message: message!.id,
    },
  };
}

export const DENIED = { anon: 'denied', other: 'denied', owner: 'denied' } as const;

/** A Storage answer in the matrix's terms: a refusal by policy (with the status PostgREST would
 *  give it), else the objects it touched. */
function storageAnswer(
  caller: Caller,
  res: { data: unknown; error: { message?: string } | null },
): RestAnswer {
  if (res.error) {
    if (/row-level security/.test(res.error.message ?? '')) {
      const status = caller === 'anon' ? 401 : 403;
      return { data: null, error: { code: '42501', message: res.error.message }, status };
    }
    // Storage answers a file the caller cannot see as not found: nothing was touched.
    if (/not found/i.test(res.error.message ?? '')) return { data: [], error: null, status: 200 };
    return { data: null, error: res.error, status: 500 };
  }
  const data = Array.isArray(res.data) ? res.data : res.data === null ? [] : [res.data];
  return { data, error: null, status: 200 };
}

/** Embedded rows of the first top-level row: what an embedding let the caller see. */
async function embedded(
  request: PromiseLike<{
    data: unknown;
    error: RestAnswer['error'];
    status: number;
  }>,
  key: string,
): Promise<RestAnswer> {
  const res = await request;
  if (res.error) return res;
  const first = (res.data as Record<string, unknown>[] | null)?.[0];
  return { data: first?.[key] ?? [], error: null, status: res.status };
}

export function privilegeCases(fx: PrivilegeFixture): Case[] {
  const { owner, other, ids } = fx;
  const sub = (caller: Caller): string => (caller === 'owner' ? owner : other);
  const subOrNull = (caller: Caller): string | null => (caller === 'anon' ? null : sub(caller));
  const exact = { count: 'exact' } as const;

  const truncate = (table: string): Case => ({
    table,
    verb: 'truncate',
    what: '',
    sql: () => [`truncate public.${table} cascade`, []],
    expect: DENIED,
  });
  const remove = (table: string, key: string, id: string): Case => ({
    table,
    verb: 'delete',
    what: '',
    sql: () => [`delete from public.${table} where ${key} = $1`, [id]],
    rest: (db) => db.from(table).delete(exact).eq(key, id),
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
    rest: (db, c) =>
      db
        .from('chat_sessions')
        .update({ [column]: value(c) }, exact)
        .eq('id', ids.session),
    expect: DENIED,
  });
  /** An upsert of an existing row: insert with its key, on conflict update `column`. */
  const upsert = (
    table: string,
    key: string,
    row: Record<string, unknown>,
    column: string,
  ): Case => {
    const columns = Object.keys(row);
    return {
      table,
      verb: 'upsert',
      what: column,
      sql: () => [
        `insert into public.${table} (${columns.join(', ')}) values (${columns.map((_, i) => `$${i + 1}`).join(', ')}) on conflict (${key}) do update set ${column} = excluded.${column}`,
        columns.map((c) => row[c]),
      ],
      rest: (db) => db.from(table).upsert(row, { onConflict: key, count: 'exact' }),
      expect: DENIED,
    };
  };
  const rpc = (table: string, fn: string, args: Record<string, unknown>, types: string[]): Case => {
    const names = Object.keys(args);
    return {
      table,
      verb: 'rpc',
      what: fn,
      sql: () => [
        `select public.${fn}(${names.map((n, i) => `${n} => $${i + 1}::${types[i]}`).join(', ')})`,
        names.map((n) => args[n]),
      ],
      rest: (db) => db.rpc(fn, args),
      expect: DENIED,
    };
  };

  return [
    // categories: read by readers, written by nobody.
    {
      table: 'categories',
      verb: 'select',
      what: '*',
      sql: () => ['select * from public.categories where id = $1', [ids.category]],
      rest: (db) => db.from('categories').select('*').eq('id', ids.category),
      expect: { anon: 'denied', other: 1, owner: 1 },
    },
    {
      table: 'categories',
      verb: 'insert',
      what: '',
      sql: () => ["insert into public.categories (name) values ('Mine')", []],
      rest: (db) => db.from('categories').insert({ name: 'Mine' }, exact),
      expect: DENIED,
    },
    {
      table: 'categories',
      verb: 'update',
      what: 'name',
      sql: () => ["update public.categories set name = 'Renamed' where id = $1", [ids.category]],
      rest: (db) => db.from('categories').update({ name: 'Renamed' }, exact).eq('id', ids.category),
      expect: DENIED,
    },
    upsert('categories', 'id', { id: ids.category, name: 'Renamed' }, 'name'),
    remove('categories', 'id', ids.category),
    truncate('categories'),

    // books: the whole catalog is readable; a reader inserts their own pending book on their
    // own file; nobody else writes.
    {
      table: 'books',
      verb: 'select',
      what: '*',
      sql: () => ['select * from public.books where id = $1', [ids.book]],
      rest: (db) => db.from('books').select('*').eq('id', ids.book),
      expect: { anon: 'denied', other: 1, owner: 1 },
    },
    {
      table: 'books',
      verb: 'insert',
      what: 'own row, own file',
      sql: (c) => [
        "insert into public.books (user_id, title, storage_path, processing_status) values ($1, 'New', $2, 'pending')",
        [subOrNull(c), `${c === 'anon' ? 'anon' : sub(c)}/new.md`],
      ],
      rest: (db, c) =>
        db.from('books').insert(
          {
            user_id: subOrNull(c),
            title: 'New',
            storage_path: `${c === 'anon' ? 'anon' : sub(c)}/new.md`,
            processing_status: 'pending',
          },
          exact,
        ),
      expect: { anon: 'denied', other: 1, owner: 1 },
    },
    {
      table: 'books',
      verb: 'insert',
      what: "own row, the owner's file",
      sql: (c) => [
        "insert into public.books (user_id, title, storage_path, processing_status) values ($1, 'New', $2, 'pending')",
        [subOrNull(c), `${owner}/private.md`],
      ],
      rest: (db, c) =>
        db.from('books').insert(
          {
            user_id: subOrNull(c),
            title: 'New',
            storage_path: `${owner}/private.md`,
            processing_status: 'pending',
          },
          exact,
        ),
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
      rest: (db) =>
        db
          .from('books')
          .insert({ user_id: owner, title: 'New', processing_status: 'pending' }, exact),
      expect: { anon: 'denied', other: 'refused', owner: 1 },
    },
    {
      table: 'books',
      verb: 'insert',
      what: 'already completed',
      sql: (c) => [
        "insert into public.books (user_id, title, processing_status) values ($1, 'New', 'completed')",
        [subOrNull(c)],
      ],
      rest: (db, c) =>
        db
          .from('books')
          .insert({ user_id: subOrNull(c), title: 'New', processing_status: 'completed' }, exact),
      expect: { anon: 'denied', other: 'refused', owner: 'refused' },
    },
    {
      table: 'books',
      verb: 'insert',
      what: 'id',
      sql: (c) => [
        "insert into public.books (id, user_id, title) values ($1, $2, 'New')",
        [randomUUID(), subOrNull(c)],
      ],
      rest: (db, c) =>
        db.from('books').insert({ id: randomUUID(), user_id: subOrNull(c), title: 'New' }, exact),
      expect: DENIED,
    },
    ...['title', 'storage_path', 'processing_status', 'user_id'].map(
      (column): Case => ({
        table: 'books',
        verb: 'update',
        what: column,
        sql: () => [`update public.books set ${column} = ${column} where id = $1`, [ids.book]],
        rest: (db, c) =>
          db
            .from('books')
            .update(
              {
                [column]: {
                  title: 'Owned',
                  storage_path: `${owner}/owned.md`,
                  processing_status: 'completed',
                  user_id: c === 'anon' ? owner : sub(c),
                }[column],
              },
              exact,
            )
            .eq('id', ids.book),
        expect: DENIED,
      }),
    ),
    upsert(
      'books',
      'id',
      { id: ids.book, user_id: owner, title: 'Taken over', processing_status: 'pending' },
      'title',
    ),
    remove('books', 'id', ids.book),
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
      rest: (db) =>
        db
          .from('characters')
          .select('id, book_id, name, safe_name, description, personality, avatar_url, created_at')
          .eq('id', ids.character),
      expect: { anon: 'denied', other: 1, owner: 1 },
    },
    {
      table: 'characters',
      verb: 'select',
      what: 'system_prompt',
      sql: () => ['select system_prompt from public.characters where id = $1', [ids.character]],
      rest: (db) => db.from('characters').select('system_prompt').eq('id', ids.character),
      expect: DENIED,
    },
    {
      table: 'characters',
      verb: 'select',
      what: 'system_prompt, embedded in its book',
      sql: () => [
        'select c.system_prompt from public.books b join public.characters c on c.book_id = b.id where b.id = $1',
        [ids.book],
      ],
      rest: (db) =>
        embedded(
          db.from('books').select('id, characters(system_prompt)').eq('id', ids.book),
          'characters',
        ),
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
      rest: (db) =>
        db
          .from('characters')
          .insert(
            { book_id: ids.book, name: 'X', safe_name: 'x', system_prompt: 'You are X.' },
            exact,
          ),
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
      rest: (db) =>
        db.from('characters').update({ system_prompt: 'Obey me.' }, exact).eq('id', ids.character),
      expect: DENIED,
    },
    upsert(
      'characters',
      'id',
      {
        id: ids.character,
        book_id: ids.book,
        name: 'X',
        safe_name: 'character-000',
        system_prompt: 'Obey me.',
      },
      'system_prompt',
    ),
    remove('characters', 'id', ids.character),
    truncate('characters'),

    // chat_sessions: a reader reads and creates their own, and renames it (title only).
    {
      table: 'chat_sessions',
      verb: 'select',
      what: '*',
      sql: () => ['select * from public.chat_sessions where id = $1', [ids.session]],
      rest: (db) => db.from('chat_sessions').select('*').eq('id', ids.session),
      expect: { anon: 'denied', other: 0, owner: 1 },
    },
    {
      table: 'chat_sessions',
      verb: 'select',
      what: 'embedded in its book',
      sql: () => [
        'select s.id from public.books b join public.chat_sessions s on s.book_id = b.id where b.id = $1',
        [ids.book],
      ],
      rest: (db) =>
        embedded(
          db.from('books').select('id, chat_sessions(id)').eq('id', ids.book),
          'chat_sessions',
        ),
      expect: { anon: 'denied', other: 0, owner: 1 },
    },
    {
      table: 'chat_sessions',
      verb: 'insert',
      what: 'own row',
      sql: (c) => [
        "insert into public.chat_sessions (user_id, character_id, book_id, title) values ($1, $2, $3, 'Mine')",
        [subOrNull(c), ids.character, ids.book],
      ],
      rest: (db, c) =>
        db.from('chat_sessions').insert(
          {
            user_id: subOrNull(c),
            character_id: ids.character,
            book_id: ids.book,
            title: 'Mine',
          },
          exact,
        ),
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
      rest: (db) =>
        db
          .from('chat_sessions')
          .insert({ user_id: owner, character_id: ids.character, book_id: ids.book }, exact),
      expect: { anon: 'denied', other: 'refused', owner: 1 },
    },
    {
      table: 'chat_sessions',
      verb: 'insert',
      what: 'message_count',
      sql: (c) => [
        'insert into public.chat_sessions (user_id, character_id, book_id, message_count) values ($1, $2, $3, 9999)',
        [subOrNull(c), ids.character, ids.book],
      ],
      rest: (db, c) =>
        db.from('chat_sessions').insert(
          {
            user_id: subOrNull(c),
            character_id: ids.character,
            book_id: ids.book,
            message_count: 9999,
          },
          exact,
        ),
      expect: DENIED,
    },
    {
      table: 'chat_sessions',
      verb: 'update',
      what: 'title',
      sql: () => ["update public.chat_sessions set title = 'Renamed' where id = $1", [ids.session]],
      rest: (db) =>
        db.from('chat_sessions').update({ title: 'Renamed' }, exact).eq('id', ids.session),
      expect: { anon: 'denied', other: 0, owner: 1 },
    },
    sessionColumn('message_count', () => 9999),
    sessionColumn('preview', () => 'forged'),
    sessionColumn('book_id', () => ids.book),
    sessionColumn('character_id', () => ids.character),
    sessionColumn('user_id', sub),
    upsert(
      'chat_sessions',
      'id',
      {
        id: ids.session,
        user_id: owner,
        character_id: ids.character,
        book_id: ids.book,
        title: 'Taken over',
      },
      'title',
    ),
    remove('chat_sessions', 'id', ids.session),
    truncate('chat_sessions'),

    // messages: a reader reads the messages of their own sessions; only the backend writes.
    {
      table: 'messages',
      verb: 'select',
      what: '*',
      sql: () => ['select * from public.messages where id = $1', [ids.message]],
      rest: (db) => db.from('messages').select('*').eq('id', ids.message),
      expect: { anon: 'denied', other: 0, owner: 1 },
    },
    {
      table: 'messages',
      verb: 'select',
      what: 'embedded in their session',
      sql: () => [
        'select m.id from public.chat_sessions s join public.messages m on m.session_id = s.id where s.id = $1',
        [ids.session],
      ],
      rest: (db) =>
        embedded(
          db.from('chat_sessions').select('id, messages(id)').eq('id', ids.session),
          'messages',
        ),
      expect: { anon: 'denied', other: 0, owner: 2 },
    },
    {
      table: 'messages',
      verb: 'insert',
      what: '',
      sql: () => [
        "insert into public.messages (session_id, role, content) values ($1, 'assistant', 'forged')",
        [ids.session],
      ],
      rest: (db) =>
        db
          .from('messages')
          .insert({ session_id: ids.session, role: 'assistant', content: 'forged' }, exact),
      expect: DENIED,
    },
    {
      table: 'messages',
      verb: 'update',
      what: 'content',
      sql: () => ["update public.messages set content = 'forged' where id = $1", [ids.message]],
      rest: (db) => db.from('messages').update({ content: 'forged' }, exact).eq('id', ids.message),
      expect: DENIED,
    },
    upsert(
      'messages',
      'id',
      { id: ids.message, session_id: ids.session, role: 'user', content: 'forged' },
      'content',
    ),
    remove('messages', 'id', ids.message),
    truncate('messages'),
    rpc(
      'messages',
      'save_chat_turn',
      {
        p_session_id: ids.session,
        p_user_id: owner,
        p_fence: 1,
        p_user_content: 'forged',
        p_reply_content: 'forged',
      },
      ['uuid', 'uuid', 'bigint', 'text', 'text'],
    ),

    // chat_turn_fences and book_jobs: the backend's own bookkeeping, no reader reaches them.
    {
      table: 'chat_turn_fences',
      verb: 'select',
      what: '*',
      sql: () => ['select * from public.chat_turn_fences where session_id = $1', [ids.session]],
      rest: (db) => db.from('chat_turn_fences').select('*').eq('session_id', ids.session),
      expect: DENIED,
    },
    {
      table: 'chat_turn_fences',
      verb: 'insert',
      what: '',
      sql: () => [
        'insert into public.chat_turn_fences (session_id, fence) values ($1, 99)',
        [ids.session],
      ],
      rest: (db) =>
        db.from('chat_turn_fences').insert({ session_id: ids.session, fence: 99 }, exact),
      expect: DENIED,
    },
    {
      table: 'chat_turn_fences',
      verb: 'update',
      what: 'fence',
      sql: () => [
        'update public.chat_turn_fences set fence = 99 where session_id = $1',
        [ids.session],
      ],
      rest: (db) =>
        db.from('chat_turn_fences').update({ fence: 99 }, exact).eq('session_id', ids.session),
      expect: DENIED,
    },
    upsert('chat_turn_fences', 'session_id', { session_id: ids.session, fence: 99 }, 'fence'),
    remove('chat_turn_fences', 'session_id', ids.session),
    truncate('chat_turn_fences'),
    rpc('chat_turn_fences', 'take_chat_turn_fence', { p_session_id: ids.session }, ['uuid']),
    {
      table: 'book_jobs',
      verb: 'select',
      what: '*',
      sql: () => ['select * from public.book_jobs where book_id = $1', [ids.book]],
      rest: (db) => db.from('book_jobs').select('*').eq('book_id', ids.book),
      expect: DENIED,
    },
    {
      table: 'book_jobs',
      verb: 'insert',
      what: '',
      sql: () => [
        "insert into public.book_jobs (book_id, job_id, state) values ($1, 'forged', 'queued')",
        [ids.book],
      ],
      rest: (db) =>
        db
          .from('book_jobs')
          .insert({ book_id: ids.book, job_id: 'forged', state: 'queued' }, exact),
      expect: DENIED,
    },
    {
      table: 'book_jobs',
      verb: 'update',
      what: 'state',
      sql: () => ["update public.book_jobs set state = 'queued' where book_id = $1", [ids.book]],
      rest: (db) => db.from('book_jobs').update({ state: 'queued' }, exact).eq('book_id', ids.book),
      expect: DENIED,
    },
    upsert(
      'book_jobs',
      'book_id',
      { book_id: ids.book, job_id: 'forged', state: 'queued' },
      'state',
    ),
    remove('book_jobs', 'book_id', ids.book),
    truncate('book_jobs'),
    rpc('book_jobs', 'request_book_job', { p_book_id: ids.book, p_job_id: 'forged' }, [
      'uuid',
      'text',
    ]),
    rpc(
      'book_jobs',
      'claim_book_job',
      { p_book_id: ids.book, p_job_id: 'forged', p_worker: 'w', p_lease_ms: 1000 },
      ['uuid', 'text', 'text', 'integer'],
    ),
    rpc(
      'book_jobs',
      'renew_book_job',
      { p_book_id: ids.book, p_job_id: 'job-1', p_worker: 'w', p_lease_ms: 1000 },
      ['uuid', 'text', 'text', 'integer'],
    ),
    rpc(
      'book_jobs',
      'finish_book_job',
      { p_book_id: ids.book, p_job_id: 'job-1', p_worker: 'w', p_status: 'completed' },
      ['uuid', 'text', 'text', 'text'],
    ),
    rpc('book_jobs', 'open_book_jobs', {}, []),

    // storage.objects, the rows behind Storage: a reader's own prefix of the books bucket only.
    {
      table: 'storage.objects',
      verb: 'select',
      what: "the owner's file",
      sql: () => ['select * from storage.objects where id = $1', [ids.object]],
      rest: async (db, c) =>
        storageAnswer(c, await db.storage.from('books').download(`${owner}/owned.md`)),
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
      rest: async (db, c) =>
        storageAnswer(
          c,
          await db.storage
            .from('books')
            .upload(`${c === 'anon' ? 'anon' : sub(c)}/new.md`, 'text', {
              contentType: 'text/markdown',
            }),
        ),
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
      rest: async (db, c) =>
        storageAnswer(
          c,
          await db.storage
            .from('books')
            .upload(`${owner}/by-${c}.md`, 'text', { contentType: 'text/markdown' }),
        ),
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
      verb: 'upsert',
      what: "overwrite the owner's file",
      sql: (c) => [
        "insert into storage.objects (bucket_id, name, owner_id) values ('books', $1, $2) on conflict (bucket_id, name) do update set metadata = '{}', owner_id = excluded.owner_id",
        [`${owner}/owned.md`, c === 'anon' ? null : sub(c)],
      ],
      rest: async (db, c) =>
        storageAnswer(
          c,
          await db.storage.from('books').upload(`${owner}/owned.md`, '# Replaced', {
            contentType: 'text/markdown',
            upsert: true,
          }),
        ),
      expect: { anon: 'refused', other: 'refused', owner: 1 },
    },
    {
      table: 'storage.objects',
      verb: 'delete',
      what: "the owner's file",
      sql: () => ['delete from storage.objects where id = $1', [ids.object]],
      rest: async (db, c) =>
        storageAnswer(c, await db.storage.from('books').remove([`${owner}/owned.md`])),
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
