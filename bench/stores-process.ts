import { type ChildProcess, spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase } from '@falsafa/standins';
import { MIGRATIONS_DIR } from '../src/migrations.js';
import { type ChatRequestBody, startOpenAiServer } from '../test/support/openai-server.js';
import { failStartup, serveCommands } from './ipc.js';

/**
 * The stores the gateway under test talks to, away from the gateway's event loop: the commands of
 * `@falsafa/standins` (each its own process): PostgreSQL (in-memory PGlite, or a fresh database on
 * the server at BENCH_PG_SERVER_URL) behind the Supabase stand-in, the Qdrant and Typesense
 * stand-ins; and, in this process, an OpenAI-compatible model that answers at once. Each part is skipped when the parent says the real
 * service is used instead. Everything listens on 127.0.0.1 and is removed on `close`.
 */
const env = process.env;
const dataDir = env.BENCH_DATA_DIR!;
const jwtSecret = env.BENCH_JWT_SECRET!;
const typesenseKey = env.BENCH_TYPESENSE_KEY!;
const closers: (() => Promise<void>)[] = [];
const BIN = fileURLToPath(new URL('../node_modules/.bin/', import.meta.url));

/** Runs one of the package's commands; resolves with the `NAME=value` lines it prints. */
function standIn(command: string, args: string[]): Promise<Record<string, string>> {
  const child: ChildProcess = spawn(join(BIN, command), args, {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  );
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (!/^ready$/m.test(out)) return;
      const lines = out.split('\n').filter((line) => /^[A-Z_]+=/.test(line));
      resolve(
        Object.fromEntries(
          lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
        ),
      );
    });
    child.once('exit', (code) => reject(new Error(`${command} exited (${code})`)));
  });
}

async function closeAll() {
  for (const fn of closers.reverse()) await fn().catch(() => {});
  closers.length = 0;
}

/** A new database on a PostgreSQL server, bootstrapped like our Supabase project; dropped at the end. */
async function freshServerDatabase(serverUrl: string) {
  const scratch = await createScratchDatabase(serverUrl, 'falsafa_bench', MIGRATIONS_DIR);
  closers.push(() => scratch.drop());
  return { url: scratch.url, name: scratch.name, maxConnections: 10 };
}

/** The model: a JSON object for query rewrites, a short reply otherwise, no delay. */
function instantAnswer(body: ChatRequestBody) {
  const last = body.messages?.findLast((m) => m.role === 'user')?.content ?? '';
  if (body.response_format?.type === 'json_object') {
    const words = last.split(/\W+/).filter((w) => w.length > 3);
    return {
      json: {
        narrative: `The reader asks about ${last}`.slice(0, 400),
        keyword: (words.slice(0, 6).join(' ') || 'lamp').slice(0, 200),
      },
    };
  }
  return {
    reply:
      'The lamp still turns over the water, and I remember the storm as if it were last night.',
  };
}

async function main() {
  const info: Record<string, unknown> = {};
  if (env.BENCH_START_SUPABASE === '1') {
    const args = [`--api-key=${jwtSecret}`, `--migrations=${MIGRATIONS_DIR}`, '--bucket=books'];
    if (env.BENCH_PG_SERVER_URL) {
      const db = await freshServerDatabase(env.BENCH_PG_SERVER_URL);
      args.push(`--database-url=${db.url}`, `--max-connections=${db.maxConnections}`);
      info.database = `PostgreSQL server, fresh database ${db.name}`;
      info.databaseUrl = db.url;
    } else {
      info.database = 'embedded PGlite (in memory)';
    }
    args.push(`--storage-dir=${join(dataDir, 'storage')}`);
    info.supabaseUrl = (await standIn('falsafa-supabase-standin', args)).SUPABASE_URL;
  }
  if (env.BENCH_START_QDRANT === '1') {
    const q = await standIn('falsafa-qdrant-standin', [`--data-dir=${join(dataDir, 'qdrant')}`]);
    info.qdrantUrl = q.QDRANT_URL;
  }
  if (env.BENCH_START_TYPESENSE === '1') {
    const t = await standIn('falsafa-typesense-standin', [
      `--data-dir=${join(dataDir, 'typesense')}`,
      `--api-key=${typesenseKey}`,
    ]);
    info.typesenseUrl = t.TYPESENSE_URL;
  }
  const llm = await startOpenAiServer({ dimension: 8 });
  llm.chatResponder = instantAnswer;
  closers.push(() => llm.close());
  info.llmUrl = llm.url;
  closers.push(() => rm(dataDir, { recursive: true, force: true }));

  serveCommands(info, {
    /** Model requests answered since the last call (the log is emptied: it would grow). */
    llmRequests: () => {
      const n = llm.requests.length;
      llm.requests.length = 0;
      return n;
    },
    memory: () => process.memoryUsage(),
    cpu: () => {
      const c = process.cpuUsage();
      return { userMs: c.user / 1000, systemMs: c.system / 1000 };
    },
    close: async () => {
      await closeAll();
      setTimeout(() => process.exit(0), 20).unref();
      return true;
    },
  });
}

main().catch(async (err) => {
  await closeAll();
  failStartup(err);
});
