import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { type GatewayProcess, spawnGateway } from './support/gateway-process.js';

/**
 * `npm start` as an operator runs it: SIGTERM sent to npm reaches the gateway itself (no wrapper
 * left running), which drains, closes its WebSockets with 1001 (going away) and exits 0.
 */

let gw: TestGateway;
let child: GatewayProcess | undefined;
let processes: number[] = [];

beforeAll(async () => {
  gw = await startTestGateway();
}, 60_000);
afterAll(async () => {
  if (child && child.proc.exitCode === null) child.proc.kill('SIGKILL');
  for (const pid of processes.filter(alive)) process.kill(pid, 'SIGKILL');
  await gw?.close();
});

/** Every process below `pid` (npm's shell, node), from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const all: number[] = [];
  for (let queue = [pid]; queue.length; ) {
    const next = queue.flatMap((p) => children.get(p) ?? []);
    all.push(...next);
    queue = next;
  }
  return all;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start', () => {
  it('lets SIGTERM reach the gateway, which closes its sockets with 1001 and exits 0', async () => {
    const keys = [
      'SUPABASE_URL',
      'SUPABASE_SERVICE_ROLE_KEY',
      'SUPABASE_JWT_SECRET',
      'QDRANT_URL',
      'QDRANT_API_KEY',
      'TYPESENSE_URL',
      'TYPESENSE_API_KEY',
      'EMBEDDING_PROVIDER',
      'REDIS_URL',
    ];
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: '0',
      FALSAFA_DATA_DIR: gw.tmpDir,
      SYSTEM_PROMPT_STORAGE_PATH: `${gw.tmpDir}/prompts`,
      WORKER_CONCURRENCY: '0',
      SEED_DEMO: 'false',
      SHUTDOWN_TIMEOUT_MS: '2000',
    };
    for (const key of keys) if (gw.env[key]) env[key] = gw.env[key];
    child = spawnGateway(env, ['npm', ['start', '--silent']]);
    const url = await child.listening();
    processes = descendants(child.proc.pid!);
    expect(processes.length).toBeGreaterThan(0);

    const token = await gw.token(randomUUID());
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      const client = createClient({
        url: url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${token}` },
        on: { closed: (e) => resolve(e as { code: number; reason: string }) },
      });
      // A subscription that never ends by itself keeps the socket open until shutdown.
      client.subscribe(
        { query: `subscription { bookProcessing(bookId: "${randomUUID()}") { status } }` },
        { next: () => {}, error: () => {}, complete: () => {} },
      );
    });
    // The socket is open once the gateway counts a connection: wait for the ack through a query.
    const probe = createClient({
      url: url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${token}` },
    });
    const viewer = await new Promise((resolve, reject) =>
      probe.subscribe(
        { query: '{ viewer { id } }' },
        { next: resolve, error: reject, complete: () => {} },
      ),
    );
    expect(viewer).toMatchObject({ data: { viewer: { id: expect.any(String) } } });

    child.proc.kill('SIGTERM');
    const [exit, close] = await Promise.all([child.exited, closed]);
    expect(exit.code).toBe(0);
    expect(close.code).toBe(1001);
    expect(child.lines().some((l) => l.msg === 'shutdown complete')).toBe(true);
    expect(processes.filter(alive)).toEqual([]);
    await probe.dispose();
  });
});
