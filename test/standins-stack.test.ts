import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signSupabaseJwt } from '@falsafa/standins';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `falsafa-standins stack` as a developer runs it: PGlite and the three stand-ins as standalone
 * servers, their URLs printed. Gateways given those URLs share it (a book made through one is seen
 * by the other), and load nothing of the stand-ins' package: only the embedded default does.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STACK_BIN = join(ROOT, 'node_modules/.bin/falsafa-standins');
const IMPORT_LOG = join(ROOT, 'test/support/import-log.mjs');
const SECRET = 'falsafa-stack-test-secret-0123456789-abcdef';
const children: ChildProcess[] = [];
let dir: string;
let stackEnv: Record<string, string>;

/** Collects a child's stdout, resolves once `done(out)` returns a value, rejects if it exits first. */
function spawnUntil<T>(
  command: string,
  args: string[],
  env: Record<string, string>,
  done: (out: string) => T | undefined,
): Promise<{ child: ChildProcess; value: T; output: () => string }> {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const value = done(out);
      if (value !== undefined) resolve({ child, value, output: () => out });
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString('utf8');
    });
    child.on('exit', (code) =>
      reject(new Error(`${command} exited (${code}): ${err.slice(-2000)}`)),
    );
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** `src/main.ts` with the import log on; resolves with its GraphQL URL once it listens. */
async function startGateway(env: Record<string, string>) {
  const gatewayDir = await mkdtemp(join(dir, 'gateway-'));
  const log = join(gatewayDir, 'imports.log');
  const { child, value } = await spawnUntil(
    process.execPath,
    ['--import', 'tsx', '--import', IMPORT_LOG, 'src/main.ts'],
    {
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      SEED_DEMO: 'false',
      RATE_LIMIT_ENABLED: 'false',
      WORKER_CONCURRENCY: '0',
      FALSAFA_DATA_DIR: join(gatewayDir, 'data'),
      IMPORT_LOG: log,
      ...env,
    },
    (out) => {
      for (const line of out.split('\n')) {
        if (!line.includes('"gateway listening"')) continue;
        return String((JSON.parse(line) as { url: string }).url);
      }
      return undefined;
    },
  );
  return {
    child,
    url: value,
    /** Every module URL the gateway resolved so far. */
    imports: async () => (await readFile(log, 'utf8')).split('\n').filter(Boolean),
  };
}

async function graphql(url: string, token: string, query: string, variables = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
}

/** `createBook` as the GraphQL multipart request spec sends it (a small text file). */
async function createBook(url: string, token: string, title: string) {
  const form = new FormData();
  const query =
    'mutation ($input: CreateBookInput!, $file: File!) { createBook(input: $input, file: $file) { id } }';
  form.set('operations', JSON.stringify({ query, variables: { input: { title }, file: null } }));
  form.set('map', JSON.stringify({ 0: ['variables.file'] }));
  const text = 'The lamp turned over the water all night, and the keeper wrote it down.';
  form.set('0', new Blob([text], { type: 'text/plain' }), 'lamp.txt');
  const res = await fetch(url, {
    method: 'POST',
    headers: { accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
    body: form,
  });
  return (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
}

const inPackage = (u: string) => u.includes('/packages/standins/');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'falsafa-stack-'));
  const { value } = await spawnUntil(
    STACK_BIN,
    [
      'stack',
      `--data-dir=${join(dir, 'stack')}`,
      `--jwt-secret=${SECRET}`,
      '--migrations=supabase/migrations',
      '--bucket=books',
    ],
    {},
    (out) => {
      if (!/^ready$/m.test(out)) return undefined;
      return Object.fromEntries(
        out
          .split('\n')
          .filter((line) => /^[A-Z_]+=/.test(line))
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
      );
    },
  );
  stackEnv = value;
}, 120_000);

afterAll(async () => {
  await Promise.all(children.map(stop));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('falsafa-standins stack', () => {
  it('prints the URLs and keys of PGlite, Supabase, Qdrant and Typesense', async () => {
    expect(stackEnv.DATABASE_URL).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    expect(stackEnv.SUPABASE_JWT_SECRET).toBe(SECRET);
    const rest = await fetch(`${stackEnv.SUPABASE_URL}/rest/v1/categories?select=slug`, {
      headers: { apikey: stackEnv.SUPABASE_SERVICE_ROLE_KEY! },
    });
    expect(rest.status).toBe(200);
    const qdrant = await fetch(`${stackEnv.QDRANT_URL}/collections`, {
      headers: { 'api-key': stackEnv.QDRANT_API_KEY! },
    });
    expect(qdrant.status).toBe(200);
    const typesense = await fetch(`${stackEnv.TYPESENSE_URL}/collections`, {
      headers: { 'x-typesense-api-key': stackEnv.TYPESENSE_API_KEY! },
    });
    expect(typesense.status).toBe(200);
  });

  it('is shared by two gateways, which load nothing of the stand-ins', async () => {
    const { DATABASE_URL: _db, SUPABASE_ANON_KEY: _anon, ...urls } = stackEnv;
    const [a, b] = await Promise.all([startGateway(urls), startGateway(urls)]);
    const token = await signSupabaseJwt(SECRET, { role: 'authenticated', sub: randomUUID() });
    const title = `Shared ${randomUUID().slice(0, 8)}`;
    const made = await createBook(a.url, token, title);
    expect(made.errors).toBeUndefined();
    const id = made.data!.createBook.id as string;
    const seen = await graphql(b.url, token, 'query ($id: ID!) { book(id: $id) { title } }', {
      id,
    });
    expect(seen.data?.book?.title).toBe(title);

    for (const gateway of [a, b]) {
      const imports = await gateway.imports();
      expect(imports.some((u) => u.endsWith('/src/runtime.ts'))).toBe(true);
      expect(imports.some((u) => u.endsWith('/src/embedded-default.ts'))).toBe(true);
      expect(imports.filter(inPackage)).toEqual([]);
    }
  });

  it('is loaded by the embedded default when no URL is given', { timeout: 180_000 }, async () => {
    const gateway = await startGateway({});
    expect((await gateway.imports()).filter(inPackage).length).toBeGreaterThan(0);
  });
});
