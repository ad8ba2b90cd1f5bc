import { randomUUID } from 'node:crypto';
import { signSupabaseJwt } from '@falsafa/standins';
import { createClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ws from 'ws';
import { loadConfig } from '../src/config.js';
import { chunkText } from '../src/ingest/chunker.js';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import { readBookText } from '../src/ingest/readers.js';
import { createLogger } from '../src/logger.js';
import type { ProgressEvent } from '../src/queue/progress.js';
import { type Runtime, startRuntime } from '../src/runtime.js';
import { BookJobStore } from '../src/stores/book-job-store.js';
import { FULL_SWEEP_EVERY } from '../src/worker.js';
import { createApp } from '../src/yoga.js';
import { uploadBook, waitForIdleQueue, waitForStatus, waitUntil } from './support/books.js';
import { startTestGateway, TEST_JWT_SECRET, type TestGateway } from './support/gateway.js';
import { deleteKeys, onRedisCluster, wipeRedis } from './support/redis.js';

/**
 * One ingestion run per book: concurrent requests on two instances share one run, and a Redis
 * that loses everything (queue, in-flight lists, heartbeats) mid-queue and mid-job loses no book
 * and runs none twice.
 */
const CHUNK = { CHUNK_TARGET_CHARS: '600', CHUNK_OVERLAP_CHARS: '100' };
const BATCH = 64;
const PROCESS = 'mutation ($id: ID!) { processBook(bookId: $id) { id processingStatus } }';

let gw: TestGateway;
const owner = randomUUID();
let token: string;
let demo: Uint8Array;
let expectedChunks: number;

beforeAll(async () => {
  gw = await startTestGateway({ worker: true, env: CHUNK });
  token = await gw.token(owner);
  demo = await loadDemoBook();
  const { text } = await readBookText(demo, { path: 'lamp.md' });
  expectedChunks = chunkText(text, { targetChars: 600, overlapChars: 100 }).length;
});
afterAll(async () => {
  await gw?.close();
});

const demoBook = (fileName: string) =>
  uploadBook(gw, { bytes: demo, fileName, contentType: 'text/markdown', owner });

/** Counts each book's `completed` events, as every subscriber would hear them. */
async function completions(bookIds: string[]) {
  const counts = new Map(bookIds.map((id) => [id, 0]));
  const stops = await Promise.all(
    bookIds.map((id) =>
      gw.deps.progress.listen(id, (e: ProgressEvent) => {
        if (e.stage === 'completed') counts.set(id, (counts.get(id) ?? 0) + 1);
      }),
    ),
  );
  return { counts, stop: () => Promise.all(stops.map((s) => s())) };
}

async function expectIndexedOnce(bookId: string) {
  expect(await gw.deps.vectors.count(bookId)).toBe(expectedChunks);
  expect(await gw.deps.keywords.count(bookId)).toBe(expectedChunks);
  const characters = await gw.db.sql<{ safe_name: string; name: string }[]>`
    select safe_name, name from characters where book_id = ${bookId}`;
  expect(characters.length).toBeGreaterThan(0);
  expect(new Set(characters.map((c) => c.safe_name)).size).toBe(characters.length);
  expect(new Set(characters.map((c) => c.name)).size).toBe(characters.length);
}

describe('one run per book', () => {
  let second: Runtime;

  beforeAll(async () => {
    // A second instance on the same stores, with two worker loops of its own.
    const config = loadConfig({ ...gw.env, WORKER_CONCURRENCY: '2' });
    second = await startRuntime(config, createLogger(config.logLevel));
  });
  afterAll(async () => {
    await second?.close();
  });

  it('five concurrent processBook calls on one pending book, on two instances, run one ingestion', async () => {
    const secondApp = createApp(second.deps);
    const { bookId } = await demoBook('five.md');
    const writes = () =>
      ['qdrant:upsert', 'supabase:POST characters'].map(
        (op) => gw.counter.count(op) + second.deps.counter.count(op),
      );
    const [upsertsBefore, characterWritesBefore] = writes();
    const done = await completions([bookId]);

    const calls = Array.from({ length: 5 }, async (_, i) => {
      const body = JSON.stringify({ query: PROCESS, variables: { id: bookId } });
      const init = {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json',
          authorization: `Bearer ${token}`,
        },
        body,
      };
      const app = i % 2 === 0 ? gw.app : secondApp;
      return (await app.fetch('http://gateway.test/graphql', init)).json();
    });
    const answers = (await Promise.all(calls)) as { errors?: unknown }[];
    for (const a of answers) expect(a.errors).toBeUndefined();

    expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');
    await waitForIdleQueue(gw);
    await waitUntil(async () => (done.counts.get(bookId) ?? 0) > 0, 5000, 'the completed event');
    await done.stop();
    const [upserts, characterWrites] = writes();
    expect(upserts! - upsertsBefore!).toBe(Math.ceil(expectedChunks / BATCH));
    expect(characterWrites! - characterWritesBefore!).toBe(1);
    expect(done.counts.get(bookId)).toBe(1);
    await expectIndexedOnce(bookId);
    await secondApp.dispose();
  });
});

describe('a Redis that loses everything', () => {
  it('wiped mid-job and mid-queue: every requested book ends completed exactly once, nothing duplicated', async () => {
    const ids: string[] = [];
    for (const name of ['running.md', 'queued-1.md', 'queued-2.md']) {
      ids.push((await demoBook(name)).bookId);
    }
    const done = await completions(ids);
    const upsertsBefore = gw.counter.count('qdrant:upsert');

    // The first run stops at its first embedding until the wipe is over.
    const embedder = gw.deps.embedder;
    const embed = embedder.embed.bind(embedder);
    let reached!: () => void;
    const atGate = new Promise<void>((r) => {
      reached = r;
    });
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    let first = true;
    embedder.embed = async (texts) => {
      if (first) {
        first = false;
        reached();
        await gate;
      }
      return embed(texts);
    };
    try {
      for (const id of ids) {
        const res = await gw.gql(PROCESS, { id }, { token });
        expect(res.body.errors).toBeUndefined();
      }
      await atGate;
      expect(await waitForStatus(gw, ids[0]!, ['processing'])).toBe('processing');
      expect(await gw.redis.llen('processing_queue')).toBe(2);
      await wipeRedis(gw.redis);
      expect(await gw.redis.llen('processing_queue')).toBe(0);
      open();

      for (const id of ids) {
        expect(await waitForStatus(gw, id, ['completed', 'failed'])).toBe('completed');
      }
      await waitForIdleQueue(gw);
      await waitUntil(
        async () => ids.every((id) => (done.counts.get(id) ?? 0) > 0),
        5000,
        'the completed events',
      );
    } finally {
      open();
      embedder.embed = embed;
    }
    const [jobs] = await gw.db.sql<{ open: number }[]>`
      select count(*)::int as open from book_jobs where state <> 'done'`;
    expect(jobs?.open).toBe(0);
    await done.stop();
    for (const id of ids) {
      expect(done.counts.get(id)).toBe(1);
      await expectIndexedOnce(id);
    }
    expect(gw.counter.count('qdrant:upsert') - upsertsBefore).toBe(
      ids.length * Math.ceil(expectedChunks / BATCH),
    );
  }, 60_000);
});

describe('the lost-job sweep', () => {
  it('reads the queue about once every FULL_SWEEP_EVERY heartbeats while nothing was lost', async () => {
    const ids = [(await demoBook('sweep-1.md')).bookId, (await demoBook('sweep-2.md')).bookId];
    // The running job stops at its first embedding, so the other stays open in the queue.
    const embedder = gw.deps.embedder;
    const embed = embedder.embed.bind(embedder);
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    embedder.embed = async (texts) => {
      await gate;
      return embed(texts);
    };
    try {
      for (const id of ids)
        expect((await gw.gql(PROCESS, { id }, { token })).body.errors).toBeUndefined();
      expect(await waitForStatus(gw, ids[0]!, ['processing'])).toBe('processing');
      // Heartbeat rounds ask for the Redis epoch marker once each; sweeps ask PostgreSQL.
      const rounds = () => gw.counter.count('redis:get');
      const sweeps = () => gw.counter.count('supabase:POST rpc/open_book_jobs');
      const [rounds0, sweeps0] = [rounds(), sweeps()];
      await waitUntil(async () => rounds() - rounds0 >= 3 * FULL_SWEEP_EVERY, 30_000, 'heartbeats');
      const [r, n] = [rounds() - rounds0, sweeps() - sweeps0];
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(Math.ceil(r / FULL_SWEEP_EVERY) + 1);
    } finally {
      open();
      embedder.embed = embed;
    }
    for (const id of ids)
      expect(await waitForStatus(gw, id, ['completed', 'failed'])).toBe('completed');
    await waitForIdleQueue(gw);
  }, 60_000);
});

describe('keys of earlier versions', () => {
  const LEGACY_KEYS = [
    'processing_queue:workers',
    'processing_queue:inflight:old-dead',
    'processing_queue:inflight:old-live',
    'processing_queue:heartbeat:old-live',
  ];

  /** A book whose job is held only by a dead worker of an earlier version, in its un-tagged keys. */
  async function heldByEarlierVersion(fileName: string) {
    const { bookId } = await demoBook(fileName);
    const jobId = randomUUID();
    const opened = await new BookJobStore(gw.deps.supabase).request(bookId, jobId);
    expect(opened.created).toBe(true);
    const job = JSON.stringify({
      job_id: jobId,
      type: 'process_book',
      book_id: bookId,
      enqueued_at: opened.requested_at,
    });
    await gw.redis.sadd('processing_queue:workers', 'old-dead', 'old-live');
    await gw.redis.rpush('processing_queue:inflight:old-dead', job);
    await gw.redis.rpush('processing_queue:inflight:old-live', 'a job still running');
    await gw.redis.set('processing_queue:heartbeat:old-live', '1', 'PX', 60_000);
    return { bookId, job };
  }

  /**
   * Starts a third instance with a worker; `started` checks Redis as soon as it runs, `completed`
   * once the book's job has completed (once, indexed once). Removes the earlier version's keys.
   */
  async function startWorkerFor(
    bookId: string,
    checks: { started?: () => Promise<void>; completed: () => Promise<void> },
  ) {
    const done = await completions([bookId]);
    const config = loadConfig({ ...gw.env, WORKER_CONCURRENCY: '1' });
    const third = await startRuntime(config, createLogger(config.logLevel));
    try {
      await checks.started?.();
      expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');
      await waitForIdleQueue(gw);
      await waitUntil(async () => (done.counts.get(bookId) ?? 0) > 0, 5000, 'the completed event');
      expect(done.counts.get(bookId)).toBe(1);
      await expectIndexedOnce(bookId);
      await checks.completed();
    } finally {
      await done.stop();
      await third.close();
      await deleteKeys(gw.redis, LEGACY_KEYS);
    }
  }

  // Only a single Redis can hold such keys: earlier versions could not run on a cluster.
  it.skipIf(onRedisCluster)(
    "a starting worker returns an earlier version's dead worker's jobs to the queue, and leaves a live one's",
    async () => {
      const { bookId } = await heldByEarlierVersion('legacy.md');
      await startWorkerFor(bookId, {
        started: async () => {
          expect(await gw.redis.llen('processing_queue:inflight:old-dead')).toBe(0);
          expect(await gw.redis.smembers('processing_queue:workers')).toEqual(['old-live']);
        },
        completed: async () => {
          expect(await gw.redis.lrange('processing_queue:inflight:old-live', 0, -1)).toEqual([
            'a job still running',
          ]);
        },
      });
    },
    60_000,
  );

  // The cluster's counterpart: the same keys (in four slots) must not trip a starting worker into
  // a cross-slot script, and the job they hold is still run once, by the lost-job sweep.
  it.runIf(onRedisCluster)(
    'on a cluster a starting worker leaves keys without the hash tag alone, and the sweep runs their job once',
    async () => {
      const { bookId, job } = await heldByEarlierVersion('legacy-on-cluster.md');
      await startWorkerFor(bookId, {
        completed: async () => {
          expect(await gw.redis.lrange('processing_queue:inflight:old-dead', 0, -1)).toEqual([job]);
          expect((await gw.redis.smembers('processing_queue:workers')).sort()).toEqual([
            'old-dead',
            'old-live',
          ]);
        },
      });
    },
    60_000,
  );
});

describe("book_jobs is the backend's own", () => {
  it("neither a reader (even the book's owner) nor anon can read it, change it or call its functions", async () => {
    const { bookId } = await demoBook('private-jobs.md');
    await gw.gql(PROCESS, { id: bookId }, { token });
    expect(await waitForStatus(gw, bookId, ['completed', 'failed'])).toBe('completed');
    const anonKey = await signSupabaseJwt(TEST_JWT_SECRET, { role: 'anon' });
    const as = (accessToken?: string) =>
      createClient(gw.env.SUPABASE_URL!, anonKey, {
        realtime: { transport: ws as never },
        auth: { persistSession: false, autoRefreshToken: false },
        ...(accessToken ? { global: { headers: { Authorization: `Bearer ${accessToken}` } } } : {}),
      });
    for (const client of [as(token), as()]) {
      const read = await client.from('book_jobs').select('*');
      expect(read.error?.code).toBe('42501');
      const write = await client
        .from('book_jobs')
        .update({ state: 'queued' })
        .eq('book_id', bookId);
      expect(write.error?.code).toBe('42501');
      const call = await client.rpc('request_book_job', { p_book_id: bookId, p_job_id: 'x' });
      expect(call.error).not.toBeNull();
    }
    for (const role of ['authenticated', 'anon']) {
      for (const statement of [
        'select * from book_jobs',
        `delete from book_jobs where book_id = '${bookId}'`,
        `select finish_book_job('${bookId}', 'x', 'y', 'failed')`,
      ]) {
        const attempt = gw.db.sql.begin(async (tx) => {
          await tx.unsafe(`set local role ${role}`);
          await tx`select set_config('request.jwt.claims', ${JSON.stringify({ sub: owner, role })}, true)`;
          return tx.unsafe(statement);
        });
        await expect(attempt, `${role}: ${statement}`).rejects.toMatchObject({ code: '42501' });
      }
    }
    const [row] = await gw.db.sql<{ state: string }[]>`
      select state from book_jobs where book_id = ${bookId}`;
    expect(row?.state).toBe('done');
  });
});
