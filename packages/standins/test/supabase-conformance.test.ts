import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ws from 'ws';
import {
  type SupabaseStandIn,
  signSupabaseJwt,
  startSupabaseStandIn,
} from '../src/supabase/server.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

// Answers where the stand-in must say what PostgREST 12 says, found by running
// @supabase/postgrest-js's own test suite against it (see the README's Conformance section).

const SECRET = 'conformance-test-secret-with-at-least-32-characters';

let db: TestDatabase;
let standIn: SupabaseStandIn;
let storageDir: string;
let service: SupabaseClient;
let serviceKey: string;
let category: string;
let book: string;

async function raw(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('apikey', serviceKey);
  headers.set('authorization', `Bearer ${serviceKey}`);
  return fetch(`${standIn.url}${path}`, { ...init, headers });
}

beforeAll(async () => {
  db = await createTestDatabase();
  storageDir = await mkdtemp(join(tmpdir(), 'standin-conformance-'));
  standIn = await startSupabaseStandIn({
    databaseUrl: db.url,
    maxConnections: db.maxConnections,
    jwtSecret: SECRET,
    storageDir,
  });
  serviceKey = await signSupabaseJwt(SECRET, { role: 'service_role' });
  service = createClient(standIn.url, serviceKey, {
    realtime: { transport: ws as never },
    auth: { persistSession: false, autoRefreshToken: false },
  });
  const [row] = await db.sql<{ id: string }[]>`
    insert into public.categories (name, slug) values ('Philosophy', 'philosophy') returning id`;
  category = row!.id;
  const books = await db.sql<{ id: string }[]>`
    insert into public.books (title, category_id, processing_status)
    values ('Meditations', ${category}, 'completed'), ('Republic', ${category}, 'completed')
    returning id`;
  book = books[0]!.id;
  await db.sql`
    insert into public.characters (book_id, name, safe_name, system_prompt)
    values (${book}, 'Marcus', 'marcus', 'You are Marcus.'),
           (${book}, 'Rusticus', 'rusticus', 'You are Rusticus.')`;
  // Two foreign keys to the same table, for an embedding that needs a hint.
  await db.sql`create table public.book_pairs (
    id int primary key,
    first_book uuid not null references public.books (id),
    second_book uuid references public.books (id))`;
  await db.sql`grant all on public.book_pairs to service_role`;
  await db.sql`insert into public.book_pairs values (1, ${books[0]!.id}, ${books[1]!.id})`;
});

afterAll(async () => {
  await standIn?.close();
  await db?.close();
  if (storageDir) await rm(storageDir, { recursive: true, force: true });
});

describe('singular responses', () => {
  it('says how many rows came back when one object was asked for', async () => {
    const res = await service.from('books').select('title').single();
    expect(res.status).toBe(406);
    expect(res.error).toMatchObject({
      code: 'PGRST116',
      message: 'JSON object requested, multiple (or no) rows returned',
      details: 'The result contains 2 rows',
    });
  });
});

describe('upsert', () => {
  it('answers 201 when it inserted a row and 200 when it only merged into existing ones', async () => {
    const created = await service
      .from('categories')
      .upsert({ name: 'Drama', slug: 'drama' }, { onConflict: 'slug' })
      .select('name, slug');
    expect(created).toMatchObject({ status: 201, data: [{ name: 'Drama', slug: 'drama' }] });

    const merged = await service
      .from('categories')
      .upsert({ name: 'Tragedy', slug: 'drama' }, { onConflict: 'slug' })
      .select('name, slug');
    expect(merged).toMatchObject({ status: 200, data: [{ name: 'Tragedy', slug: 'drama' }] });

    const mixed = await service
      .from('categories')
      .upsert(
        [
          { name: 'Tragedies', slug: 'drama' },
          { name: 'Poetry', slug: 'poetry' },
        ],
        { onConflict: 'slug' },
      )
      .select('slug');
    expect(mixed.status).toBe(201);

    // Ignoring duplicates is an insert that may insert nothing: 201 either way.
    const ignored = await service
      .from('categories')
      .upsert({ name: 'Ignored', slug: 'drama' }, { onConflict: 'slug', ignoreDuplicates: true })
      .select('name');
    expect(ignored).toMatchObject({ status: 201, data: [] });
    const [kept] = await db.sql`select name from public.categories where slug = 'drama'`;
    expect(kept?.name).toBe('Tragedies');
  });
});

describe('Prefer: tx', () => {
  it('rolls the transaction back after answering with tx=rollback, and commits with tx=commit', async () => {
    const res = await raw('/rest/v1/categories?select=name', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        prefer: 'return=representation, tx=rollback',
      },
      body: JSON.stringify({ name: 'Fleeting', slug: 'fleeting' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('preference-applied')).toBe('return=representation, tx=rollback');
    expect(await res.json()).toEqual([{ name: 'Fleeting' }]);
    expect(await db.sql`select 1 from public.categories where slug = 'fleeting'`).toHaveLength(0);

    const patched = await raw(`/rest/v1/books?id=eq.${book}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', prefer: 'tx=rollback' },
      body: JSON.stringify({ title: 'Renamed' }),
    });
    expect(patched.status).toBe(204);
    const [kept] = await db.sql`select title from public.books where id = ${book}`;
    expect(kept?.title).toBe('Meditations');

    const committed = await raw('/rest/v1/categories', {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'tx=commit' },
      body: JSON.stringify({ name: 'Lasting', slug: 'lasting' }),
    });
    expect(committed.status).toBe(201);
    expect(await db.sql`select 1 from public.categories where slug = 'lasting'`).toHaveLength(1);
  });
});

describe('embedding', () => {
  it('embeds through a foreign key named by its constraint', async () => {
    const toParent = await service
      .from('books')
      .select('title, books_category_id_fkey(name)')
      .eq('id', book)
      .single();
    expect(toParent).toMatchObject({
      status: 200,
      data: { title: 'Meditations', books_category_id_fkey: { name: 'Philosophy' } },
    });
    const toChildren = await service
      .from('books')
      .select(
        'title, firsts:book_pairs_first_book_fkey(id), seconds:book_pairs_second_book_fkey(id)',
      )
      .eq('id', book)
      .single();
    expect(toChildren).toMatchObject({
      status: 200,
      data: { title: 'Meditations', firsts: [{ id: 1 }], seconds: [] },
    });
  });

  it('describes the candidates of an ambiguous embedding from the embedding side', async () => {
    const res = await service.from('books').select('title, book_pairs(id)');
    expect(res.status).toBe(300);
    expect(res.error).toMatchObject({
      code: 'PGRST201',
      details: [
        {
          cardinality: 'one-to-many',
          embedding: 'books with book_pairs',
          relationship: 'book_pairs_first_book_fkey using books(id) and book_pairs(first_book)',
        },
        {
          cardinality: 'one-to-many',
          embedding: 'books with book_pairs',
          relationship: 'book_pairs_second_book_fkey using books(id) and book_pairs(second_book)',
        },
      ],
    });
    const back = await service.from('book_pairs').select('id, books(title)');
    expect(back.error).toMatchObject({
      code: 'PGRST201',
      details: [
        {
          cardinality: 'many-to-one',
          relationship: 'book_pairs_first_book_fkey using book_pairs(first_book) and books(id)',
        },
        {
          cardinality: 'many-to-one',
          relationship: 'book_pairs_second_book_fkey using book_pairs(second_book) and books(id)',
        },
      ],
    });
  });
});

describe('select syntax', () => {
  it('reads an alias inside an embedded resource', async () => {
    const res = await service
      .from('books')
      .select('title, characters(who:name)')
      .eq('id', book)
      .order('name', { referencedTable: 'characters' })
      .single();
    expect(res).toMatchObject({
      status: 200,
      data: { title: 'Meditations', characters: [{ who: 'Marcus' }, { who: 'Rusticus' }] },
    });
  });

  it('counts rows with count(), and embedded rows with a bare count', async () => {
    const embedded = await service
      .from('books')
      .select('title, characters(count), named:characters(n:count())')
      .order('title');
    expect(embedded).toMatchObject({
      status: 200,
      data: [
        { title: 'Meditations', characters: [{ count: 2 }], named: [{ n: 2 }] },
        { title: 'Republic', characters: [{ count: 0 }], named: [{ n: 0 }] },
      ],
    });
    const total = await service.from('books').select('count()');
    expect(total).toMatchObject({ status: 200, data: [{ count: 2 }] });
    const grouped = await service.from('characters').select('book_id, count()');
    expect(grouped).toMatchObject({ status: 200, data: [{ book_id: book, count: 2 }] });
  });

  it('answers the other aggregate functions with a parse error instead of dropping them', async () => {
    for (const select of ['id.count()', 'id.sum()', 'title, characters(id.max())']) {
      const res = await service.from('books').select(select);
      expect(res.status, select).toBe(400);
      expect(res.error, select).toMatchObject({
        code: 'PGRST100',
        details: 'aggregate functions are not supported',
      });
    }
  });
});
