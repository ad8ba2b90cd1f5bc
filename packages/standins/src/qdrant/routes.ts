/**
 * The REST surface: each route names its method, path pattern and handler; handlers return the
 * `result` to wrap in Qdrant's `{result, status: "ok", time}` envelope, or a `RawReply` for the
 * endpoints that answer without an envelope (`/`, `/healthz`, `/livez`, `/readyz`).
 * Update endpoints honour `?wait=`: `completed` once applied and persisted, else `acknowledged`.
 */
import type { Collection } from './collection.js';
import { applyCollectionUpdate } from './config.js';
import { bodyObject } from './parse.js';
import { queryBatch, queryPoints, searchBatch, searchPoints } from './query.js';
import type { Registry } from './registry.js';

export const QDRANT_VERSION = '1.18.0';

export class RawReply {
  constructor(
    readonly status: number,
    readonly contentType: string,
    readonly body: string,
  ) {}
}

export interface RouteContext {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  registry: Registry;
}

export interface Route {
  method: string;
  pattern: string[];
  handler: (ctx: RouteContext) => unknown;
}

const col = (ctx: RouteContext): Collection => ctx.registry.get(ctx.params.name ?? '');
const lookup = (ctx: RouteContext) => (name: string) => ctx.registry.find(name);

/** Runs a mutation, persists it (awaited when `wait=true`) and returns Qdrant's UpdateResult. */
function update(op: (c: Collection, ctx: RouteContext) => number) {
  return async (ctx: RouteContext) => {
    const c = col(ctx);
    const operationId = op(c, ctx);
    const wait = ctx.query.get('wait') === 'true';
    const saved = ctx.registry.persist(c);
    if (wait) await saved;
    else saved.catch(() => {});
    return { operation_id: operationId, status: wait ? 'completed' : 'acknowledged' };
  };
}

const text = (body: string) => () => new RawReply(200, 'text/plain; charset=utf-8', body);

export const ROUTES: Route[] = [
  {
    method: 'GET',
    pattern: [],
    handler: () =>
      new RawReply(
        200,
        'application/json',
        JSON.stringify({ title: 'qdrant - vector search engine', version: QDRANT_VERSION }),
      ),
  },
  { method: 'GET', pattern: ['healthz'], handler: text('healthz check passed') },
  { method: 'GET', pattern: ['livez'], handler: text('healthz check passed') },
  { method: 'GET', pattern: ['readyz'], handler: text('all shards are ready') },
  {
    method: 'GET',
    pattern: ['collections'],
    handler: (ctx) => ({ collections: ctx.registry.names().map((name) => ({ name })) }),
  },
  { method: 'GET', pattern: ['collections', ':name'], handler: (ctx) => col(ctx).info() },
  {
    method: 'PUT',
    pattern: ['collections', ':name'],
    handler: (ctx) => ctx.registry.create(ctx.params.name ?? '', ctx.body),
  },
  {
    method: 'PATCH',
    pattern: ['collections', ':name'],
    handler: async (ctx) => {
      const c = col(ctx);
      applyCollectionUpdate(c.config, bodyObject(ctx.body ?? {}, 'UpdateCollection'));
      await ctx.registry.persist(c);
      return true;
    },
  },
  {
    method: 'DELETE',
    pattern: ['collections', ':name'],
    handler: (ctx) => ctx.registry.delete(ctx.params.name ?? ''),
  },
  {
    method: 'GET',
    pattern: ['collections', ':name', 'exists'],
    handler: (ctx) => ({ exists: ctx.registry.find(ctx.params.name ?? '') !== undefined }),
  },
  {
    method: 'PUT',
    pattern: ['collections', ':name', 'index'],
    handler: update((c, ctx) => c.createPayloadIndex(ctx.body)),
  },
  {
    method: 'DELETE',
    pattern: ['collections', ':name', 'index', ':field'],
    handler: update((c, ctx) => c.deletePayloadIndex(ctx.params.field ?? '')),
  },
  {
    method: 'PUT',
    pattern: ['collections', ':name', 'points'],
    handler: update((c, ctx) => c.upsert(ctx.body)),
  },
  {
    method: 'POST',
    pattern: ['collections', ':name', 'points'],
    handler: (ctx) => col(ctx).retrieve(ctx.body),
  },
  {
    method: 'POST',
    pattern: ['collections', ':name', 'points', 'delete'],
    handler: update((c, ctx) => c.deletePoints(ctx.body)),
  },
  {
    method: 'POST',
    pattern: ['collections', ':name', 'points', 'payload'],
    handler: update((c, ctx) => c.setPayload(ctx.body, false)),
  },
  {
    method: 'PUT',
    pattern: ['collections', ':name', 'points', 'payload'],
    handler: update((c, ctx) => c.setPayload(ctx.body, true)),
  },
  {
    method: 'POST',
    pattern: ['collections', ':name', 'points', 'payload', 'delete'],
    handler: update((c, ctx) => c.deletePayload(ctx.body)),
  },
  {
    method: 'POST',
    pattern: ['collections', ':name', 'points', 'payload', 'clear'],
    handler: update((c, ctx) => c.clearPayload(ctx.body)),
  },
  {
    method: 'PUT',
    pattern: ['collections', ':name', 'points', 'vectors'],
    handler: update((c, ctx) => c.updateVectors(ctx.body)),
  },
  {
    method: 'POST',
    pattern: ['collections', ':name', 'points', 'search'],
    handler: (ctx) => searchPoints(col(ctx), lookup(ctx), ctx.body),
  },
  {
    method: 'POST',
    pattern: ['collections', ':name', 'points', 'search', 'batch'],
    handler: (ctx) => searchBatch(col(ctx), lookup(ctx), ctx.body),
  },
  {
    method: 'POST',
    pattern: ['collections', ':name', 'points', 'query'],
    handler: (ctx) => queryPoints(col(ctx), lookup(ctx), ctx.body),
  },
  {
    method: 'POST',
    pattern: ['collections', ':name', 'points', 'query', 'batch'],
    handler: (ctx) => queryBatch(col(ctx), lookup(ctx), ctx.body),
  },
  {
    method: 'POST',
    pattern: ['collections', ':name', 'points', 'scroll'],
    handler: (ctx) => col(ctx).scroll(ctx.body),
  },
  {
    method: 'POST',
    pattern: ['collections', ':name', 'points', 'count'],
    handler: (ctx) => col(ctx).count(ctx.body),
  },
  {
    method: 'GET',
    pattern: ['collections', ':name', 'points', ':id'],
    handler: (ctx) => col(ctx).getPoint(ctx.params.id ?? ''),
  },
];

/** Finds the route for a method and decoded path segments. */
export function matchRoute(
  method: string,
  segments: string[],
): { route: Route; params: Record<string, string> } | undefined {
  for (const route of ROUTES) {
    if (route.method !== method || route.pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const ok = route.pattern.every((part, i) => {
      const seg = segments[i] as string;
      if (part.startsWith(':')) {
        params[part.slice(1)] = seg;
        return true;
      }
      return part === seg;
    });
    if (ok) return { route, params };
  }
  return undefined;
}
