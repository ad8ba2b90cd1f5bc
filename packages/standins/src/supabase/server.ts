/**
 * The Supabase stand-in: an HTTP server speaking the parts of Supabase's API that
 * `@supabase/supabase-js` uses against a project, backed by a real PostgreSQL (or PGlite) and a
 * directory. `/rest/v1` is PostgREST (see rest.ts), `/storage/v1` is Storage (see storage.ts).
 * Like Supabase's gateway it requires an `apikey` (a JWT signed with the project secret); the
 * `Authorization: Bearer` JWT, when present, decides the database role, else the apikey's does.
 * For tests and embedded mode only: production talks to real Supabase.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import postgres from 'postgres';
import type { RequestAuth } from './caller.js';
import { CatalogCache } from './catalog.js';
import { RestError, restError } from './errors.js';
import { verifySupabaseJwt } from './jwt.js';
import { ConnectionPool } from './pool.js';
import { RestHandler } from './rest.js';
import { StorageService } from './storage.js';

export { type SupabaseJwtOptions, type SupabaseRole, signSupabaseJwt } from './jwt.js';

export interface SupabaseStandInOptions {
  databaseUrl: string;
  /** postgres.js pool size (default 10; use EMBEDDED_PG_POOL_SIZE against embedded PGlite). */
  maxConnections?: number;
  jwtSecret: string;
  /** The audience a token's `aud`, when it has one, must name (default `authenticated`). */
  jwtAudience?: string;
  storageDir: string;
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** `SET LOCAL statement_timeout` for every request; none when omitted. */
  statementTimeoutMs?: number;
  /** Storage buckets created at start (private), if missing. */
  buckets?: string[];
}

export interface StandInRequestEvent {
  method: string;
  /** The URL path, without the query string. */
  path: string;
  status: number;
  /** The query string, without `?`. */
  query: string;
  /** For `/rest/v1`: the table or `rpc/{function}` addressed. */
  resource?: string;
}

export interface SupabaseStandIn {
  url: string;
  requests: { count: number; byTable: Map<string, number> };
  resetCounters(): void;
  on(event: 'request', fn: (request: StandInRequestEvent) => void): void;
  close(): Promise<void>;
}

const KNOWN_ROLES = new Set(['anon', 'authenticated', 'service_role']);
const MAX_BODY_BYTES = 64 * 1024 * 1024;

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
  resource?: string;
}

class AuthFailure extends Error {
  constructor(readonly reply: Reply) {
    super('authentication failed');
  }
}

function jsonReply(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(value),
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

type Api = 'rest' | 'storage';

/** The error a failed bearer token gets, in the shape of the API that was called. */
function tokenFailure(api: Api, error: RestError): Reply {
  if (api === 'rest') return jsonReply(error.status, error.body, error.headers);
  const message = error.body.message === 'JWT expired' ? 'jwt expired' : 'invalid signature';
  return jsonReply(400, { statusCode: '403', error: 'Unauthorized', message });
}

/** Supabase's gateway and PostgREST's JWT handling: who is calling, as which role. */
async function authenticate(
  secret: string,
  audience: string | undefined,
  request: IncomingMessage,
  search: URLSearchParams,
  api: Api,
): Promise<RequestAuth> {
  const apikey = single(request.headers.apikey) ?? search.get('apikey') ?? undefined;
  if (!apikey) {
    throw new AuthFailure(
      jsonReply(401, {
        message: 'No API key found in request',
        hint: 'No `apikey` request header or url param was found.',
      }),
    );
  }
  let auth: RequestAuth;
  try {
    auth = await verifySupabaseJwt(secret, apikey, audience);
  } catch {
    throw new AuthFailure(
      jsonReply(401, {
        message: 'Invalid API key',
        hint: 'Double check your Supabase `anon` or `service_role` API key.',
      }),
    );
  }
  const authorization = single(request.headers.authorization);
  if (authorization) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization);
    if (!match) {
      throw new AuthFailure(
        tokenFailure(api, restError(401, 'PGRST301', 'Expected 3 parts in JWT; got 1')),
      );
    }
    try {
      auth = await verifySupabaseJwt(secret, match[1] as string, audience);
    } catch (error) {
      if (error instanceof RestError) throw new AuthFailure(tokenFailure(api, error));
      throw error;
    }
  }
  if (!KNOWN_ROLES.has(auth.role)) {
    throw new AuthFailure(
      tokenFailure(api, restError(403, '42501', `permission denied to set role "${auth.role}"`)),
    );
  }
  return auth;
}

/** Serializers (only: parsers stay) for the types postgres.js would otherwise re-encode. */
const PASSTHROUGH_TYPES = Object.fromEntries(
  [16, 17, 114, 3802, 1082, 1114, 1184].map((oid) => [
    `oid${oid}`,
    { to: oid, from: [] as number[], serialize: (value: unknown) => String(value), parse: String },
  ]),
);

/**
 * Parses PostgreSQL's text output of a one-dimensional `text[]` (`{a,"b c","d\\"e",NULL}`).
 */
function parseTextArray(literal: string): (string | null)[] {
  const items: (string | null)[] = [];
  if (literal.length < 2 || literal === '{}') return items;
  let i = 1;
  while (i < literal.length - 1) {
    let item = '';
    if (literal[i] === '"') {
      for (i += 1; i < literal.length && literal[i] !== '"'; i += 1) {
        if (literal[i] === '\\') i += 1;
        item += literal[i] ?? '';
      }
      i += 1;
      items.push(item);
    } else {
      const end = literal.indexOf(',', i);
      item = literal.slice(i, end < 0 ? literal.length - 1 : end);
      i += item.length;
      items.push(item === 'NULL' ? null : item);
    }
    i += 1; // the comma (or the closing brace)
  }
  return items;
}

const TEXT_ARRAY = { to: 1009, from: [1009], serialize: String, parse: parseTextArray };

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers':
    'authorization, apikey, content-type, prefer, range, accept-profile, content-profile, x-client-info, x-upsert, cache-control, x-metadata',
  'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
  'Access-Control-Expose-Headers': 'Content-Range, Content-Location, Location, Preference-Applied',
};

export async function startSupabaseStandIn(
  options: SupabaseStandInOptions,
): Promise<SupabaseStandIn> {
  const pool = new ConnectionPool(() =>
    postgres(options.databaseUrl, {
      max: options.maxConnections ?? 10,
      // Unnamed statements: nothing accumulates in a shared PGlite session.
      prepare: false,
      // Every bind value is already PostgreSQL text; postgres.js must not re-encode it for the type
      // PostgreSQL inferred (it would JSON.stringify json, turn 'true' into 'f', cut microseconds).
      types: { ...PASSTHROUGH_TYPES, textArray: TEXT_ARRAY },
      // No array type lookup on each new connection: postgres.js runs it as a query nobody awaits,
      // so a connection cut during it was an unhandled rejection that ended the process. The one
      // array type the stand-in reads (text[], in the schema cache) is parsed by TEXT_ARRAY.
      fetch_types: false,
      onnotice: () => {},
      connection: { application_name: 'falsafa-supabase-standin' },
    }),
  );
  const catalog = new CatalogCache(pool);
  const rest = new RestHandler(pool, catalog, options.statementTimeoutMs);
  const storage = new StorageService(options.storageDir, pool, options.statementTimeoutMs);
  const requests = { count: 0, byTable: new Map<string, number>() };
  const listeners: ((event: StandInRequestEvent) => void)[] = [];

  try {
    await catalog.get();
    await storage.ensureBuckets(options.buckets ?? []);
  } catch (error) {
    await pool.end();
    throw error;
  }

  async function serve(request: IncomingMessage, url: URL): Promise<Reply> {
    const method = request.method ?? 'GET';
    if (method === 'OPTIONS' && request.headers['access-control-request-method']) {
      return { status: 200, headers: {}, body: '' };
    }
    // The path as sent: URL parsing would resolve `..` segments before storage could refuse them.
    const rawPath = (request.url ?? '/').split('?')[0] ?? '/';
    const restPath = /^\/rest\/v1\/(.*)$/.exec(rawPath);
    const storagePath = /^\/storage\/v1\/(.*)$/.exec(rawPath);
    if (!restPath && !storagePath) {
      return jsonReply(404, { message: 'no Route matched with those values' });
    }
    const api: Api = restPath ? 'rest' : 'storage';
    const auth = await authenticate(
      options.jwtSecret,
      options.jwtAudience,
      request,
      url.searchParams,
      api,
    );
    const body = await readBody(request);
    if (restPath) {
      return rest.handle(
        {
          method,
          resource: restPath[1] as string,
          search: url.searchParams,
          headers: request.headers,
          body,
          path: url.pathname,
        },
        auth,
      );
    }
    return storage.handle(
      { method, resource: storagePath?.[1] as string, headers: request.headers, body },
      auth,
    );
  }

  async function respond(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://stand-in.local');
    let reply: Reply;
    try {
      reply = await serve(request, url);
    } catch (error) {
      reply =
        error instanceof AuthFailure
          ? error.reply
          : jsonReply(500, {
              code: 'PGRSTX00',
              details: null,
              hint: null,
              message: error instanceof Error ? error.message : String(error),
            });
    }
    requests.count += 1;
    if (reply.resource !== undefined) {
      requests.byTable.set(reply.resource, (requests.byTable.get(reply.resource) ?? 0) + 1);
    }
    response.writeHead(reply.status, { ...CORS_HEADERS, ...reply.headers });
    response.end(request.method === 'HEAD' ? undefined : reply.body);
    const event: StandInRequestEvent = {
      method: request.method ?? 'GET',
      path: url.pathname,
      status: reply.status,
      query: url.search.replace(/^\?/, ''),
      ...(reply.resource === undefined ? {} : { resource: reply.resource }),
    };
    for (const listener of listeners) listener(event);
  }

  const server = createServer((request, response) => {
    respond(request, response).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500);
      response.end(String(error));
    });
  });
  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  try {
    await once(server, 'listening');
  } catch (error) {
    await pool.end();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    requests,
    resetCounters() {
      requests.count = 0;
      requests.byTable.clear();
    },
    on(_event, fn) {
      listeners.push(fn);
    },
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await pool.end({ timeout: 5 });
      })();
      return closing;
    },
  };
}
