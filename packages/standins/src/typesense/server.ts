/**
 * Entry point of the embedded Typesense stand-in: a node:http server speaking Typesense's REST API
 * (collections, documents, import/export, search, multi_search) so that the official `typesense`
 * client can be used against it over real HTTP, in tests and in embedded mode. With `dataDir` the
 * collections persist there and survive a restart; `close()` flushes pending writes.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Engine } from './engine.js';
import { createRequestListener, type RequestCounters } from './http.js';

export interface TypesenseStandInOptions {
  apiKey: string;
  /** Persist collections under this directory (created if missing). */
  dataDir?: string;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Port to listen on; 0 (the default) picks a free port. */
  port?: number;
}

export interface TypesenseStandIn {
  url: string;
  host: string;
  port: number;
  /** Number of HTTP requests served since start (or the last resetCounters()). */
  requests: RequestCounters;
  resetCounters(): void;
  close(): Promise<void>;
}

export async function startTypesenseStandIn(
  options: TypesenseStandInOptions,
): Promise<TypesenseStandIn> {
  if (!options.apiKey) throw new Error('startTypesenseStandIn: apiKey is required');
  const engine = await Engine.open(options.dataDir);
  const requests: RequestCounters = { count: 0 };
  const server = createServer(createRequestListener(engine, options.apiKey, requests));
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    requests,
    resetCounters() {
      requests.count = 0;
    },
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          server.closeAllConnections();
        });
        await engine.flush();
      })();
      return closing;
    },
  };
}
