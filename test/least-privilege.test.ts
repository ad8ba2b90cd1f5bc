import { ensureSupabaseShims, signSupabaseJwt } from '@falsafa/standins';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ws from 'ws';
import { startTestGateway, TEST_JWT_SECRET, type TestGateway } from './support/gateway.js';
import {
  CALLERS,
  type Caller,
  COVERED_TABLES,
  type Outcome,
  type PrivilegeFixture,
  privilegeCases,
  seedPrivilegeFixture,
} from './support/privileges.js';

// What each caller may do to each table, tried as Supabase runs a request: in a transaction,
// `set local role` and `request.jwt.claims`, then the statement (rolled back afterwards).

let gw: TestGateway;
let fx: PrivilegeFixture;
let owner: string;
let other: string;
let ids: PrivilegeFixture['ids'];

function claims(caller: Caller): Record<string, unknown> {
  if (caller === 'anon') return { role: 'anon' };
  return { role: 'authenticated', aud: 'authenticated', sub: caller === 'owner' ? owner : other };
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

const TABLES = ['categories', 'books', 'characters', 'chat_sessions', 'messages'];

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
  fx = await seedPrivilegeFixture(gw);
  ({ owner, other, ids } = fx);
});
afterAll(async () => {
  await gw?.close();
});

describe('least privilege (SQL as anon and authenticated, as Supabase runs a request)', () => {
  it('answers every verb on every table as the frontend needs and no more', async () => {
    const all = privilegeCases(fx);
    for (const table of COVERED_TABLES) {
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
