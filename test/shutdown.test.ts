import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import { ingestDemoBook, uploadBook, waitUntil } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { type OpenAiTestServer, startOpenAiServer } from './support/openai-server.js';
import { keysOf } from './support/redis.js';

/**
 * SIGTERM with work in flight, on the real server: `node --import tsx src/main.ts` as a child
 * process on this test's stores, its model an OpenAI-compatible test server that answers the
 * chat reply slowly and never answers the ingestion's character listing. With a turn and a job in
 * flight, SIGTERM must: refuse new connections, let the turn finish and save, release its lock,
 * return the unfinished job to the queue, close the stores and exit 0, within the deadline.
 */

const DEADLINE_MS = 4000;
const REPLY = 'The lamp is mine to keep, and I keep it still.';

let gw: TestGateway;
let llm: OpenAiTestServer;
let tmp: string;
const reader = randomUUID();
let token: string;
let sessionId: string;
let pendingBookId: string;

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
  token = await gw.token(reader);
  const bookId = await ingestDemoBook(gw, reader);
  await gw.runtime.stopWorker(5000);
  const [c] = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${bookId} order by name limit 1`;
  sessionId = await gw.seed.session(reader, c!.id, bookId);
  ({ bookId: pendingBookId } = await uploadBook(gw, {
    bytes: await loadDemoBook(),
    fileName: 'second.md',
    contentType: 'text/markdown',
    owner: reader,
    title: 'A second copy',
  }));
  llm = await startOpenAiServer();
  llm.chatResponder = (body) => {
    const system = body.messages?.[0]?.content ?? '';
    if (system.includes('list their characters')) return { hang: true };
    if (system.includes('Rewrite the reader')) {
      return { json: { narrative: 'who keeps the lamp of the tower', keyword: 'lamp keeper' } };
    }
    return { reply: REPLY, delayMs: 1500, tokenDelayMs: 20 };
  };
  tmp = await mkdtemp(join(tmpdir(), 'falsafa-shutdown-'));
}, 60_000);
afterAll(async () => {
  await llm?.close();
  await gw?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Child {
  proc: ChildProcess;
  url: string;
  lines: Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startGatewayProcess(): Promise<Child> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmp,
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: '0',
    SUPABASE_URL: gw.env.SUPABASE_URL!,
    SUPABASE_SERVICE_ROLE_KEY: gw.env.SUPABASE_SERVICE_ROLE_KEY!,
    SUPABASE_JWT_SECRET: gw.env.SUPABASE_JWT_SECRET!,
    QDRANT_URL: gw.env.QDRANT_URL!,
    QDRANT_API_KEY: gw.env.QDRANT_API_KEY!,
    TYPESENSE_URL: gw.env.TYPESENSE_URL!,
    TYPESENSE_API_KEY: gw.env.TYPESENSE_API_KEY!,
    FALSAFA_DATA_DIR: tmp,
    SYSTEM_PROMPT_STORAGE_PATH: join(tmp, 'prompts'),
    LLM_PROVIDER: 'openai',
    LLM_BASE_URL: llm.url,
    LLM_MODEL: 'test-model',
    LLM_API_KEY: 'test-key',
    WORKER_CONCURRENCY: '1',
    WORKER_HEARTBEAT_MS: '200',
    SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS),
    SEED_DEMO: 'false',
    // The book was indexed by the test gateway's embedder: searching it takes the same one.
    EMBEDDING_PROVIDER: gw.env.EMBEDDING_PROVIDER!,
    // The test's Redis or Redis Cluster; without either the child runs its own in-process Redis.
    ...(gw.env.REDIS_URL ? { REDIS_URL: gw.env.REDIS_URL } : {}),
    ...(gw.env.REDIS_CLUSTER_NODES ? { REDIS_CLUSTER_NODES: gw.env.REDIS_CLUSTER_NODES } : {}),
  };
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let buffered = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p));
      } catch {
        // Not a log line.
      }
    }
  });
  proc.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const listening = await Promise.race([
    (async () => {
      for (;;) {
        const line = lines.find((l) => l.msg === 'gateway listening');
        if (line) return String(line.url);
        await sleep(50);
      }
    })(),
    exited.then(({ code }) => {
      throw new Error(`the gateway exited (${code}) before listening: ${stderr.slice(-2000)}`);
    }),
    sleep(30_000).then(() => {
      throw new Error(`the gateway did not start: ${stderr.slice(-2000)}`);
    }),
  ]);
  return { proc, url: listening, lines, exited };
}

function post(url: string, query: string, variables: Record<string, unknown>) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
}

describe('SIGTERM', () => {
  it('with a turn and a job in flight: the turn is saved, its lock is gone, the job goes back to the queue, exit 0', async () => {
    const child = await startGatewayProcess();
    try {
      // A job in flight: its ingestion waits on the model forever.
      const processed = await post(
        child.url,
        'mutation ($b: ID!) { processBook(bookId: $b) { id } }',
        { b: pendingBookId },
      );
      expect(((await processed.json()) as { errors?: unknown }).errors).toBeUndefined();
      await waitUntil(
        async () =>
          llm
            .requestsTo('chat')
            .some((r) => JSON.stringify(r.body).includes('list their characters')),
        15_000,
        'the job to reach the model',
      );

      // A turn in flight: its reply is being generated (the lock is held).
      const turn = post(
        child.url,
        'mutation ($i: SendMessageInput!) { sendMessage(input: $i) { reply { content } session { messageCount } } }',
        { i: { sessionId, content: 'Who keeps the lamp?' } },
      );
      await waitUntil(
        async () =>
          llm.requestsTo('chat').some((r) => (r.body as { stream?: boolean }).stream === true),
        15_000,
        'the turn to reach the model',
      );
      if (gw.redisIsReal) expect(await gw.redis.exists(`chat:lock:${sessionId}`)).toBe(1);

      const t0 = Date.now();
      child.proc.kill('SIGTERM');
      await waitUntil(
        async () => child.lines.some((l) => l.msg === 'shutting down: draining'),
        5000,
        'the drain to start',
      );
      // No new connections are taken while draining.
      const late = await fetch(child.url, { method: 'POST' }).then(
        (r) => r.status,
        () => 'refused',
      );
      expect([503, 'refused']).toContain(late);

      // The turn in flight completes and answers.
      const res = await turn;
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        data?: { sendMessage: { reply: { content: string }; session: { messageCount: number } } };
        errors?: unknown;
      };
      expect(body.errors).toBeUndefined();
      expect(body.data?.sendMessage.reply.content).toBe(REPLY);

      const { code, signal } = await child.exited;
      const took = Date.now() - t0;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(took).toBeLessThan(DEADLINE_MS + 5000);

      // Saved: both messages of the turn.
      const saved = await gw.db.sql<{ role: string; content: string }[]>`
        select role, content from messages where session_id = ${sessionId} order by created_at`;
      expect(saved.map((m) => m.role)).toEqual(['user', 'assistant']);
      expect(saved[1]?.content).toBe(REPLY);

      // What the process said about its shutdown.
      const drained = child.lines.find(
        (l) => l.msg === 'drained' || l.msg === 'drain deadline passed',
      );
      expect(drained).toMatchObject({ msg: 'drained', inTime: true, locksReleased: 0 });
      expect(child.lines.find((l) => l.msg === 'worker stopped')).toMatchObject({
        inTime: false,
        returned: 1,
      });
      expect(child.lines.find((l) => l.msg === 'shutdown complete')).toMatchObject({
        locksHeld: 0,
      });

      if (gw.redisIsReal) {
        // The lock is gone and the job is back at the head of the shared queue.
        expect(await gw.redis.exists(`chat:lock:${sessionId}`)).toBe(0);
        const queued = (await gw.redis.lrange('processing_queue', 0, -1)).map((j) => JSON.parse(j));
        expect(queued).toHaveLength(1);
        expect(queued[0]).toMatchObject({ type: 'process_book', book_id: pendingBookId });
        const inflight = await keysOf(gw.redis, '{processing_queue}:inflight:*');
        for (const key of inflight) expect(await gw.redis.llen(key)).toBe(0);
      }
    } finally {
      if (child.proc.exitCode === null) child.proc.kill('SIGKILL');
    }
  }, 60_000);
});
