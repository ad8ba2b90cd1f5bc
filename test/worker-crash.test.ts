import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkText } from '../src/ingest/chunker.js';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import { readBookText } from '../src/ingest/readers.js';
import { uploadBook, waitForIdleQueue, waitForStatus, waitUntil } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import {
  type OpenAiTestServer,
  openAiEmbedderEnv,
  startOpenAiServer,
} from './support/openai-server.js';
import { keysOf, sharedRedis, wipeRedis } from './support/redis.js';
import { killWorkerMidJob as killMidJob, WorkerProcesses } from './support/workers.js';

/**
 * Workers as separate processes (`npm run worker`) sharing the real Redis: one is SIGKILLed in the
 * middle of a job; another returns the job to the queue and completes it. Needs a Redis that
 * processes share, so it runs only with TEST_REDIS_URL or on the `redis-cluster` project's cluster.
 */
const CHUNK = { CHUNK_TARGET_CHARS: '300', CHUNK_OVERLAP_CHARS: '50' };

let gw: TestGateway;
let ai: OpenAiTestServer;
const owner = randomUUID();
const workers = new WorkerProcesses();
const startWorker = (env: Record<string, string>) => workers.start(env);
const killWorkerMidJob = (fileName: string) => killMidJob(gw, ai, workers, { fileName, owner });

const PROCESS = 'mutation ($id: ID!) { processBook(bookId: $id) { id processingStatus } }';

/** The book's chunks are indexed once each, and its characters found once each. */
async function expectIndexedOnce(bookId: string, demo: Uint8Array, path: string) {
  const { text } = await readBookText(demo, { path });
  const chunks = chunkText(text, { targetChars: 300, overlapChars: 50 });
  expect(await gw.deps.vectors.count(bookId)).toBe(chunks.length);
  expect(await gw.deps.keywords.count(bookId)).toBe(chunks.length);
  const characters = await gw.db.sql<
    { safe_name: string }[]
  >`select safe_name from characters where book_id = ${bookId}`;
  expect(characters.length).toBeGreaterThan(0);
  expect(new Set(characters.map((c) => c.safe_name)).size).toBe(characters.length);
  return characters;
}

describe.skipIf(!sharedRedis)('workers that die', () => {
  beforeAll(async () => {
    ai = await startOpenAiServer({ dimension: 8 });
    gw = await startTestGateway({
      env: {
        ...CHUNK,
        ...openAiEmbedderEnv(ai),
      },
    });
  });
  afterAll(async () => {
    await workers.killAll();
    await gw?.close();
    await ai?.close();
  });

  it('a worker killed mid-job loses nothing: another completes the job, nothing duplicated', async () => {
    const { bookId, path, demo } = await killWorkerMidJob('crash.md');

    // The job sits in the dead worker's in-flight list, not lost.
    const inflight = await keysOf(gw.redis, '{processing_queue}:inflight:*');
    const held = (await Promise.all(inflight.map((k) => gw.redis.lrange(k, 0, -1)))).flat();
    expect(held.map((j) => JSON.parse(j).book_id)).toEqual([bookId]);
    expect(await gw.redis.llen('processing_queue')).toBe(0);

    startWorker({ ...gw.env, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'info' });
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'], 45_000)).toBe('completed');
    await waitForIdleQueue(gw);

    const characters = await expectIndexedOnce(bookId, demo, path);
    for (const c of characters) {
      expect(
        existsSync(join(gw.env.SYSTEM_PROMPT_STORAGE_PATH!, bookId, `${c.safe_name}.md`)),
      ).toBe(true);
    }
  }, 90_000);

  it('an embedding server that fails ends the job as a logged failure, and the worker goes on', async () => {
    const demo = await loadDemoBook();
    const bad = await uploadBook(gw, {
      bytes: demo,
      fileName: 'no-embeddings.md',
      contentType: 'text/markdown',
      owner,
    });
    const good = await uploadBook(gw, {
      bytes: demo,
      fileName: 'fine.md',
      contentType: 'text/markdown',
      owner,
    });
    ai.reset();
    // Every attempt of the first job's first batch fails: the first try and the embedder's 3 retries.
    ai.enqueueEmbeddings(
      ...Array.from({ length: 4 }, () => ({ status: 503, message: 'overloaded' })),
    );
    const worker =
      workers.running() ?? startWorker({ ...gw.env, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'info' });
    await gw.redis.rpush(
      'processing_queue',
      JSON.stringify({
        job_id: 'embed-fails',
        type: 'process_book',
        book_id: bad.bookId,
        enqueued_at: new Date().toISOString(),
      }),
      JSON.stringify({
        job_id: 'embed-works',
        type: 'process_book',
        book_id: good.bookId,
        enqueued_at: new Date().toISOString(),
      }),
    );
    expect(await waitForStatus(gw, bad.bookId, ['completed', 'failed'], 45_000)).toBe('failed');
    expect(await waitForStatus(gw, good.bookId, ['completed', 'failed'], 45_000)).toBe('completed');
    expect(ai.requestsTo('embeddings').length).toBeGreaterThanOrEqual(5);
    worker.kill('SIGTERM');
    const code = await new Promise((r) => worker.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    const log = worker.output ?? '';
    expect(log).toMatch(
      /"jobId":"embed-fails"[^\n]*"msg":"job failed"|"msg":"job failed"[^\n]*"jobId":"embed-fails"/,
    );
  }, 90_000);

  it('a worker killed mid-job and a Redis wiped after it: processBook re-queues the lost job once, and it completes', async () => {
    await workers.killAll();
    const { bookId, path, demo } = await killWorkerMidJob('lost.md');
    const token = await gw.token(owner);
    // Nothing in Redis knows the job any more: no queue entry, no in-flight list, no heartbeat.
    await wipeRedis(gw.redis);

    // The book is left `processing`; once the dead run's lease is over, asking again re-queues it.
    await waitUntil(
      async () => {
        const res = await gw.gql(PROCESS, { id: bookId }, { token });
        expect(res.body.errors).toBeUndefined();
        return (await gw.redis.llen('processing_queue')) > 0;
      },
      20_000,
      'the lost job back in the queue',
    );
    expect((await gw.gql(PROCESS, { id: bookId }, { token })).body.errors).toBeUndefined();
    expect(await gw.redis.llen('processing_queue')).toBe(1);

    ai.reset();
    startWorker({ ...gw.env, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'info' });
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'], 45_000)).toBe('completed');
    await waitForIdleQueue(gw);
    await expectIndexedOnce(bookId, demo, path);
  }, 90_000);
});
