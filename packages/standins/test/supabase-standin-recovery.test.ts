import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase } from '../src/database.js';
import { signSupabaseJwt } from '../src/supabase/server.js';
import { MIGRATIONS_DIR } from './support/schema.js';

/**
 * The Supabase stand-in in its own process, as docker-compose runs it, against the real
 * PostgreSQL: its database connections are cut under it (pg_terminate_backend, with transactions
 * in flight and with idle connections), and it must stay up and answer the next request.
 */
const serverUrl = process.env.TEST_DATABASE_URL;
const SECRET = 'falsafa-recovery-test-secret-0123456789-abcdef';
const APP = 'falsafa-supabase-standin';

const START = `
const { startSupabaseStandIn } = await import('./src/supabase/server.ts');
const s = await startSupabaseStandIn({
  databaseUrl: process.env.DATABASE_URL, jwtSecret: process.env.JWT_SECRET,
  storageDir: process.env.STORAGE_DIR, maxConnections: 4,
});
console.log('LISTENING ' + s.url);
`;

let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let admin: postgres.Sql;
let child: ChildProcess;
let exited: { code: number | null; signal: string | null } | null = null;
let output = '';
let url: string;
let key: string;
let storageDir: string;

beforeAll(async () => {
  if (!serverUrl) return;
  scratch = await createScratchDatabase(serverUrl, 'falsafa_test', MIGRATIONS_DIR);
  admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const db = postgres(scratch.url, { max: 1, onnotice: () => {} });
  // A function that keeps a request's transaction open while its connection is cut.
  await db`create function public.slow_ping(seconds float8) returns int language sql
    as $$ select 1 from pg_sleep(seconds) $$`;
  await db.end();
  storageDir = await mkdtemp(join(tmpdir(), 'falsafa-recovery-'));
  key = await signSupabaseJwt(SECRET, { role: 'service_role' });
  child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', START], {
    env: {
      ...process.env,
      DATABASE_URL: scratch.url,
      JWT_SECRET: SECRET,
      STORAGE_DIR: storageDir,
    },
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /LISTENING (\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', () => reject(new Error(`stand-in exited:\n${output}`)));
  });
}, 60_000);

afterAll(async () => {
  if (!serverUrl) return;
  if (child && !exited) {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  await admin?.end();
  await scratch?.drop();
  if (storageDir) await rm(storageDir, { recursive: true, force: true });
});

const headers = () => ({ apikey: key, authorization: `Bearer ${key}` });
const listCategories = () => fetch(`${url}/rest/v1/categories?select=id`, { headers: headers() });
const slowPing = (seconds: number) =>
  fetch(`${url}/rest/v1/rpc/slow_ping`, {
    method: 'POST',
    headers: { ...headers(), 'content-type': 'application/json' },
    body: JSON.stringify({ seconds }),
  });

/** The stand-in's backends on the scratch database, and what each is doing. */
const backends = () => admin<{ pid: number; query: string; state: string }[]>`
  select pid, query, state from pg_stat_activity
  where datname = ${scratch.name} and application_name = ${APP}`;

const terminateAll = () => admin`
  select pg_terminate_backend(pid) from pg_stat_activity
  where datname = ${scratch.name} and application_name = ${APP}`;

async function until(check: () => Promise<boolean>, what: string) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}; stand-in output:\n${output}`);
}

describe.skipIf(!serverUrl)('the Supabase stand-in when its database connections are cut', () => {
  it('stays up, answers every cut request, and serves the next request', async () => {
    expect((await listCategories()).status).toBe(200);
    for (let round = 0; round < 3; round++) {
      // Transactions in flight (a slow RPC), plus quick requests around them.
      const inFlight = [slowPing(2), slowPing(2), listCategories(), listCategories()];
      await until(
        async () => (await backends()).some((b) => b.query.includes('slow_ping')),
        'the slow request to reach PostgreSQL',
      );
      await terminateAll();
      const answers = await Promise.all(inFlight.map((p) => p.then((r) => r.status)));
      // A cut request is run again on a new connection (nothing of it was committed), or
      // answered 503 as PostgREST's "could not connect"; never a dropped connection or a hang.
      for (const status of answers) expect([200, 503]).toContain(status);
      // Idle connections cut too, between requests.
      await terminateAll();
      await until(async () => (await backends()).length === 0, 'the backends to go');
      expect(exited, output).toBeNull();
      const next = await listCategories();
      expect(next.status, await next.clone().text()).toBe(200);
      expect(await next.json()).toEqual([]);
      expect((await slowPing(0)).status).toBe(200);
    }
    expect(exited, output).toBeNull();
  }, 60_000);
});
