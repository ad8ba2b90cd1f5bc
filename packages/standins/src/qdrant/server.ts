/**
 * Embedded, wire-compatible Qdrant stand-in (REST API of Qdrant 1.18) over node:http, for tests
 * and embedded mode: the official `@qdrant/js-client-rest` talks to it exactly as to a real
 * server. Exact (brute-force) search; state persists under `dataDir` when given.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHandler } from './http.js';
import { Registry } from './registry.js';

export interface QdrantStandInOptions {
  /** Persist collections here (one directory per collection); in memory only when absent. */
  dataDir?: string;
  /** Require this key in the `api-key` header or as `Authorization: Bearer`. */
  apiKey?: string;
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Artificial delay before each response, to exercise client timeouts. */
  latencyMs?: number;
}

export interface QdrantStandIn {
  url: string;
  /** Number of HTTP requests received since start or the last `resetCounters()`. */
  requests: { count: number };
  resetCounters(): void;
  /** Stops listening, drops open connections and waits for pending disk writes. */
  close(): Promise<void>;
}

export async function startQdrantStandIn(
  options: QdrantStandInOptions = {},
): Promise<QdrantStandIn> {
  const registry = new Registry(options.dataDir);
  await registry.load();
  const requests = { count: 0 };
  const server = createServer(
    createHandler({
      registry,
      apiKey: options.apiKey,
      latencyMs: options.latencyMs ?? 0,
      onRequest: () => {
        requests.count++;
      },
    }),
  );
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    requests,
    resetCounters() {
      requests.count = 0;
    },
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await registry.flush();
      })();
      return closing;
    },
  };
}
