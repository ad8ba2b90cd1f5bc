/**
 * Database bootstrap for plain PostgreSQL and PGlite: the Supabase shims (roles and the `auth`
 * schema that Supabase provisions and our migrations rely on) and a migration runner that applies
 * `supabase/migrations/*.sql` once each, in name order, recorded in
 * `supabase_migrations.schema_migrations`. Every step is idempotent and safe when several
 * processes run it at once against the same cluster (roles are cluster-wide) or database.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import postgres from 'postgres';

/** The roles Supabase defines; the stand-in impersonates them with `SET LOCAL ROLE`. */
const SUPABASE_ROLES = [
  { name: 'anon', options: 'nologin noinherit' },
  { name: 'authenticated', options: 'nologin noinherit' },
  { name: 'service_role', options: 'nologin noinherit bypassrls' },
] as const;

// Supabase's own definitions (supabase/postgres migrations): the older per-claim GUCs win, the
// `request.jwt.claims` JSON that PostgREST 9+ sets is the fallback.
const AUTH_FUNCTIONS = `
create or replace function auth.uid() returns uuid
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;
`;

// The part of Supabase Storage's schema that row-level security on objects needs: the stand-in
// keeps each object's file on disk and its row here, and reads, writes and deletes the row as the
// caller's role, so the policies a migration puts on `storage.objects` decide, as in Supabase.
const STORAGE_SCHEMA = `
create schema if not exists storage;
create table if not exists storage.objects (
  id uuid primary key default gen_random_uuid(),
  bucket_id text not null,
  name text not null,
  owner uuid,
  owner_id text,
  metadata jsonb,
  path_tokens text[] generated always as (string_to_array(name, '/')) stored,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  last_accessed_at timestamptz default now(),
  constraint bucketid_objname unique (bucket_id, name)
);
alter table storage.objects enable row level security;
create or replace function storage.foldername(name text) returns text[]
language sql immutable as $$
  select (string_to_array(name, '/'))[1:greatest(cardinality(string_to_array(name, '/')) - 1, 0)]
$$;
create or replace function storage.filename(name text) returns text
language sql immutable as $$
  select (string_to_array(name, '/'))[cardinality(string_to_array(name, '/'))]
$$;
grant usage on schema storage to anon, authenticated, service_role;
grant all on storage.objects to anon, authenticated, service_role;
grant execute on function storage.foldername(text), storage.filename(text)
  to anon, authenticated, service_role;
`;

/** Runs a DDL statement, treating "it already exists" (including a lost race) as success. */
async function idempotent(sql: postgres.Sql, statement: string): Promise<void> {
  await sql.unsafe(`
    do $shim$ begin
      ${statement};
    exception when duplicate_object or duplicate_schema or duplicate_function
      or unique_violation then null;
    end $shim$`);
}

/**
 * Creates Supabase's roles (`anon`, `authenticated`, `service_role`), grants them to the current
 * user so it can `SET ROLE`, creates schema `auth` with `auth.uid()`, `auth.role()` and
 * `auth.jwt()`, Storage's `storage.objects` table (row-level security on, no policy) with
 * `storage.foldername()` and `storage.filename()`, and, on a new database, Supabase's default
 * privileges on schema public (objects created there later by the current user are granted to
 * the three roles). Idempotent.
 */
export async function ensureSupabaseShims(sql: postgres.Sql): Promise<void> {
  for (const role of SUPABASE_ROLES) {
    await idempotent(sql, `create role ${role.name} ${role.options}`);
    await idempotent(sql, `grant ${role.name} to current_user`);
  }
  await idempotent(sql, 'create schema auth');
  // Concurrent `create or replace function` in one database can fail with "tuple concurrently
  // updated"; serialize it per database with a transaction-scoped advisory lock.
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('falsafa.supabase_shims'))`;
    await tx.unsafe(AUTH_FUNCTIONS);
    await tx.unsafe('grant usage on schema auth to anon, authenticated, service_role');
    await tx.unsafe(
      'grant execute on function auth.uid(), auth.role(), auth.jwt() to anon, authenticated, service_role',
    );
    await tx.unsafe(STORAGE_SCHEMA);
    // Supabase's own setup: the API roles use schema public, and whatever the migrations create
    // there is granted to them by default (row-level security is what restricts them). A project
    // gets these defaults once, when it is new; a migration may narrow them, and a later start
    // must not widen them again.
    await tx.unsafe('grant usage on schema public to anon, authenticated, service_role');
    const [fresh] = await tx<{ fresh: boolean }[]>`
      select to_regclass('supabase_migrations.schema_migrations') is null as fresh`;
    if (fresh?.fresh) {
      for (const kind of ['tables', 'sequences', 'functions']) {
        await tx.unsafe(
          `alter default privileges in schema public grant all on ${kind} to anon, authenticated, service_role`,
        );
      }
    }
  });
}

/** The migration files of `dir`, in name order (their names start with a sortable version). */
async function migrationFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  return names.filter((name) => name.endsWith('.sql')).sort();
}

/**
 * Applies every `*.sql` file of `dir` that is not yet recorded, each in its own transaction with
 * its record, under a per-database advisory lock. Returns the versions it applied.
 */
export async function applyMigrations(sql: postgres.Sql, dir: string): Promise<string[]> {
  const applied: string[] = [];
  for (const file of await migrationFiles(dir)) {
    const version = file.replace(/\.sql$/, '');
    const body = await readFile(join(dir, file), 'utf8');
    const ran = await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext('falsafa.supabase_migrations'))`;
      await tx.unsafe('create schema if not exists supabase_migrations');
      await tx.unsafe(`create table if not exists supabase_migrations.schema_migrations (
        version text primary key,
        applied_at timestamptz not null default now()
      )`);
      const done = await tx`
        select 1 from supabase_migrations.schema_migrations where version = ${version}`;
      if (done.length > 0) return false;
      // The one place where unsafe is right: the migration file is trusted SQL text.
      await tx.unsafe(body);
      await tx`insert into supabase_migrations.schema_migrations (version) values (${version})`;
      return true;
    });
    if (ran) applied.push(version);
  }
  return applied;
}

/**
 * Supabase shims, then the migrations in `migrationsDir` (none when it is not given): a fresh
 * database ends up shaped like the Supabase project those migrations describe.
 */
export async function bootstrapDatabase(sql: postgres.Sql, migrationsDir?: string): Promise<void> {
  await ensureSupabaseShims(sql);
  if (migrationsDir) await applyMigrations(sql, migrationsDir);
}

/**
 * A new database with a random name (`{prefix}_<hex>`) on a PostgreSQL server (trust auth, or the
 * credentials in `serverUrl`), bootstrapped like our Supabase project; `drop` removes it (forcing
 * off any connection left). For tests and benchmarks that must not share rows.
 */
export async function createScratchDatabase(
  serverUrl: string,
  prefix: string,
  migrationsDir?: string,
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = async (statement: string) => {
    const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
    try {
      await sql.unsafe(statement);
    } finally {
      await sql.end();
    }
  };
  // The name is ours (prefix + hex), so it is safe to put into the statement.
  await admin(`create database ${name}`);
  const target = new URL(serverUrl);
  target.pathname = `/${name}`;
  const url = target.toString();
  const drop = () => admin(`drop database if exists ${name} with (force)`);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await bootstrapDatabase(sql, migrationsDir);
  } catch (error) {
    await sql.end();
    await drop();
    throw error;
  }
  await sql.end();
  return { url, name, drop };
}
