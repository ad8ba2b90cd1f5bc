/**
 * HTTP layer of the Typesense stand-in (node:http): routes Typesense's REST paths to the engine,
 * checks the API key (`X-TYPESENSE-API-KEY` header or `x-typesense-api-key` query parameter;
 * `/health` is open), and renders results: JSON with `application/json`, import and export as
 * JSONL with `text/plain` (the official client only JSON-parses `application/json` bodies), errors
 * as `{"message": ...}`. Unknown query parameters are ignored, as Typesense does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from './engine.js';
import { ApiError, notFound } from './errors.js';
import type { Params } from './params.js';

export interface RequestCounters {
  count: number;
}

interface Request {
  params: Params;
  body: string;
  segments: string[];
  headers: IncomingMessage['headers'];
}

type Reply = { status: number; json: unknown } | { status: number; text: string };
type Handler = (engine: Engine, req: Request) => Reply;

const ok = (json: unknown, status = 200): Reply => ({ status, json });
const text = (body: string): Reply => ({ status: 200, text: body });

interface Route {
  method: string;
  /** Path segments; `:name` captures one (decoded) segment. */
  pattern: string[];
  open?: boolean;
  handler: Handler;
}

function seg(req: Request, index: number): string {
  return req.segments[index] ?? '';
}

const ROUTES: Route[] = [
  { method: 'GET', pattern: ['health'], open: true, handler: () => ok({ ok: true }) },
  {
    method: 'GET',
    pattern: ['debug'],
    handler: () => ok({ state: 1, version: 'falsafa-typesense-standin' }),
  },
  { method: 'GET', pattern: ['collections'], handler: (e, r) => ok(e.listCollections(r.params)) },
  {
    method: 'POST',
    pattern: ['collections'],
    handler: (e, r) => ok(e.createCollection(parse(r.body)), 201),
  },
  {
    method: 'GET',
    pattern: ['collections', ':c'],
    handler: (e, r) => ok(e.getCollection(seg(r, 1))),
  },
  {
    method: 'PATCH',
    pattern: ['collections', ':c'],
    handler: (e, r) => ok(e.alterCollection(seg(r, 1), r.body)),
  },
  {
    method: 'DELETE',
    pattern: ['collections', ':c'],
    handler: (e, r) => ok(e.dropCollection(seg(r, 1))),
  },
  {
    method: 'GET',
    pattern: ['collections', ':c', 'documents', 'search'],
    handler: (e, r) => ok(e.search(seg(r, 1), r.params)),
  },
  {
    method: 'GET',
    pattern: ['collections', ':c', 'documents', 'export'],
    handler: (e, r) => text(e.exportDocuments(seg(r, 1), r.params)),
  },
  {
    method: 'POST',
    pattern: ['collections', ':c', 'documents', 'import'],
    handler: (e, r) => text(e.importDocuments(seg(r, 1), r.body, r.params)),
  },
  {
    method: 'POST',
    pattern: ['collections', ':c', 'documents'],
    handler: (e, r) => ok(e.writeDocument(seg(r, 1), r.body, r.params), 201),
  },
  {
    method: 'PATCH',
    pattern: ['collections', ':c', 'documents'],
    handler: (e, r) => ok(e.updateByFilter(seg(r, 1), r.body, r.params)),
  },
  {
    method: 'DELETE',
    pattern: ['collections', ':c', 'documents'],
    handler: (e, r) => ok(e.deleteByFilter(seg(r, 1), r.params)),
  },
  {
    method: 'GET',
    pattern: ['collections', ':c', 'documents', ':id'],
    handler: (e, r) => ok(e.getDocument(seg(r, 1), seg(r, 3), r.params)),
  },
  {
    method: 'PATCH',
    pattern: ['collections', ':c', 'documents', ':id'],
    handler: (e, r) => ok(e.updateDocument(seg(r, 1), seg(r, 3), r.body, r.params)),
  },
  {
    method: 'DELETE',
    pattern: ['collections', ':c', 'documents', ':id'],
    handler: (e, r) => ok(e.deleteDocument(seg(r, 1), seg(r, 3), r.params)),
  },
  {
    method: 'POST',
    pattern: ['multi_search'],
    handler: (e, r) => ok(e.multiSearch(r.body, r.params)),
  },
];

function parse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new ApiError(400, 'Bad JSON.');
  }
}

function matchRoute(method: string, segments: string[]): Route | undefined {
  return ROUTES.find(
    (route) =>
      route.method === method &&
      route.pattern.length === segments.length &&
      route.pattern.every((p, i) => p.startsWith(':') || p === segments[i]),
  );
}

function decodeSegments(pathname: string): string[] | null {
  try {
    return pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch {
    return null;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Marks a bigint in the intermediate JSON text; random, so no stored string can forge it. */
const BIGINT_MARK = `bigint-${Math.random().toString(36).slice(2)}-`;
const BIGINT_SLOT = new RegExp(`"${BIGINT_MARK}(\\d+)"`, 'g');

/** JSON.stringify, with bigints (Typesense's 64-bit `text_match`) written as exact integers. */
export function toJson(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'bigint' ? `${BIGINT_MARK}${v}` : v,
  );
  return text.includes(BIGINT_MARK) ? text.replace(BIGINT_SLOT, '$1') : text;
}

function send(res: ServerResponse, reply: Reply): void {
  if ('text' in reply) {
    res.writeHead(reply.status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(reply.text);
    return;
  }
  res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(toJson(reply.json));
}

function authorised(req: Request, apiKey: string): boolean {
  const header = req.headers['x-typesense-api-key'];
  const given = (Array.isArray(header) ? header[0] : header) ?? req.params['x-typesense-api-key'];
  return given === apiKey;
}

/** Multi-search entries may carry their own key; each one must be valid too. */
function multiSearchKeysValid(body: string, apiKey: string): boolean {
  try {
    const parsed = JSON.parse(body) as { searches?: unknown };
    if (!Array.isArray(parsed.searches)) return true;
    return parsed.searches.every((s: unknown) => {
      const key = (s as Record<string, unknown> | null)?.['x-typesense-api-key'];
      return key === undefined || key === apiKey;
    });
  } catch {
    return true;
  }
}

export function createRequestListener(
  engine: Engine,
  apiKey: string,
  counters: RequestCounters,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    counters.count++;
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://standin');
      const params: Params = {};
      for (const [key, value] of url.searchParams) if (!(key in params)) params[key] = value;
      const body = await readBody(req);
      const segments = decodeSegments(url.pathname);
      const route = segments ? matchRoute(req.method ?? 'GET', segments) : undefined;
      if (!route || !segments) throw notFound();
      const request: Request = { params, body, segments, headers: req.headers };
      if (!route.open) {
        const keysValid = route.pattern[0] !== 'multi_search' || multiSearchKeysValid(body, apiKey);
        if (!authorised(request, apiKey) || !keysValid) {
          throw new ApiError(401, 'Forbidden - a valid `x-typesense-api-key` header must be sent.');
        }
      }
      send(res, route.handler(engine, request));
    })().catch((error: unknown) => {
      if (error instanceof ApiError) {
        send(res, { status: error.status, json: { message: error.message } });
      } else {
        const message = error instanceof Error ? error.message : String(error);
        send(res, { status: 500, json: { message } });
      }
    });
  };
}
