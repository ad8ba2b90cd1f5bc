import { randomUUID } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import type { ProgressEvent } from '../src/queue/progress.js';
import { type Runtime, startRuntime } from '../src/runtime.js';
import { type App, createApp } from '../src/yoga.js';
import { ingestDemoBook, waitForIdleQueue, waitForStatus, waitUntil } from './support/books.js';
import { createChatSession } from './support/chat.js';
import { gqlAt, startTestGateway, type TestGateway } from './support/gateway.js';
import {
  type OpenAiTestServer,
  openAiEmbedderEnv,
  startOpenAiServer,
} from './support/openai-server.js';
import { keysOf } from './support/redis.js';
import { startRedisCluster, type TestRedisCluster } from './support/redis-cluster.js';
import { killWorkerMidJob, WorkerProcesses } from './support/workers.js';

/**
 * The gateway on a real Redis Cluster (three masters started by the file, REDIS_CLUSTER_NODES):
 * it starts and is ready, serves a book page from the cluster's cache with batched reads split per
 * slot, saves chat turns once under contention from two instances, ingests a book through
 * `processing_queue`, and recovers the job of a worker killed mid-way. Needs a real PostgreSQL
 * (two instances and worker processes share it).
 */
const realPostgres = Boolean(process.env.TEST_DATABASE_URL);

const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
  replayed userMessage { id content } reply { id } session { messageCount } } }`;
const BOOK_WITH_CHARACTERS = `query ($id: ID!) { book(id: $id) { id title category { name }
  characters { id name book { id title } } } }`;

let cluster: TestRedisCluster;
let gw: TestGateway;
let ai: OpenAiTestServer;
let second: Runtime;
let secondApp: App;
const workers = new WorkerProcesses();
const owner = randomUUID();

beforeAll(async () => {
  cluster = await startRedisCluster();
  ai = await startOpenAiServer({ dimension: 8 });
  gw = await startTestGateway({
    redisCluster: cluster,
    env: {
      CHUNK_TARGET_CHARS: '600',
      CHUNK_OVERLAP_CHARS: '100',
      ...openAiEmbedderEnv(ai),
    },
  });
  // A second instance on the same stores and the same cluster.
  const config = loadConfig(gw.env);
  second = await startRuntime(config, createLogger(config.logLevel));
  secondApp = createApp(second.deps);
}, 90_000);
afterAll(async () => {
  await workers.killAll();
  await secondApp?.dispose();
  await second?.close();
  await gw?.close();
  await ai?.close();
  await cluster?.stop();
});

const gqlOn = (app: App, query: string, variables: Record<string, unknown>, token: string) =>
  gqlAt(app, query, variables, { token });

/** MGETs every master has run so far. */
async function serverMgets(): Promise<number> {
  let n = 0;
  for (const node of cluster.client.nodes('master')) {
    const m = /cmdstat_mget:calls=(\d+)/.exec(await node.info('commandstats'));
    n += m ? Number(m[1]) : 0;
  }
  return n;
}

/** The masters that hold at least one key matching `pattern`. */
async function mastersHolding(pattern: string): Promise<number> {
  const holding = await Promise.all(
    cluster.client
      .nodes('master')
      .map(async (node: Redis) => (await node.keys(pattern)).length > 0),
  );
  return holding.filter(Boolean).length;
}

describe.runIf(realPostgres)('on a Redis Cluster', () => {
  it('starts, and /readyz finds the cluster answering', async () => {
    const res = await gw.app.fetch('http://gateway.test/readyz');
    const body = (await res.json()) as { stores: Record<string, { ok: boolean }> };
    expect(res.status).toBe(200);
    expect(body.stores.redis?.ok).toBe(true);
    expect(gw.runtime.stores.redis).toMatch(/^cluster/);
  });

  it('serves a book page from the cluster cache: one MGET per slot, no Supabase call when warm', async () => {
    const token = await gw.token(owner);
    const categoryId = await gw.seed.category();
    const bookId = await gw.seed.book({ categoryId });
    const characterIds = await gw.seed.characters(bookId, 60);

    const cold = await gqlOn(gw.app, BOOK_WITH_CHARACTERS, { id: bookId }, token);
    expect(cold.body.errors).toBeUndefined();
    // The characters' cache keys are spread over every master.
    expect(await mastersHolding('chat:char:*')).toBe(3);

    gw.counter.reset();
    gw.standIn.resetCounters();
    const before = await serverMgets();
    const warm = await gqlOn(gw.app, BOOK_WITH_CHARACTERS, { id: bookId }, token);
    const mgets = (await serverMgets()) - before;
    expect(warm.body.data).toEqual(cold.body.data);
    expect(gw.counter.count('supabase')).toBe(0);
    expect(gw.standIn.requests.count).toBe(0);
    expect(gw.counter.count('redis:mget')).toBe(2); // chat:book:{id}, then every chat:char:{id}
    const slots = new Set(characterIds.map((id) => calculateSlot(`chat:char:${id}`)));
    expect(mgets).toBe(1 + slots.size);
  });

  it('a killed worker loses nothing: its job goes back through processing_queue and completes once', async () => {
    const completed: ProgressEvent[] = [];
    const { bookId } = await killWorkerMidJob(gw, ai, workers, { fileName: 'crash.md', owner });
    const stop = await gw.deps.progress.listen(bookId, (e) => {
      if (e.stage === 'completed') completed.push(e);
    });
    // The job sits in the dead worker's in-flight list, in the queue's slot.
    const inflight = await keysOf(cluster.client, '{processing_queue}:inflight:*');
    const held = (await Promise.all(inflight.map((k) => cluster.client.lrange(k, 0, -1)))).flat();
    expect(held.map((j) => JSON.parse(j).book_id)).toEqual([bookId]);
    expect(await cluster.client.llen('processing_queue')).toBe(0);

    ai.reset();
    workers.start({ ...gw.env, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'info' });
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'], 45_000)).toBe('completed');
    await waitForIdleQueue(gw);
    // The progress of the worker process reaches this gateway over the cluster's pub/sub.
    await waitUntil(async () => completed.length > 0, 5000, 'the completed event');
    await stop();
    expect(completed).toHaveLength(1);
    const [job] = await gw.db.sql<{ state: string }[]>`
      select state from book_jobs where book_id = ${bookId}`;
    expect(job?.state).toBe('done');
  }, 120_000);

  it('20 sends of one turn through two instances save it exactly once', async () => {
    if (!workers.running()) workers.start({ ...gw.env, WORKER_CONCURRENCY: '1' });
    const bookId = await ingestDemoBook(gw, owner);
    const token = await gw.token(owner);
    const [character] = await gw.db.sql<{ id: string }[]>`
      select id from characters where book_id = ${bookId} order by name limit 1`;
    const sessionId = await createChatSession(gw, token, character!.id);
    const clientMessageId = randomUUID();
    const input = { sessionId, content: 'Who keeps the lamp?', clientMessageId };

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        gqlOn(i % 2 === 0 ? gw.app : secondApp, SEND, { input }, token),
      ),
    );
    const turns: { userMessage: { id: string }; reply: { id: string } }[] = [];
    for (const res of results) {
      if (res.body.errors) expect(res.body.errors[0]?.extensions?.code).toBe('SESSION_BUSY');
      else turns.push(res.body.data?.sendMessage as (typeof turns)[number]);
    }
    expect(turns.length).toBeGreaterThan(0);
    const messages = await gw.db.sql<{ id: string; role: string }[]>`
      select id, role from messages where session_id = ${sessionId} order by created_at`;
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(new Set(turns.map((t) => t.userMessage.id))).toEqual(new Set([messages[0]!.id]));
    expect(new Set(turns.map((t) => t.reply.id))).toEqual(new Set([messages[1]!.id]));
    const [session] = await gw.db.sql<{ message_count: number }[]>`
      select message_count from chat_sessions where id = ${sessionId}`;
    expect(session?.message_count).toBe(2);
    expect(await keysOf(cluster.client, 'chat:lock:*')).toEqual([]);
  }, 120_000);
});
