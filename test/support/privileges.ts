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
    branch: string;
    object: string;
  };
}

export const PUBLIC_TABLES = [
  'categories',
  'books',
  'characters',
  'chat_sessions',
  'messages',
  'chat_branches',
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
  const [branch] = await gw.db.sql<{ id: string }[]>`
    insert into chat_branches (session_id, fork_at) values (${session}, now()) returning id`;
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
      branch: branch!.id,
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

export function privilegeCases(fx: PrivilegeFixture): Case[] {
  const { owner, other, ids } = fx;
  const sub = (caller: Caller): string => (caller === 'owner' ? owner : other);
  const subOrNull = (caller: Caller): string | null => (caller === 'anon' ? null : sub(caller));
  const prefix = (caller: Caller): string => (caller === 'anon' ? 'anon' : sub(caller));
  const exact = { count: 'exact' } as const;
  const placeholders = (n: number, from = 1): string =>
    Array.from({ length: n }, (_, i) => `$${from + i}`).join(', ');
  type Row = (caller: Caller) => Record<string, unknown>;

  const select = (
    table: string,
    key: string,
    id: string,
    columns: string,
    expect: Case['expect'],
    what = columns,
  ): Case => ({
    table,
    verb: 'select',
    what,
    sql: () => [`select ${columns} from public.${table} where ${key} = $1`, [id]],
    rest: (db) => db.from(table).select(columns).eq(key, id),
    expect,
  });
  /** Rows a level down an embedding: `child` rows of the `parent` row `id`, joined on `on`. */
  const selectEmbedded = (
    parent: string,
    id: string,
    child: string,
    column: string,
    on: string,
    expect: Case['expect'],
  ): Case => ({
    table: child,
    verb: 'select',
    what: `${column}, embedded in ${parent}`,
    sql: () => [
      `select c.${column} from public.${parent} p join public.${child} c on ${on} where p.id = $1`,
      [id],
    ],
    rest: async (db) => {
      const res = await db.from(parent).select(`id, ${child}(${column})`).eq('id', id);
      if (res.error) return res;
      const first = (res.data as unknown as Record<string, unknown>[])[0];
      return { data: first?.[child] ?? [], error: null, status: res.status };
    },
    expect,
  });
  const insert = (table: string, row: Row, expect: Case['expect'], what = ''): Case => ({
    table,
    verb: 'insert',
    what,
    sql: (c) => {
      const values = row(c);
      const columns = Object.keys(values);
      return [
        `insert into public.${table} (${columns.join(', ')}) values (${placeholders(columns.length)})`,
        Object.values(values),
      ];
    },
    rest: (db, c) => db.from(table).insert(row(c), exact),
    expect,
  });
  const update = (
    table: string,
    key: string,
    id: string,
    patch: Row,
    expect: Case['expect'] = DENIED,
  ): Case => ({
    table,
    verb: 'update',
    what: Object.keys(patch('owner')).join(', '),
    sql: (c) => {
      const values = patch(c);
      const sets = Object.keys(values).map((column, i) => `${column} = $${i + 1}`);
      return [
        `update public.${table} set ${sets.join(', ')} where ${key} = $${sets.length + 1}`,
        [...Object.values(values), id],
      ];
    },
    rest: (db, c) => db.from(table).update(patch(c), exact).eq(key, id),
    expect,
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
        `insert into public.${table} (${columns.join(', ')}) values (${placeholders(columns.length)}) on conflict (${key}) do update set ${column} = excluded.${column}`,
        Object.values(row),
      ],
      rest: (db) => db.from(table).upsert(row, { onConflict: key, count: 'exact' }),
      expect: DENIED,
    };
  };
  const remove = (table: string, key: string, id: string): Case => ({
    table,
    verb: 'delete',
    what: '',
    sql: () => [`delete from public.${table} where ${key} = $1`, [id]],
    rest: (db) => db.from(table).delete(exact).eq(key, id),
    expect: DENIED,
  });
  const truncate = (table: string): Case => ({
    table,
    verb: 'truncate',
    what: '',
    sql: () => [`truncate public.${table} cascade`, []],
    expect: DENIED,
  });
  const rpc = (table: string, fn: string, args: Record<string, unknown>, types: string[]): Case => {
    const names = Object.keys(args);
    return {
      table,
      verb: 'rpc',
      what: fn,
      sql: () => [
        `select public.${fn}(${names.map((n, i) => `${n} => $${i + 1}::${types[i]}`).join(', ')})`,
        Object.values(args),
      ],
      rest: (db) => db.rpc(fn, args),
      expect: DENIED,
    };
  };
  const readers = (other: Outcome, owner: Outcome): Case['expect'] => ({
    anon: 'denied',
    other,
    owner,
  });
  const newBook =
    (status: string, path?: string): Row =>
    (c) => ({
      user_id: subOrNull(c),
      title: 'New',
      ...(path === undefined ? {} : { storage_path: path }),
      processing_status: status,
    });
  const newSession =
    (extra: Record<string, unknown> = {}, user: (c: Caller) => string | null = subOrNull): Row =>
    (c) => ({ user_id: user(c), character_id: ids.character, book_id: ids.book, ...extra });

  return [
    // categories: read by readers, written by nobody.
    select('categories', 'id', ids.category, '*', readers(1, 1)),
    insert('categories', () => ({ name: 'Mine' }), DENIED),
    update('categories', 'id', ids.category, () => ({ name: 'Renamed' })),
    upsert('categories', 'id', { id: ids.category, name: 'Renamed' }, 'name'),
    remove('categories', 'id', ids.category),
    truncate('categories'),

    // books: the whole catalog is readable; a reader inserts their own pending book on their
    // own file; nobody else writes.
    select('books', 'id', ids.book, '*', readers(1, 1)),
    insert(
      'books',
      (c) => newBook('pending', `${prefix(c)}/new.md`)(c),
      readers(1, 1),
      'own row, own file',
    ),
    insert(
      'books',
      newBook('pending', `${owner}/private.md`),
      readers('refused', 1),
      "own row, the owner's file",
    ),
    insert(
      'books',
      (c) => ({ ...newBook('pending')(c), user_id: owner }),
      readers('refused', 1),
      "the owner's row",
    ),
    insert('books', newBook('completed'), readers('refused', 'refused'), 'already completed'),
    insert(
      'books',
      (c) => ({ id: randomUUID(), user_id: subOrNull(c), title: 'New' }),
      DENIED,
      'id',
    ),
    update('books', 'id', ids.book, () => ({ title: 'Owned' })),
    update('books', 'id', ids.book, () => ({ storage_path: `${owner}/owned.md` })),
    update('books', 'id', ids.book, () => ({ processing_status: 'completed' })),
    update('books', 'id', ids.book, (c) => ({ user_id: c === 'anon' ? owner : sub(c) })),
    upsert(
      'books',
      'id',
      { id: ids.book, user_id: owner, title: 'Taken over', processing_status: 'pending' },
      'title',
    ),
    remove('books', 'id', ids.book),
    truncate('books'),

    // characters: readable without their system prompt; written by nobody.
    select(
      'characters',
      'id',
      ids.character,
      'id, book_id, name, safe_name, description, personality, avatar_url, created_at',
      readers(1, 1),
      'public columns',
    ),
    select('characters', 'id', ids.character, 'system_prompt', DENIED),
    selectEmbedded('books', ids.book, 'characters', 'system_prompt', 'c.book_id = p.id', DENIED),
    insert(
      'characters',
      () => ({ book_id: ids.book, name: 'X', safe_name: 'x', system_prompt: 'You are X.' }),
      DENIED,
    ),
    update('characters', 'id', ids.character, () => ({ system_prompt: 'Obey me.' })),
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
    select('chat_sessions', 'id', ids.session, '*', readers(0, 1)),
    selectEmbedded('books', ids.book, 'chat_sessions', 'id', 'c.book_id = p.id', readers(0, 1)),
    insert('chat_sessions', newSession({ title: 'Mine' }), readers(1, 1), 'own row'),
    insert(
      'chat_sessions',
      newSession({}, () => owner),
      readers('refused', 1),
      "the owner's row",
    ),
    insert('chat_sessions', newSession({ message_count: 9999 }), DENIED, 'message_count'),
    update('chat_sessions', 'id', ids.session, () => ({ title: 'Renamed' }), readers(0, 1)),
    update('chat_sessions', 'id', ids.session, () => ({ message_count: 9999 })),
    update('chat_sessions', 'id', ids.session, () => ({ preview: 'forged' })),
    update('chat_sessions', 'id', ids.session, () => ({ book_id: ids.book })),
    update('chat_sessions', 'id', ids.session, () => ({ character_id: ids.character })),
    update('chat_sessions', 'id', ids.session, (c) => ({ user_id: sub(c) })),
    // The reading position and the branch shown are the backend's to set (under the session lock).
    insert(
      'chat_sessions',
      newSession({ reading_max_chunk_index: 999 }),
      DENIED,
      'reading_max_chunk_index',
    ),
    update('chat_sessions', 'id', ids.session, () => ({ reading_chapter: 99 })),
    update('chat_sessions', 'id', ids.session, () => ({ reading_max_chunk_index: 999 })),
    update('chat_sessions', 'id', ids.session, () => ({ current_branch_id: ids.branch })),
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
    select('messages', 'id', ids.message, '*', readers(0, 1)),
    selectEmbedded(
      'chat_sessions',
      ids.session,
      'messages',
      'id',
      'c.session_id = p.id',
      readers(0, 2),
    ),
    insert(
      'messages',
      () => ({ session_id: ids.session, role: 'assistant', content: 'forged' }),
      DENIED,
    ),
    update('messages', 'id', ids.message, () => ({ content: 'forged' })),
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

    // chat_branches: a reader reads the branches of their own sessions; only the backend writes.
    select('chat_branches', 'id', ids.branch, '*', readers(0, 1)),
    insert(
      'chat_branches',
      () => ({ session_id: ids.session, fork_at: new Date().toISOString() }),
      DENIED,
    ),
    update('chat_branches', 'id', ids.branch, () => ({ fork_at: new Date().toISOString() })),
    upsert(
      'chat_branches',
      'id',
      { id: ids.branch, session_id: ids.session, fork_at: new Date().toISOString() },
      'fork_at',
    ),
    remove('chat_branches', 'id', ids.branch),
    truncate('chat_branches'),
    rpc(
      'chat_branches',
      'chat_branch_messages',
      { p_session_id: ids.session, p_branch_id: ids.branch },
      ['uuid', 'uuid'],
    ),
    rpc(
      'chat_branches',
      'chat_branch_summary',
      { p_session_id: ids.session, p_branch_id: ids.branch, p_preview_length: 10 },
      ['uuid', 'uuid', 'integer'],
    ),
    rpc(
      'chat_branches',
      'save_chat_fork',
      {
        p_session_id: ids.session,
        p_user_id: owner,
        p_fence: 1,
        p_kind: 'regenerate',
        p_target_id: ids.message,
        p_user_content: null,
        p_reply_content: 'forged',
      },
      ['uuid', 'uuid', 'bigint', 'text', 'uuid', 'text', 'text'],
    ),
    rpc(
      'chat_branches',
      'select_chat_branch',
      { p_session_id: ids.session, p_user_id: owner, p_fence: 1, p_message_id: ids.message },
      ['uuid', 'uuid', 'bigint', 'uuid'],
    ),

    // chat_turn_fences and book_jobs: the backend's own bookkeeping, no reader reaches them.
    select('chat_turn_fences', 'session_id', ids.session, '*', DENIED),
    insert('chat_turn_fences', () => ({ session_id: ids.session, fence: 99 }), DENIED),
    update('chat_turn_fences', 'session_id', ids.session, () => ({ fence: 99 })),
    upsert('chat_turn_fences', 'session_id', { session_id: ids.session, fence: 99 }, 'fence'),
    remove('chat_turn_fences', 'session_id', ids.session),
    truncate('chat_turn_fences'),
    rpc('chat_turn_fences', 'take_chat_turn_fence', { p_session_id: ids.session }, ['uuid']),
    rpc(
      'chat_turn_fences',
      'begin_chat_turn',
      { p_session_id: ids.session, p_client_message_id: null },
      ['uuid', 'uuid'],
    ),
    select('book_jobs', 'book_id', ids.book, '*', DENIED),
    insert('book_jobs', () => ({ book_id: ids.book, job_id: 'forged', state: 'queued' }), DENIED),
    update('book_jobs', 'book_id', ids.book, () => ({ state: 'queued' })),
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
        [`${prefix(c)}/new.md`],
      ],
      rest: async (db, c) =>
        storageAnswer(
          c,
          await db.storage.from('books').upload(`${prefix(c)}/new.md`, 'text', {
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
    // A move (Storage's POST /object/move) is a select of the source and an update of its row;
    // one that succeeds is moved back, so the cases after it find the file where it was.
    {
      table: 'storage.objects',
      verb: 'update',
      what: 'name, within the own prefix (move)',
      sql: () => [
        'update storage.objects set name = $1 where id = $2',
        [`${owner}/renamed.md`, ids.object],
      ],
      rest: async (db, c) => {
        const res = await db.storage.from('books').move(`${owner}/owned.md`, `${owner}/renamed.md`);
        if (!res.error) {
          const back = await db.storage
            .from('books')
            .move(`${owner}/renamed.md`, `${owner}/owned.md`);
          if (back.error) throw new Error(`moving back: ${back.error.message}`);
        }
        return storageAnswer(c, res);
      },
      expect: { anon: 0, other: 0, owner: 1 },
    },
    {
      table: 'storage.objects',
      verb: 'update',
      what: 'name, out of the own prefix (move)',
      sql: () => [
        'update storage.objects set name = $1 where id = $2',
        [`${other}/moved.md`, ids.object],
      ],
      rest: async (db, c) =>
        storageAnswer(
          c,
          await db.storage.from('books').move(`${owner}/owned.md`, `${other}/moved-by-${c}.md`),
        ),
      expect: { anon: 0, other: 0, owner: 'refused' },
    },
    // A copy (POST /object/copy) is a select of the source and an insert of the destination's row.
    {
      table: 'storage.objects',
      verb: 'insert',
      what: "a copy of the owner's file into the own prefix (copy)",
      sql: (c) => [
        'insert into storage.objects (bucket_id, name, metadata) select bucket_id, $1, metadata from storage.objects where id = $2',
        [`${prefix(c)}/copy.md`, ids.object],
      ],
      rest: async (db, c) =>
        storageAnswer(
          c,
          await db.storage.from('books').copy(`${owner}/owned.md`, `${prefix(c)}/copy-by-${c}.md`),
        ),
      expect: { anon: 0, other: 0, owner: 1 },
    },
    {
      table: 'storage.objects',
      verb: 'insert',
      what: "a copy of the owner's file out of the own prefix (copy)",
      sql: () => [
        'insert into storage.objects (bucket_id, name, metadata) select bucket_id, $1, metadata from storage.objects where id = $2',
        [`${other}/copy.md`, ids.object],
      ],
      rest: async (db, c) =>
        storageAnswer(
          c,
          await db.storage.from('books').copy(`${owner}/owned.md`, `${other}/copy-by-${c}.md`),
        ),
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
