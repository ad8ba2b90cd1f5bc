import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import ws from 'ws';
import { startEmbeddedPostgres } from '../src/postgres.js';
import {
  type SupabaseStandIn,
  signSupabaseJwt,
  startSupabaseStandIn,
} from '../src/supabase/server.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { MIGRATIONS_DIR } from './support/schema.js';

const SECRET = 'stand-in-test-secret-with-at-least-32-characters';
const READER = '11111111-1111-4111-8111-111111111111';
const OTHER_READER = '22222222-2222-4222-8222-222222222222';

let db: TestDatabase;
let standIn: SupabaseStandIn;
let storageDir: string;
let service: SupabaseClient;
let anonKey: string;

function client(key: string, accessToken?: string): SupabaseClient {
  return createClient(standIn.url, key, {
    realtime: { transport: ws as never },
    auth: { persistSession: false, autoRefreshToken: false },
    ...(accessToken ? { global: { headers: { Authorization: `Bearer ${accessToken}` } } } : {}),
  });
}

async function readerClient(sub: string): Promise<SupabaseClient> {
  return client(anonKey, await signSupabaseJwt(SECRET, { role: 'authenticated', sub }));
}

/** Raw HTTP against the stand-in, for what supabase-js hides (headers, statuses). */
async function raw(path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
  const key = init.key ?? (await signSupabaseJwt(SECRET, { role: 'service_role' }));
  const headers = new Headers(init.headers);
  if (!headers.has('apikey')) headers.set('apikey', key);
  if (!headers.has('authorization')) headers.set('authorization', `Bearer ${key}`);
  return fetch(`${standIn.url}${path}`, { ...init, headers });
}

interface Seed {
  philosophy: { id: string };
  drama: { id: string };
  meditations: { id: string };
  republic: { id: string };
  untitled: { id: string };
  marcus: { id: string };
  socrates: { id: string };
  session: { id: string };
  otherSession: { id: string };
}
let seed: Seed;

async function insertOne<T>(table: string, row: Record<string, unknown>): Promise<T> {
  const { data, error } = await service.from(table).insert(row).select().single();
  if (error) throw new Error(`${table}: ${error.message}`);
  return data as T;
}

beforeAll(async () => {
  db = await createTestDatabase();
  storageDir = await mkdtemp(join(tmpdir(), 'standin-rest-'));
  standIn = await startSupabaseStandIn({
    databaseUrl: db.url,
    maxConnections: db.maxConnections,
    jwtSecret: SECRET,
    storageDir,
  });
  service = client(await signSupabaseJwt(SECRET, { role: 'service_role' }));
  anonKey = await signSupabaseJwt(SECRET, { role: 'anon' });

  const philosophy = await insertOne<{ id: string }>('categories', {
    name: 'Philosophy',
    slug: 'philosophy',
  });
  const drama = await insertOne<{ id: string }>('categories', { name: 'Drama', slug: 'drama' });
  const meditations = await insertOne<{ id: string }>('books', {
    title: 'Meditations',
    author: 'Marcus Aurelius',
    category_id: philosophy.id,
    processing_status: 'completed',
  });
  const republic = await insertOne<{ id: string }>('books', {
    title: 'Republic',
    author: 'Plato',
    category_id: philosophy.id,
  });
  const untitled = await insertOne<{ id: string }>('books', {
    title: 'Hello, World',
    author: null,
  });
  const marcus = await insertOne<{ id: string }>('characters', {
    book_id: meditations.id,
    name: 'Marcus',
    safe_name: 'marcus',
    system_prompt: 'You are Marcus.',
  });
  await insertOne('characters', {
    book_id: meditations.id,
    name: 'Rusticus',
    safe_name: 'rusticus',
    system_prompt: 'You are Rusticus.',
  });
  const socrates = await insertOne<{ id: string }>('characters', {
    book_id: republic.id,
    name: 'Socrates',
    safe_name: 'socrates',
    system_prompt: 'You are Socrates.',
  });
  const session = await insertOne<{ id: string }>('chat_sessions', {
    user_id: READER,
    character_id: marcus.id,
    book_id: meditations.id,
    title: 'mine',
  });
  const otherSession = await insertOne<{ id: string }>('chat_sessions', {
    user_id: OTHER_READER,
    character_id: socrates.id,
    book_id: republic.id,
    title: 'theirs',
  });
  for (const [s, user] of [
    [session, READER],
    [otherSession, OTHER_READER],
  ] as const) {
    const fence = await service.rpc('take_chat_turn_fence', { p_session_id: s.id });
    if (fence.error) throw new Error(fence.error.message);
    const { error } = await service.rpc('save_chat_turn', {
      p_session_id: s.id,
      p_user_id: user,
      p_fence: fence.data,
      p_user_content: 'Hello?',
      p_reply_content: 'Greetings.',
    });
    if (error) throw new Error(error.message);
  }
  seed = {
    philosophy,
    drama,
    meditations,
    republic,
    untitled,
    marcus,
    socrates,
    session,
    otherSession,
  };
});

afterAll(async () => {
  await standIn?.close();
  await db?.close();
  if (storageDir) await rm(storageDir, { recursive: true, force: true });
});

describe('reads', () => {
  it('embeds a many-to-one resource as an object (or null) and a one-to-many as an array', async () => {
    const { data, error } = await service
      .from('books')
      .select('title, category:categories(name, slug), characters(name)')
      .in('id', [seed.meditations.id, seed.untitled.id])
      .order('title');
    expect(error).toBeNull();
    expect(data).toEqual([
      { title: 'Hello, World', category: null, characters: [] },
      {
        title: 'Meditations',
        category: { name: 'Philosophy', slug: 'philosophy' },
        characters: expect.arrayContaining([{ name: 'Marcus' }, { name: 'Rusticus' }]),
      },
    ]);
  });

  it('embeds the other way, filters and orders the embedded rows, keeps parents', async () => {
    const { data, error } = await service
      .from('categories')
      .select('name, books(title)')
      .order('name')
      .order('title', { referencedTable: 'books', ascending: false })
      .like('books.title', '*e*');
    expect(error).toBeNull();
    expect(data).toEqual([
      { name: 'Drama', books: [] },
      { name: 'Philosophy', books: [{ title: 'Republic' }, { title: 'Meditations' }] },
    ]);
  });

  it('filters parents by an !inner embed', async () => {
    const { data, error } = await service
      .from('books')
      .select('title, characters!inner(name)')
      .eq('characters.name', 'Socrates');
    expect(error).toBeNull();
    expect(data).toEqual([{ title: 'Republic', characters: [{ name: 'Socrates' }] }]);
  });

  it('supports aliases, casts and star', async () => {
    const { data, error } = await service
      .from('chat_sessions')
      .select('heading:title, count:message_count::text, *')
      .eq('id', seed.session.id)
      .single();
    expect(error).toBeNull();
    expect(data).toMatchObject({ heading: 'mine', count: '2', message_count: 2, user_id: READER });
  });

  it('applies each comparison operator', async () => {
    const q = () => service.from('books').select('title');
    const run = async (
      query: PromiseLike<{ data: { title: string }[] | null; error: unknown }>,
    ) => {
      const { data, error } = await query;
      expect(error).toBeNull();
      return (data ?? []).map((row) => row.title).sort();
    };
    expect(await run(q().eq('author', 'Plato'))).toEqual(['Republic']);
    expect(await run(q().neq('author', 'Plato'))).toEqual(['Meditations']);
    expect(await run(q().gt('title', 'Meditations'))).toEqual(['Republic']);
    expect(await run(q().gte('title', 'Meditations'))).toEqual(['Meditations', 'Republic']);
    expect(await run(q().lt('title', 'Meditations'))).toEqual(['Hello, World']);
    expect(await run(q().lte('title', 'Meditations'))).toEqual(['Hello, World', 'Meditations']);
    expect(await run(q().in('title', ['Republic', 'Hello, World']))).toEqual([
      'Hello, World',
      'Republic',
    ]);
    expect(await run(q().is('author', null))).toEqual(['Hello, World']);
    expect(await run(q().not('author', 'is', null))).toEqual(['Meditations', 'Republic']);
    expect(await run(q().like('title', '%edit%'))).toEqual(['Meditations']);
    expect(await run(q().like('title', '*edit*'))).toEqual(['Meditations']);
    expect(await run(q().ilike('author', 'PLATO'))).toEqual(['Republic']);
    expect(await run(q().not('title', 'in', '("Hello, World",Republic)'))).toEqual(['Meditations']);
    expect(await run(q().not('title', 'like', 'R*'))).toEqual(['Hello, World', 'Meditations']);
    expect(await run(q().eq('processing_status', 'completed'))).toEqual(['Meditations']);
    expect(await run(q().in('title', []))).toEqual([]);
  });

  it('combines or/and trees, including quoted values with reserved characters', async () => {
    const run = async (filter: string) => {
      const { data, error } = await service.from('books').select('title').or(filter);
      expect(error).toBeNull();
      return (data ?? []).map((row) => row.title).sort();
    };
    expect(await run('author.eq.Plato,and(author.eq.Marcus Aurelius,title.like.Med*)')).toEqual([
      'Meditations',
      'Republic',
    ]);
    expect(await run('title.eq."Hello, World",author.is.null')).toEqual(['Hello, World']);
    expect(
      await run('and(title.gte.M,author.not.eq.Plato),not.or(author.not.is.null,title.eq.x)'),
    ).toEqual(['Hello, World', 'Meditations']);
    const { data } = await service
      .from('books')
      .select('title')
      .or('author.eq.Plato,author.eq.Marcus Aurelius')
      .neq('title', 'Republic');
    expect(data).toEqual([{ title: 'Meditations' }]);
  });

  it('orders by several columns with nulls placement, and pages with limit, offset and range', async () => {
    const { data } = await service
      .from('books')
      .select('title')
      .order('author', { ascending: false, nullsFirst: true })
      .order('title');
    expect(data?.map((row) => row.title)).toEqual(['Hello, World', 'Republic', 'Meditations']);
    const { data: limited } = await service.from('books').select('title').order('title').limit(2);
    expect(limited?.map((row) => row.title)).toEqual(['Hello, World', 'Meditations']);
    const { data: ranged } = await service.from('books').select('title').order('title').range(1, 2);
    expect(ranged?.map((row) => row.title)).toEqual(['Meditations', 'Republic']);
  });

  it('counts exactly, with PostgREST statuses and Content-Range', async () => {
    const page = await service
      .from('books')
      .select('title', { count: 'exact' })
      .order('title')
      .range(0, 1);
    expect(page).toMatchObject({ count: 3, status: 206, error: null });
    const all = await service.from('books').select('title', { count: 'exact' });
    expect(all).toMatchObject({ count: 3, status: 200 });
    const head = await service
      .from('books')
      .select('*', { count: 'exact', head: true })
      .eq('author', 'Plato');
    expect(head).toMatchObject({ count: 1, data: null, status: 200 });
    const none = await service.from('books').select('*', { count: 'exact' }).eq('author', 'Nobody');
    expect(none).toMatchObject({ count: 0, data: [], status: 200 });

    const response = await raw('/rest/v1/books?select=title&order=title&limit=2', {
      headers: { Prefer: 'count=exact' },
    });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe('0-1/3');
    const empty = await raw('/rest/v1/books?author=eq.Nobody', {
      headers: { Prefer: 'count=exact' },
    });
    expect(empty.headers.get('content-range')).toBe('*/0');
    const noCount = await raw('/rest/v1/books?offset=1');
    expect(noCount.headers.get('content-range')).toBe('1-2/*');
    const past = await raw('/rest/v1/books?offset=10', { headers: { Prefer: 'count=exact' } });
    expect(past.status).toBe(416);
    expect(await past.json()).toMatchObject({ code: 'PGRST103' });
  });

  it('answers single() and maybeSingle() as Supabase does', async () => {
    const one = await service.from('books').select('title').eq('author', 'Plato').single();
    expect(one).toMatchObject({ data: { title: 'Republic' }, error: null, status: 200 });
    const none = await service.from('books').select('title').eq('author', 'Nobody').single();
    expect(none.status).toBe(406);
    expect(none.error).toMatchObject({
      code: 'PGRST116',
      details: 'The result contains 0 rows',
    });
    const many = await service.from('books').select('title').single();
    expect(many.status).toBe(406);
    expect(many.error?.code).toBe('PGRST116');
    const maybeNone = await service
      .from('books')
      .select('title')
      .eq('author', 'Nobody')
      .maybeSingle();
    expect(maybeNone).toMatchObject({ data: null, error: null, status: 200 });
    const maybeOne = await service
      .from('books')
      .select('title')
      .eq('author', 'Plato')
      .maybeSingle();
    expect(maybeOne.data).toEqual({ title: 'Republic' });
    const maybeMany = await service.from('books').select('title').maybeSingle();
    expect(maybeMany.error?.code).toBe('PGRST116');
  });
});

describe('writes', () => {
  it('inserts one row (minimal and representation) and bulk inserts in one transaction', async () => {
    const minimal = await service.from('categories').insert({ name: 'Poetry', slug: 'poetry' });
    expect(minimal).toMatchObject({ data: null, error: null, status: 201 });

    const bulk = await service
      .from('categories')
      .insert([
        { name: 'History', slug: 'history' },
        { name: 'Science', slug: null, description: 'facts' },
      ])
      .select('name, slug, description');
    expect(bulk.status).toBe(201);
    expect(bulk.data).toEqual([
      { name: 'History', slug: 'history', description: null },
      { name: 'Science', slug: null, description: 'facts' },
    ]);

    const failing = await service.from('categories').insert([
      { name: 'Fresh', slug: 'fresh' },
      { name: 'Clash', slug: 'history' },
    ]);
    expect(failing.status).toBe(409);
    const { data: fresh } = await service.from('categories').select('id').eq('slug', 'fresh');
    expect(fresh).toEqual([]);
  });

  it('uses column defaults for missing keys with defaultToNull: false', async () => {
    const { data, error } = await service
      .from('books')
      .insert([{ title: 'A' }, { title: 'B', processing_status: 'failed' }], {
        defaultToNull: false,
      })
      .select('title, processing_status');
    expect(error).toBeNull();
    expect(data).toEqual([
      { title: 'A', processing_status: 'pending' },
      { title: 'B', processing_status: 'failed' },
    ]);
    const missingAsNull = await service
      .from('books')
      .insert([{ title: 'C' }, { title: 'D', processing_status: 'failed' }])
      .select();
    expect(missingAsNull.error?.code).toBe('23502');
    expect(missingAsNull.status).toBe(400);
    await service.from('books').delete().in('title', ['A', 'B']);
  });

  it('upserts on a unique column, merging or ignoring duplicates', async () => {
    const merged = await service
      .from('categories')
      .upsert(
        [
          { name: 'Drama (updated)', slug: 'drama' },
          { name: 'Travel', slug: 'travel' },
        ],
        { onConflict: 'slug' },
      )
      .select('name, slug');
    expect(merged.error).toBeNull();
    expect(merged.data).toEqual([
      { name: 'Drama (updated)', slug: 'drama' },
      { name: 'Travel', slug: 'travel' },
    ]);
    const { data: drama } = await service
      .from('categories')
      .select('id, name')
      .eq('slug', 'drama')
      .single();
    expect(drama).toEqual({ id: seed.drama.id, name: 'Drama (updated)' });

    const ignored = await service
      .from('categories')
      .upsert({ name: 'Ignored', slug: 'travel' }, { onConflict: 'slug', ignoreDuplicates: true })
      .select();
    expect(ignored.data).toEqual([]);
    const { data: travel } = await service
      .from('categories')
      .select('name')
      .eq('slug', 'travel')
      .single();
    expect(travel?.name).toBe('Travel');

    const byKey = await service
      .from('categories')
      .upsert({ id: seed.drama.id, name: 'Drama', slug: 'drama' })
      .select('name')
      .single();
    expect(byKey.data).toEqual({ name: 'Drama' });
  });

  it('updates and deletes with filters, returning the affected rows', async () => {
    const updated = await service
      .from('books')
      .update({ processing_status: 'processing' })
      .eq('id', seed.republic.id)
      .select('title, processing_status, category:categories(name)');
    expect(updated.status).toBe(200);
    expect(updated.data).toEqual([
      { title: 'Republic', processing_status: 'processing', category: { name: 'Philosophy' } },
    ]);
    const silent = await service
      .from('books')
      .update({ processing_status: 'pending' })
      .eq('id', seed.republic.id);
    expect(silent).toMatchObject({ status: 204, data: null, error: null });
    const counted = await service
      .from('books')
      .update({ description: 'x' }, { count: 'exact' })
      .eq('author', 'Nobody');
    expect(counted).toMatchObject({ status: 204, count: 0 });

    await service.from('categories').insert({ name: 'Temporary', slug: 'temporary' });
    const deleted = await service
      .from('categories')
      .delete()
      .eq('slug', 'temporary')
      .select('name');
    expect(deleted).toMatchObject({ status: 200, data: [{ name: 'Temporary' }] });
    const again = await service.from('categories').delete().eq('slug', 'temporary');
    expect(again.status).toBe(204);
  });

  it('limits an update or delete to the first rows in the given order', async () => {
    await service.from('categories').insert([
      { name: 'L1', slug: 'l1' },
      { name: 'L2', slug: 'l2' },
      { name: 'L3', slug: 'l3' },
    ]);
    const updated = await service
      .from('categories')
      .update({ description: 'first two' })
      .like('slug', 'l*')
      .order('slug')
      .limit(2)
      .select('slug');
    expect(updated.data?.map((row) => row.slug).sort()).toEqual(['l1', 'l2']);
    const unordered = await service.from('categories').delete().like('slug', 'l*').limit(1);
    expect(unordered).toMatchObject({ status: 400, error: { code: 'PGRST109' } });
    const deleted = await service
      .from('categories')
      .delete()
      .like('slug', 'l*')
      .order('slug', { ascending: false })
      .limit(1)
      .select('slug, description');
    expect(deleted.data).toEqual([{ slug: 'l3', description: null }]);
    await service.from('categories').delete().like('slug', 'l*');
  });

  it('rolls a single-object mutation back when it does not touch exactly one row', async () => {
    const result = await service
      .from('books')
      .update({ description: 'both' })
      .in('id', [seed.meditations.id, seed.republic.id])
      .select()
      .single();
    expect(result.status).toBe(406);
    const { data } = await service.from('books').select('description').eq('description', 'both');
    expect(data).toEqual([]);
  });
});

describe('rpc', () => {
  it('calls save_chat_turn with named arguments and returns its jsonb', async () => {
    const clientMessageId = '33333333-3333-4333-8333-333333333333';
    const fence = await service.rpc('take_chat_turn_fence', { p_session_id: seed.session.id });
    expect(fence).toMatchObject({ status: 200, data: 2 });
    const args = {
      p_session_id: seed.session.id,
      p_user_id: READER,
      p_fence: fence.data,
      p_user_content: 'What is virtue?',
      p_reply_content: 'Virtue is the only good.',
      p_citations: [{ chunk_index: 3 }],
      p_client_message_id: clientMessageId,
    };
    const first = await service.rpc('save_chat_turn', args);
    expect(first.error).toBeNull();
    expect(first.status).toBe(200);
    expect(first.data).toMatchObject({
      replayed: false,
      user_message: {
        role: 'user',
        content: 'What is virtue?',
        client_message_id: clientMessageId,
      },
      reply: { role: 'assistant', citations: [{ chunk_index: 3 }] },
      session: { message_count: 4, preview: 'Virtue is the only good.' },
    });
    const replay = await service.rpc('save_chat_turn', args);
    expect(replay.data).toMatchObject({ replayed: true, session: { message_count: 4 } });
    const { count } = await service
      .from('messages')
      .select('*', { count: 'exact', head: true })
      .eq('session_id', seed.session.id);
    expect(count).toBe(4);
    const cited = await service
      .from('messages')
      .select('content, chunk:citations->0->>chunk_index, citations->0')
      .eq('citations->0->>chunk_index', '3');
    expect(cited.data).toEqual([
      { content: 'Virtue is the only good.', chunk: '3', '0': { chunk_index: 3 } },
    ]);
  });

  it('maps function errors and unknown functions like PostgREST', async () => {
    const missing = await service.rpc('save_chat_turn', {
      p_session_id: seed.session.id,
      p_user_id: OTHER_READER,
      p_fence: 1,
      p_user_content: 'x',
      p_reply_content: 'y',
    });
    expect(missing.error).toMatchObject({ code: 'P0002' });
    expect(missing.status).toBe(500);
    const unknown = await service.rpc('no_such_function', { a: 1 });
    expect(unknown.status).toBe(404);
    expect(unknown.error).toMatchObject({ code: 'PGRST202' });
    const wrongArgs = await service.rpc('save_chat_turn', { p_session_id: seed.session.id });
    expect(wrongArgs.error?.code).toBe('PGRST202');
  });

  it('returns scalars and sets from functions made after start, with filters on rows', async () => {
    await db.sql.unsafe(`
      create function public.add_them(a integer, b integer) returns integer
        language sql immutable as $$ select a + b $$;
      create function public.books_by(p_author text) returns setof public.books
        language sql stable as $$ select * from public.books where author = p_author $$;
      create function public.titles() returns setof text
        language sql stable as $$ select title from public.books order by title $$;
    `);
    expect((await service.rpc('add_them', { a: 2, b: 40 })).data).toBe(42);
    expect((await service.rpc('add_them', { a: 2, b: 40 }, { get: true })).data).toBe(42);
    const books = await service
      .rpc('books_by', { p_author: 'Plato' })
      .select('title, characters(name)');
    expect(books.data).toEqual([{ title: 'Republic', characters: [{ name: 'Socrates' }] }]);
    const titles = await service.rpc('titles');
    expect(titles.data).toEqual(expect.arrayContaining(['Meditations', 'Republic']));
    const bad = await service.rpc('add_them', { a: 'x', b: 1 });
    expect(bad).toMatchObject({ status: 400, error: { code: '22P02' } });
  });
});

describe('errors', () => {
  it('maps constraint errors to PostgREST statuses', async () => {
    const duplicate = await service
      .from('categories')
      .insert({ name: 'Again', slug: 'philosophy' });
    expect(duplicate).toMatchObject({ status: 409, error: { code: '23505' } });
    expect(duplicate.error?.details).toContain('(slug)=(philosophy)');
    const badUuid = await service.from('books').select().eq('id', 'not-a-uuid');
    expect(badUuid).toMatchObject({ status: 400, error: { code: '22P02' } });
    const foreignKey = await service.from('characters').insert({
      book_id: '99999999-9999-4999-8999-999999999999',
      name: 'Ghost',
      safe_name: 'ghost',
      system_prompt: 'boo',
    });
    expect(foreignKey).toMatchObject({ status: 409, error: { code: '23503' } });
    const check = await service.from('books').insert({ title: 'X', processing_status: 'bogus' });
    expect(check).toMatchObject({ status: 400, error: { code: '23514' } });
    const notNull = await service.from('books').insert({ author: 'No title' });
    expect(notNull).toMatchObject({ status: 400, error: { code: '23502' } });
  });

  it('answers unknown tables, columns and malformed filters', async () => {
    const table = await service.from('no_such_table').select();
    expect(table).toMatchObject({ status: 404, error: { code: 'PGRST205' } });
    const column = await service.from('books').select('nope');
    expect(column).toMatchObject({ status: 400, error: { code: '42703' } });
    const filter = await service.from('books').select().filter('title', 'bogus', 'x');
    expect(filter).toMatchObject({ status: 400, error: { code: 'PGRST100' } });
    const tree = await service.from('books').select().or('title.eq.a,(');
    expect(tree).toMatchObject({ status: 400, error: { code: 'PGRST100' } });
    const insertColumn = await service.from('books').insert({ title: 'X', nope: 1 });
    expect(insertColumn).toMatchObject({ status: 400, error: { code: 'PGRST204' } });
  });

  it('rejects bad, expired and missing credentials', async () => {
    const wrongSecret = await signSupabaseJwt('another-secret-that-is-long-enough-to-sign', {
      role: 'service_role',
    });
    const forged = await client(anonKey, wrongSecret).from('books').select();
    expect(forged).toMatchObject({ status: 401, error: { code: 'PGRST301' } });
    const expired = await signSupabaseJwt(SECRET, {
      role: 'authenticated',
      sub: READER,
      expiresInSeconds: -10,
    });
    const late = await client(anonKey, expired).from('books').select();
    expect(late).toMatchObject({
      status: 401,
      error: { code: 'PGRST303', message: 'JWT expired' },
    });
    const garbage = await client(anonKey, 'not-a-jwt').from('books').select();
    expect(garbage).toMatchObject({ status: 401, error: { code: 'PGRST301' } });
    const noKey = await fetch(`${standIn.url}/rest/v1/books`);
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ message: 'No API key found in request' });
    const badKey = await raw('/rest/v1/books', { key: wrongSecret });
    expect(badKey.status).toBe(401);
    expect(await badKey.json()).toMatchObject({ message: 'Invalid API key' });
  });

  it('keeps injection-looking values as data', async () => {
    const title = `Robert'); drop table public.books; -- $1 \\ "quoted"`;
    const inserted = await service.from('books').insert({ title }).select('id, title').single();
    expect(inserted.data?.title).toBe(title);
    const found = await service.from('books').select('title').eq('title', title);
    expect(found.data).toEqual([{ title }]);
    const viaOr = await service
      .from('books')
      .select('title')
      .or(`title.eq."${title.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
    expect(viaOr.data).toEqual([{ title }]);
    const viaLike = await service.from('books').select('title').like('title', "%'); drop%");
    expect(viaLike.data).toEqual([{ title }]);
    const column = await service
      .from('books')
      .select()
      .eq('title" = title; drop table books; --', 'x');
    expect(column.status).toBe(400);
    const select = await service.from('books').select('title,(select 1)');
    expect(select.status).toBe(400);
    const { count } = await service.from('books').select('*', { count: 'exact', head: true });
    expect(count).toBeGreaterThanOrEqual(4);
    await service
      .from('books')
      .delete()
      .eq('id', inserted.data?.id ?? '');
  });
});

describe('row-level security', () => {
  it('shows a reader the whole catalog but only their own sessions and messages', async () => {
    const reader = await readerClient(READER);
    const books = await reader.from('books').select('id');
    expect(books.error).toBeNull();
    expect(books.data?.length).toBeGreaterThanOrEqual(3);
    const sessions = await reader.from('chat_sessions').select('id, user_id');
    expect(sessions.data).toEqual([{ id: seed.session.id, user_id: READER }]);
    const messages = await reader.from('messages').select('session_id');
    expect(messages.data?.length).toBeGreaterThan(0);
    expect(new Set(messages.data?.map((m) => m.session_id))).toEqual(new Set([seed.session.id]));
    const theirs = await reader
      .from('chat_sessions')
      .select()
      .eq('id', seed.otherSession.id)
      .maybeSingle();
    expect(theirs).toMatchObject({ data: null, error: null });

    const all = await service.from('chat_sessions').select('id');
    expect(all.data?.map((s) => s.id).sort()).toEqual(
      [seed.session.id, seed.otherSession.id].sort(),
    );
  });

  it('lets a reader create only their own rows, with 403 for the rest', async () => {
    const reader = await readerClient(READER);
    const own = await reader
      .from('chat_sessions')
      .insert({ user_id: READER, character_id: seed.socrates.id, book_id: seed.republic.id })
      .select('user_id')
      .single();
    expect(own).toMatchObject({ status: 201, data: { user_id: READER } });
    const forged = await reader
      .from('chat_sessions')
      .insert({ user_id: OTHER_READER, character_id: seed.socrates.id, book_id: seed.republic.id });
    expect(forged).toMatchObject({ status: 403, error: { code: '42501' } });
    const hijack = await reader
      .from('chat_sessions')
      .update({ title: 'mine now' })
      .eq('id', seed.otherSession.id)
      .select();
    expect(hijack.data).toEqual([]);
    const { data: untouched } = await service
      .from('chat_sessions')
      .select('title')
      .eq('id', seed.otherSession.id)
      .single();
    expect(untouched?.title).toBe('theirs');
    const rpc = await reader.rpc('save_chat_turn', {
      p_session_id: seed.session.id,
      p_user_id: READER,
      p_fence: 1,
      p_user_content: 'x',
      p_reply_content: 'y',
    });
    expect(rpc.error?.code).toBe('42501');
    expect(rpc.status).toBe(403);
  });

  it('refuses tokens without exp or for another audience, as PostgREST does', async () => {
    const sign = (claims: Record<string, unknown>, o: { exp?: boolean } = {}) => {
      let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(READER);
      if (o.exp !== false) jwt = jwt.setExpirationTime('1h');
      return jwt.sign(new TextEncoder().encode(SECRET));
    };
    const never = await sign({ role: 'authenticated', aud: 'authenticated' }, { exp: false });
    const other = await sign({ role: 'authenticated', aud: 'another-app' });
    for (const token of [never, other]) {
      const res = await client(anonKey, token).from('chat_sessions').select('id');
      expect(res).toMatchObject({ status: 401, data: null, error: { code: 'PGRST303' } });
    }
    const keyWithoutExp = await sign({ role: 'service_role' }, { exp: false });
    const res = await client(keyWithoutExp).from('chat_sessions').select('id');
    expect(res.status).toBe(401);
    expect(res.data).toBeNull();
    // A well-formed reader token still works.
    const ok = await client(anonKey, await sign({ role: 'authenticated', aud: 'authenticated' }))
      .from('chat_sessions')
      .select('id');
    expect(ok).toMatchObject({ status: 200, error: null });
  });

  it('gives anonymous callers 401 on reads and writes (no privilege at all)', async () => {
    const anon = client(anonKey);
    const books = await anon.from('books').select('id');
    expect(books).toMatchObject({ status: 401, error: { code: '42501' } });
    const write = await anon.from('books').insert({ title: 'Anonymous' });
    expect(write).toMatchObject({ status: 401, error: { code: '42501' } });
  });
});

describe('server', () => {
  beforeEach(() => standIn.resetCounters());

  it('counts requests per table and reports each one', async () => {
    const seen: string[] = [];
    standIn.on('request', (event) => seen.push(`${event.method} ${event.path} ${event.status}`));
    await service.from('books').select('id');
    await service.from('books').select('id').eq('author', 'Plato');
    await service.rpc('add_them', { a: 1, b: 1 });
    await service.from('nope').select();
    expect(standIn.requests.count).toBe(4);
    expect(standIn.requests.byTable.get('books')).toBe(2);
    expect(standIn.requests.byTable.get('rpc/add_them')).toBe(1);
    expect(seen).toContain('GET /rest/v1/books 200');
    expect(seen).toContain('GET /rest/v1/nope 404');
  });

  it('finds tables, columns and relationships created after it started', async () => {
    await db.sql.unsafe('create table public.notes (id integer primary key, body text)');
    const created = await service.from('notes').insert({ id: 1, body: 'first' }).select().single();
    expect(created.data).toEqual({ id: 1, body: 'first' });
    await db.sql.unsafe(
      'alter table public.notes add column tag text, add column book_id uuid references public.books (id)',
    );
    const tagged = await service
      .from('notes')
      .update({ tag: 'late', book_id: seed.republic.id })
      .eq('id', 1)
      .select('tag, book:books(title)')
      .single();
    expect(tagged.data).toEqual({ tag: 'late', book: { title: 'Republic' } });
  });

  it('answers 503 when the database is gone', async () => {
    const pg = await startEmbeddedPostgres({ migrationsDir: MIGRATIONS_DIR });
    const orphan = await startSupabaseStandIn({
      databaseUrl: pg.url,
      maxConnections: 1,
      jwtSecret: SECRET,
      storageDir,
    });
    try {
      const key = await signSupabaseJwt(SECRET, { role: 'service_role' });
      const lost = createClient(orphan.url, key, {
        realtime: { transport: ws as never },
        auth: { persistSession: false, autoRefreshToken: false },
      });
      expect((await lost.from('books').select('id')).status).toBe(200);
      await pg.close();
      const write = await lost.from('categories').insert({ name: 'Lost' });
      expect(write).toMatchObject({ status: 503, error: { code: 'PGRST000' } });
    } finally {
      await orphan.close();
      await pg.close();
    }
  });

  // PGlite (WASM, no timer signals) does not enforce statement_timeout; PostgreSQL does.
  it.skipIf(!process.env.TEST_DATABASE_URL)(
    'applies the statement timeout per request',
    async () => {
      const slow = await startSupabaseStandIn({
        databaseUrl: db.url,
        maxConnections: 1,
        jwtSecret: SECRET,
        storageDir,
        statementTimeoutMs: 50,
      });
      try {
        await db.sql.unsafe(`create or replace function public.nap(seconds float8) returns text
        language sql as $$ select pg_sleep(seconds)::text $$`);
        const sleepy = createClient(
          slow.url,
          await signSupabaseJwt(SECRET, { role: 'service_role' }),
          {
            realtime: { transport: ws as never },
            auth: { persistSession: false, autoRefreshToken: false },
          },
        );
        const quick = await sleepy.rpc('nap', { seconds: 0 });
        expect(quick.error).toBeNull();
        const timedOut = await sleepy.rpc('nap', { seconds: 2 });
        expect(timedOut).toMatchObject({ status: 500, error: { code: '57014' } });
      } finally {
        await slow.close();
      }
    },
  );
});
