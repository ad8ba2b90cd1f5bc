/**
 * node:http glue: API-key check (the `api-key` header or `Authorization: Bearer`, 401 with
 * Qdrant's plain-text reasons; `/`, `/healthz`, `/livez`, `/readyz` stay open), JSON body
 * reading (32 MiB limit, parse failures as Qdrant format errors), routing, and the
 * `{result, status, time}` / `{status: {error}, time}` envelopes. Unknown routes get actix's
 * empty 404. Of the query string the routes read `wait` and check `timeout`; the rest is ignored.
 */

import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatError, QdrantError } from './errors.js';
import type { Registry } from './registry.js';
import { matchRoute, RawReply } from './routes.js';

const MAX_BODY = 32 * 1024 * 1024;
const OPEN_PATHS = new Set(['/', '/healthz', '/livez', '/readyz']);

export interface HttpOptions {
  registry: Registry;
  apiKey: string | undefined;
  latencyMs: number;
  onRequest(): void;
}

function sameKey(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Qdrant's auth middleware: undefined when allowed, else the 401 reason. */
function authFailure(req: IncomingMessage, apiKey: string): string | undefined {
  const header = req.headers['api-key'];
  const bearer = req.headers.authorization?.startsWith('Bearer ')
    ? req.headers.authorization.slice('Bearer '.length)
    : undefined;
  const key = (Array.isArray(header) ? header[0] : header) ?? bearer;
  if (key === undefined) return 'Must provide an API key or an Authorization bearer token';
  return sameKey(key, apiKey) ? undefined : 'Invalid API key or JWT';
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY) {
        reject(
          new QdrantError(
            413,
            `JSON payload (${size} bytes) is larger than allowed (limit: ${MAX_BODY} bytes).`,
          ),
        );
      } else resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('request aborted by the client'));
    });
  });
}

function parseJson(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw formatError((e as Error).message);
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Decoded path segments, or undefined when the percent-encoding is malformed (no route). */
function pathSegments(pathname: string): string[] | undefined {
  try {
    return pathname
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

export function createHandler(opts: HttpOptions) {
  const server = { id: randomUUID(), startup: new Date().toISOString() };
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const start = process.hrtime.bigint();
    opts.onRequest();
    res.on('error', () => {});
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const body = await readBody(req);
      if (opts.latencyMs > 0) await new Promise((r) => setTimeout(r, opts.latencyMs));
      if (opts.apiKey !== undefined && !OPEN_PATHS.has(url.pathname)) {
        const failure = authFailure(req, opts.apiKey);
        if (failure) return send(res, 401, 'text/plain; charset=utf-8', failure);
      }
      const segments = pathSegments(url.pathname);
      const match = segments && matchRoute(req.method ?? 'GET', segments);
      if (!match) return send(res, 404, 'text/plain; charset=utf-8', '');
      const result = await match.route.handler({
        params: match.params,
        query: url.searchParams,
        body: req.method === 'GET' || req.method === 'DELETE' ? undefined : parseJson(body),
        registry: opts.registry,
        server,
      });
      if (result instanceof RawReply)
        return send(res, result.status, result.contentType, result.body);
      send(
        res,
        200,
        'application/json',
        JSON.stringify({ result, status: 'ok', time: seconds(start) }),
      );
    } catch (err) {
      const status = err instanceof QdrantError ? err.status : 500;
      const message =
        err instanceof QdrantError
          ? err.message
          : `Service internal error: ${(err as Error).message}`;
      send(
        res,
        status,
        'application/json',
        JSON.stringify({ status: { error: message }, time: seconds(start) }),
      );
    }
  };
}
