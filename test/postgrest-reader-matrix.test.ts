import { signSupabaseJwt } from '@falsafa/standins';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
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
  type RestAnswer,
  seedPrivilegeFixture,
} from './support/privileges.js';

// The least-privilege case table again, now as the frontend reaches the data: supabase-js over
// the Supabase stand-in's PostgREST and Storage, with the anon key alone, reader A's token
// (the owner of the fixture's rows) and reader B's token. Every PostgREST request carries
// `Prefer: tx=rollback`, so what a case changes is undone before the next one runs.

let gw: TestGateway;
let fx: PrivilegeFixture;
const clients = new Map<Caller, SupabaseClient>();

/** `fetch` that asks PostgREST to roll each request's transaction back. */
const rollingBack: typeof fetch = (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (!url.includes('/rest/v1/')) return fetch(input, init);
  const headers = new Headers(init?.headers);
  headers.set('prefer', [headers.get('prefer'), 'tx=rollback'].filter(Boolean).join(','));
  return fetch(input, { ...init, headers });
};

async function frontend(caller: Caller): Promise<SupabaseClient> {
  const anonKey = await signSupabaseJwt(TEST_JWT_SECRET, { role: 'anon' });
  const token =
    caller === 'anon' ? undefined : await gw.token(caller === 'owner' ? fx.owner : fx.other);
  return createClient(gw.standIn.url, anonKey, {
    realtime: { transport: ws as never },
    auth: { persistSession: false, autoRefreshToken: false },
    global: {
      fetch: rollingBack,
      ...(token ? { headers: { Authorization: `Bearer ${token}` } } : {}),
    },
  });
}

/** The answer in the case table's terms; a 42501 with the wrong status, or any other error, is
 *  reported as itself so that it shows up in the comparison. */
function outcome(caller: Caller, res: RestAnswer): Outcome | string {
  if (res.error) {
    const { code, message = '' } = res.error;
    if (code !== '42501') return `error ${res.status} ${code}: ${message}`;
    const status = caller === 'anon' ? 401 : 403;
    if (res.status !== status) return `42501 with status ${res.status}`;
    return /row-level security/.test(message) ? 'refused' : 'denied';
  }
  if (typeof res.count === 'number') return res.count;
  return Array.isArray(res.data) ? res.data.length : res.data === null ? 0 : 1;
}

beforeAll(async () => {
  gw = await startTestGateway();
  fx = await seedPrivilegeFixture(gw);
  for (const caller of CALLERS) clients.set(caller, await frontend(caller));
});
afterAll(async () => {
  await gw?.close();
});

describe('the reader token over PostgREST and Storage (supabase-js)', () => {
  it('covers every table of the schema with every verb the APIs offer', async () => {
    const tables = await gw.db.sql<{ name: string }[]>`
      select c.relname as name from pg_class c
      join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'public'
      where c.relkind in ('r', 'p', 'v', 'm') order by 1`;
    expect(
      tables.map((t) => t.name).filter((name) => !COVERED_TABLES.includes(name)),
      'tables the case table does not cover',
    ).toEqual([]);
    const all = privilegeCases(fx);
    for (const table of COVERED_TABLES) {
      const verbs =
        table === 'storage.objects'
          ? ['select', 'insert', 'update', 'upsert', 'delete']
          : ['select', 'insert', 'update', 'delete', 'upsert'];
      for (const verb of verbs) {
        expect(
          all.some((c) => c.table === table && c.verb === verb && c.rest),
          `${table} ${verb}`,
        ).toBe(true);
      }
    }
    const functions = await gw.db.sql<{ name: string }[]>`
      select p.proname as name from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace and n.nspname = 'public'
      where p.prorettype <> 'trigger'::regtype
        and not exists (select 1 from pg_depend d
                        where d.objid = p.oid and d.deptype = 'e')
      order by 1`;
    expect(
      functions
        .map((f) => f.name)
        .filter((name) => !all.some((c) => c.verb === 'rpc' && c.what === name)),
      'functions the case table does not call',
    ).toEqual([]);
  });

  it("gives A only A's rows, B nothing of A's and anon what the policies give it", async () => {
    const answers: string[] = [];
    const wanted: string[] = [];
    for (const c of privilegeCases(fx)) {
      if (!c.rest) continue;
      for (const caller of CALLERS) {
        const label = `${c.table} ${c.verb}${c.what ? ` (${c.what})` : ''} as ${caller}`;
        const res = await c.rest(clients.get(caller)!, caller);
        answers.push(`${label}: ${outcome(caller, res)}`);
        wanted.push(`${label}: ${c.expect[caller]}`);
      }
    }
    expect(answers).toEqual(wanted);
  });
});
