import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import calculateSlot from 'cluster-key-slot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockKey } from '../src/chat/session-lock.js';
import { loadDemoBook } from '../src/ingest/demo-book.js';
import { ingestDemoBook, uploadBook, waitForStatus, waitUntil } from './support/books.js';
import { createChatSession } from './support/chat.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import {
  type OpenAiTestServer,
  openAiEmbedderEnv,
  startOpenAiServer,
} from './support/openai-server.js';
import { cli, startRedisCluster, type TestRedisCluster } from './support/redis-cluster.js';
import { WorkerProcesses } from './support/workers.js';

/**
 * The gateway on a Redis Cluster of three masters and three replicas when the master of
 * `processing_queue`'s slot is SIGKILLed mid-load: while its replica is promoted the gateway
 * answers with coded, retryable errors only (no hang, nothing uncoded), then it answers again on
 * its own; every acknowledged chat turn is saved exactly once and the book being ingested
 * completes. Needs a real PostgreSQL (worker processes share it).
 */
const realPostgres = Boolean(process.env.TEST_DATABASE_URL);

const SEND = `mutation ($input: SendMessageInput!) { sendMessage(input: $input) {
  replayed userMessage { id } reply { id } } }`;
const PROCESS = 'mutation ($id: ID!) { processBook(bookId: $id) { id } }';
/** Codes a client retries on: the store is failing over, or another send of the turn holds it. */
const RETRYABLE = new Set(['SERVICE_UNAVAILABLE', 'SESSION_BUSY', 'LOCK_LOST']);
/** Longer than any store call may take (every call is bounded by STORE_TIMEOUT_MS). */
const HANG_MS = 15_000;

let cluster: TestRedisCluster;
let gw: TestGateway;
let ai: OpenAiTestServer;
const workers = new WorkerProcesses();
const owner = randomUUID();

beforeAll(async () => {
  cluster = await startRedisCluster({ replicas: 1, nodeTimeoutMs: 1000 });
  ai = await startOpenAiServer({ dimension: 8 });
  gw = await startTestGateway({
    redisCluster: cluster,
    env: {
      CHUNK_TARGET_CHARS: '600',
      CHUNK_OVERLAP_CHARS: '100',
      ...openAiEmbedderEnv(ai),
      // Far longer than the bound on recovery below: a lock left behind by the failover must be
      // given back, not wait out its TTL.
      SESSION_LOCK_TTL_MS: '120000',
    },
  });
  workers.start({ ...gw.env, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'info' });
}, 90_000);
afterAll(async () => {
  await workers.killAll();
  await gw?.close();
  await ai?.close();
  await cluster?.stop();
});

/** The port of the master serving `slot`, read from the cluster's own view. */
async function masterOf(slot: number, askPort: number): Promise<number | undefined> {
  for (const line of (await cli(askPort, 'cluster', 'nodes')).split('\n')) {
    const fields = line.split(' ');
    if (!fields[2]?.includes('master') || fields[2].includes('fail')) continue;
    for (const range of fields.slice(8)) {
      const [from, to] = range.split('-').map(Number);
      if (slot >= from! && slot <= (to ?? from)!) {
        return Number(fields[1]!.split('@')[0]!.split(':')[1]);
      }
    }
  }
  return undefined;
}

type Outcome = { ok: true; userMessageId: string } | { ok: false; code: string | undefined };

describe.runIf(realPostgres)('a Redis Cluster master killed mid-load', () => {
  it('costs coded errors only while its replica is promoted; nothing lost or doubled', async () => {
    const bookId = await ingestDemoBook(gw, owner);
    const token = await gw.token(owner);
    const [character] = await gw.db.sql<{ id: string }[]>`
      select id from characters where book_id = ${bookId} order by name limit 1`;
    const slot = calculateSlot('processing_queue');
    const victim = (await masterOf(slot, cluster.ports[0]!))!;
    // Sessions whose lock key the victim holds (so turns are mid-way on it when it dies), and one
    // elsewhere.
    const sessions: string[] = [];
    let elsewhere = 0;
    while (sessions.length < 3) {
      const id = await createChatSession(gw, token, character!.id);
      const onVictim = (await masterOf(calculateSlot(lockKey(id)), victim)) === victim;
      if (onVictim || elsewhere++ === 0) sessions.push(id);
    }

    /** One send, bounded: a hang counts as an uncoded failure. */
    const send = async (sessionId: string, clientMessageId: string): Promise<Outcome> => {
      const res = await Promise.race([
        gw.gql(
          SEND,
          { input: { sessionId, content: 'Who keeps the lamp?', clientMessageId } },
          {
            token,
          },
        ),
        sleep(HANG_MS).then(() => 'hang' as const),
      ]);
      if (res === 'hang') return { ok: false, code: 'HANG' };
      if (res.body.errors)
        return { ok: false, code: res.body.errors[0]?.extensions?.code as string };
      const turn = res.body.data?.sendMessage as { userMessage: { id: string } };
      return { ok: true, userMessageId: turn.userMessage.id };
    };

    const failures: (string | undefined)[] = [];
    const acknowledged = new Map<string, string[]>(sessions.map((s) => [s, []]));
    let stopping = false;
    const afterRecovery = new Map<string, number>(sessions.map((s) => [s, 0]));
    let recovered = false;
    // Each session sends turn after turn; a failed send is retried with the same clientMessageId
    // until it is acknowledged, as a client would.
    const load = sessions.map(async (sessionId) => {
      while (!stopping) {
        const clientMessageId = randomUUID();
        for (;;) {
          const outcome = await send(sessionId, clientMessageId);
          if (outcome.ok) {
            acknowledged.get(sessionId)!.push(clientMessageId);
            if (recovered) afterRecovery.set(sessionId, afterRecovery.get(sessionId)! + 1);
            break;
          }
          failures.push(outcome.code);
          if (!RETRYABLE.has(outcome.code ?? '')) return;
          await sleep(200);
        }
      }
    });

    // A book whose ingestion is asked for as the load runs.
    const { bookId: ingesting } = await uploadBook(gw, {
      bytes: await loadDemoBook(),
      fileName: 'failover.md',
      contentType: 'text/markdown',
      owner,
    });
    const processed = await gw.gql(PROCESS, { id: ingesting }, { token });
    expect(processed.body.errors).toBeUndefined();
    await waitUntil(async () => acknowledged.get(sessions[0]!)!.length >= 2, 30_000, 'turns');

    // A second book, uploaded now and asked for in the gap.
    const { bookId: askedInGap } = await uploadBook(gw, {
      bytes: await loadDemoBook(),
      fileName: 'gap.md',
      contentType: 'text/markdown',
      owner,
    });
    await cluster.kill(victim);
    // Asked for in the gap (its job goes to the dead master's slot), retried as a client would.
    const requested = (async () => {
      for (;;) {
        const res = await gw.gql(PROCESS, { id: askedInGap }, { token });
        if (!res.body.errors) return;
        const code = res.body.errors[0]?.extensions?.code as string | undefined;
        failures.push(code);
        if (!RETRYABLE.has(code ?? '')) return;
        await sleep(200);
      }
    })();
    const survivor = cluster.ports.find((p) => p !== victim)!;
    await waitUntil(
      async () => {
        const promoted = await masterOf(slot, survivor);
        if (promoted === undefined || promoted === victim) return false;
        return (await cli(survivor, 'cluster', 'info')).includes('cluster_state:ok');
      },
      30_000,
      'the replica of the killed master promoted',
    );
    // Without a restart the gateway serves every session again: two fresh turns of each.
    recovered = true;
    await waitUntil(
      async () => [...afterRecovery.values()].every((n) => n >= 2),
      30_000,
      'two turns of every session after the promotion',
    );
    stopping = true;
    await Promise.all([...load, requested]);

    expect(failures.filter((code) => !RETRYABLE.has(code ?? ''))).toEqual([]);
    expect(await waitForStatus(gw, ingesting, ['completed', 'failed'], 60_000)).toBe('completed');
    expect(await waitForStatus(gw, askedInGap, ['completed', 'failed'], 60_000)).toBe('completed');
    for (const [sessionId, ids] of acknowledged) {
      const rows = await gw.db.sql<{ client_message_id: string }[]>`
        select client_message_id from messages
        where session_id = ${sessionId} and role = 'user' order by created_at`;
      expect(rows.map((r) => r.client_message_id)).toEqual(ids);
    }
  }, 180_000);
});
