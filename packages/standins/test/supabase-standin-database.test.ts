import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations, ensureSupabaseShims } from '../src/database.js';
import { EMBEDDED_PG_POOL_SIZE, startEmbeddedPostgres } from '../src/postgres.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { MIGRATIONS_DIR } from './support/schema.js';

let db: TestDatabase;
/** The repository's migration versions (file names without `.sql`), in order. */
let versions: string[];

beforeAll(async () => {
  db = await createTestDatabase();
  versions = (await readdir(MIGRATIONS_DIR))
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => file.replace(/\.sql$/, ''));
});

afterAll(async () => {
  await db?.close();
});

describe('bootstrap', () => {
  it('creates the Supabase roles, auth functions and the schema of the migrations', async () => {
    const roles = await db.sql<{ rolname: string; rolbypassrls: boolean; rolcanlogin: boolean }[]>`
      select rolname, rolbypassrls, rolcanlogin from pg_roles
      where rolname in ('anon', 'authenticated', 'service_role') order by rolname`;
    expect(roles).toEqual([
      { rolname: 'anon', rolbypassrls: false, rolcanlogin: false },
      { rolname: 'authenticated', rolbypassrls: false, rolcanlogin: false },
      { rolname: 'service_role', rolbypassrls: true, rolcanlogin: false },
    ]);
    const tables = await db.sql<{ tablename: string }[]>`
      select tablename from pg_tables where schemaname = 'public' order by tablename`;
    expect(tables.map((t) => t.tablename)).toEqual([
      'book_jobs',
      'books',
      'categories',
      'characters',
      'chat_branches',
      'chat_sessions',
      'chat_turn_fences',
      'messages',
    ]);
    const applied = await db.sql<{ version: string }[]>`
      select version from supabase_migrations.schema_migrations order by version`;
    expect(applied.map((v) => v.version)).toEqual(versions);
    expect(versions.slice(0, 3)).toEqual([
      '20261128000001_catalog_and_chat',
      '20261128000002_row_level_security',
      '20261128000003_save_chat_turn',
    ]);
  });

  it('reads the caller from the JWT settings as Supabase does', async () => {
    const sub = '44444444-4444-4444-8444-444444444444';
    const [fromClaims] = await db.sql.begin(async (tx) => {
      await tx`select set_config('request.jwt.claims', ${JSON.stringify({ sub, role: 'authenticated' })}, true)`;
      return tx`select auth.uid()::text as uid, auth.role() as role, auth.jwt() ->> 'sub' as jwt_sub`;
    });
    expect(fromClaims).toEqual({ uid: sub, role: 'authenticated', jwt_sub: sub });
    const [legacy] = await db.sql.begin(async (tx) => {
      await tx`select set_config('request.jwt.claims', '{"sub":"55555555-5555-4555-8555-555555555555"}', true)`;
      await tx`select set_config('request.jwt.claim.sub', ${sub}, true)`;
      return tx`select auth.uid()::text as uid`;
    });
    expect(legacy).toEqual({ uid: sub });
    const [nobody] = await db.sql`select auth.uid() as uid`;
    expect(nobody).toEqual({ uid: null });
  });

  it('is idempotent and safe to run concurrently', async () => {
    await Promise.all([
      ensureSupabaseShims(db.sql),
      ensureSupabaseShims(db.sql),
      ensureSupabaseShims(db.sql),
    ]);
    expect(await applyMigrations(db.sql, MIGRATIONS_DIR)).toEqual([]);
    const [{ n }] =
      (await db.sql`select count(*)::int as n from supabase_migrations.schema_migrations`) as unknown as [
        { n: number },
      ];
    expect(n).toBe(versions.length);
  });

  it('applies new migrations once, in name order, each in its own transaction', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    try {
      await writeFile(join(dir, '002_second.sql'), 'insert into public.probe values (2);');
      await writeFile(join(dir, '001_first.sql'), 'create table public.probe (n int primary key);');
      await writeFile(
        join(dir, '003_broken.sql'),
        'insert into public.probe values (3); select 1/0;',
      );
      await expect(applyMigrations(db.sql, dir)).rejects.toThrow(/division by zero/);
      const rows = await db.sql<{ n: number }[]>`select n from public.probe order by n`;
      expect(rows.map((r) => r.n)).toEqual([2]);
      await writeFile(join(dir, '003_broken.sql'), 'insert into public.probe values (3);');
      expect(await applyMigrations(db.sql, dir)).toEqual(['003_broken']);
      expect(await applyMigrations(db.sql, dir)).toEqual([]);
    } finally {
      await db.sql`drop table if exists public.probe`;
      await db.sql`delete from supabase_migrations.schema_migrations where version like '00%'`;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps concurrent clients apart: results, errors and transactions', async () => {
    const clients = [
      postgres(db.url, { max: db.maxConnections, onnotice: () => {} }),
      postgres(db.url, { max: db.maxConnections, onnotice: () => {} }),
    ];
    try {
      let wrong = 0;
      const jobs: Promise<unknown>[] = [];
      for (let i = 0; i < 120; i++) {
        const sql = clients[i % 2] as postgres.Sql;
        jobs.push(
          sql`select ${i}::int as v, ${`p${i}`}::text as w`.then((rows) => {
            if (rows[0]?.v !== i || rows[0]?.w !== `p${i}`) wrong++;
          }),
        );
        if (i % 5 === 0) {
          // A parse-time error in the middle of other clients' extended-protocol exchanges.
          jobs.push(
            sql`select no_such_column from pg_class where relname = ${`r${i}`}`.catch(() => {}),
          );
        }
        if (i % 7 === 0) {
          jobs.push(
            sql.begin(async (tx) => {
              const [row] = await tx`select ${i}::int as v`;
              if (row?.v !== i) wrong++;
              await tx`select pg_sleep(0.001)`;
            }),
          );
        }
      }
      await Promise.all(jobs);
      expect(wrong).toBe(0);
    } finally {
      await Promise.all(clients.map((sql) => sql.end()));
    }
  });
});

describe('embedded PostgreSQL', () => {
  it('persists a data directory across restarts without re-running migrations', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pglite-'));
    try {
      const first = await startEmbeddedPostgres({ dataDir, migrationsDir: MIGRATIONS_DIR });
      const a = postgres(first.url, { max: EMBEDDED_PG_POOL_SIZE, onnotice: () => {} });
      await a`insert into public.categories (name, slug) values ('Kept', 'kept')`;
      await a.end();
      await first.close();

      const second = await startEmbeddedPostgres({ dataDir, migrationsDir: MIGRATIONS_DIR });
      const b = postgres(second.url, { max: EMBEDDED_PG_POOL_SIZE, onnotice: () => {} });
      const rows = await b`select name from public.categories`;
      const migrations =
        await b`select count(*)::int as n from supabase_migrations.schema_migrations`;
      await b.end();
      await second.close();
      expect(rows).toEqual([{ name: 'Kept' }]);
      expect(migrations).toEqual([{ n: versions.length }]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it.runIf(process.env.TEST_DATABASE_URL)('drops the per-test database on close', async () => {
    const own = await createTestDatabase();
    const name = new URL(own.url).pathname.slice(1);
    expect(name).toMatch(/^falsafa_test_[0-9a-f]{12}$/);
    await own.close();
    const [{ n }] =
      (await db.sql`select count(*)::int as n from pg_database where datname = ${name}`) as unknown as [
        { n: number },
      ];
    expect(n).toBe(0);
  });
});
