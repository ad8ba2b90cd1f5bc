/**
 * Embedded PostgreSQL: PGlite (WASM Postgres, one backend session) served over the Postgres wire
 * protocol on 127.0.0.1 with `@electric-sql/pglite-socket`'s per-connection protocol handler, and
 * bootstrapped with the Supabase shims and the given migrations. postgres.js connects to `url` as to a real server.
 *
 * Connections. pglite-socket 0.2.17's own `PGLiteSocketServer` accepts `maxConnections` sockets
 * (default 1; the next one gets "Too many connections" and is closed) and funnels every protocol
 * message of every socket through one FIFO queue into the single PGlite session. It keeps a socket
 * exclusive only while PGlite is inside an explicit transaction block, so an extended-protocol
 * exchange split by a Flush (postgres.js's describe round trip for each new prepared statement)
 * lets other sockets' messages run inside it, and after an error there they would be skipped until
 * the Sync. So this module keeps pglite-socket's handler but gives it a protocol-aware queue: a
 * socket owns the session from its first message until PGlite answers ReadyForQuery outside a
 * transaction block, then the next waiting socket goes. Up to EMBEDDED_PG_MAX_CONNECTIONS sockets
 * are served (all clients together); queries still run one at a time, so a client pool of
 * EMBEDDED_PG_POOL_SIZE is plenty. The session is shared: session-level SET, temp tables and
 * prepared statements are visible to every socket (use SET LOCAL / set_config(..., true)).
 * A socket holding a transaction blocks all others until it ends it: never wait inside a
 * transaction for work on another connection.
 */
import { createServer, type Socket } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from '@electric-sql/pglite-socket';
import postgres from 'postgres';
import { bootstrapDatabase } from './database.js';

/** Sockets the embedded server accepts at once, summed over every client pool. */
export const EMBEDDED_PG_MAX_CONNECTIONS = 32;
/** The pool size (postgres.js `max`) each client of the embedded server should use. */
export const EMBEDDED_PG_POOL_SIZE = 4;

export interface EmbeddedPostgres {
  /** `postgres://postgres@127.0.0.1:{port}/postgres` */
  url: string;
  close(): Promise<void>;
}

interface QueuedMessage {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (error: Error) => void;
}

const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]);

/** Messages after which the backend sends ReadyForQuery (startup packets start with a 0 byte). */
function endsExchange(message: Uint8Array): boolean {
  const type = message[0];
  return type === 0 || type === 0x53 /* Sync */ || type === 0x51 /* Query */;
}

/**
 * Serializes the sockets' messages into the one PGlite session: the socket that sent the current
 * exchange owns the session until it is back to idle (ReadyForQuery outside a transaction block).
 * Implements the queue contract PGLiteSocketHandler calls (enqueue, clearQueueForHandler,
 * clearTransactionIfNeeded).
 */
class ExclusiveSessionQueue {
  private waiting: QueuedMessage[] = [];
  private owner: number | null = null;
  private running = false;

  constructor(private readonly db: PGlite) {}

  enqueue(
    handlerId: number,
    message: Uint8Array,
    onData: (data: Uint8Array) => void,
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ handlerId, message, onData, resolve, reject });
      void this.pump();
    });
  }

  getQueueLength(): number {
    return this.waiting.length;
  }

  clearQueueForHandler(handlerId: number): void {
    this.waiting = this.waiting.filter((item) => {
      if (item.handlerId !== handlerId) return true;
      item.reject(new Error('Handler disconnected'));
      return false;
    });
  }

  /** A socket went away: end whatever it left open in the session and let the others go. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId) return;
    await this.db.runExclusive(async () => {
      await this.db.execProtocolRaw(SYNC);
      if (this.db.isInTransaction()) await this.db.exec('rollback');
    });
    this.owner = null;
    void this.pump();
  }

  private next(): QueuedMessage | undefined {
    const index =
      this.owner === null ? 0 : this.waiting.findIndex((item) => item.handlerId === this.owner);
    if (index < 0 || index >= this.waiting.length) return undefined;
    return this.waiting.splice(index, 1)[0];
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let item = this.next(); item; item = this.next()) {
        this.owner = item.handlerId;
        let bytes = 0;
        const current = item;
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(current.message, {
              onRawData: (data) => {
                bytes += data.length;
                current.onData(data);
              },
            }),
          );
        } catch (error) {
          current.reject(error instanceof Error ? error : new Error(String(error)));
          continue;
        } finally {
          if (endsExchange(current.message) && !this.db.isInTransaction()) this.owner = null;
        }
        current.resolve(bytes);
      }
    } finally {
      this.running = false;
    }
  }
}

type HandlerQueue = PGLiteSocketHandlerOptions['queryQueue'];

/** A TCP server speaking the Postgres protocol for one PGlite instance. */
async function serveOverWire(
  db: PGlite,
  host: string,
  port: number,
): Promise<{ port: number; stop(): Promise<void> }> {
  const queue = new ExclusiveSessionQueue(db);
  const handlers = new Set<PGLiteSocketHandler>();
  const server = createServer((socket: Socket) => {
    const handler = new PGLiteSocketHandler({
      // The handler only calls the queue methods ExclusiveSessionQueue implements.
      queryQueue: queue as unknown as HandlerQueue,
      closeOnDetach: true,
    });
    handlers.add(handler);
    const forget = () => handlers.delete(handler);
    handler.addEventListener('close', forget);
    handler.addEventListener('error', forget);
    handler.attach(socket).catch(() => {
      forget();
      socket.destroy();
    });
  });
  server.maxConnections = EMBEDDED_PG_MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const stop = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all([...handlers].map((handler) => handler.detach(true)));
    handlers.clear();
    await closed;
  };
  return { port: address.port, stop };
}

/**
 * Starts PGlite (persisted in `dataDir` when given, in memory otherwise), serves it on `host`
 * (127.0.0.1) at `port` (a free one), and bootstraps it (Supabase shims, then the migrations in
 * `migrationsDir` when given). Takes seconds.
 */
export async function startEmbeddedPostgres(
  options: { dataDir?: string; migrationsDir?: string; host?: string; port?: number } = {},
): Promise<EmbeddedPostgres> {
  const db = await PGlite.create({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    extensions: { pgcrypto },
  });
  const host = options.host ?? '127.0.0.1';
  const { port, stop } = await serveOverWire(db, host, options.port ?? 0);
  const url = `postgres://postgres@${urlHost(host)}:${port}/postgres`;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= stop().then(() => db.close());
    return closing;
  };
  try {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await bootstrapDatabase(sql, options.migrationsDir);
    } finally {
      await sql.end();
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { url, close };
}

/** The host part of a URL that reaches a server listening on `host` (a wildcard: this machine). */
export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
