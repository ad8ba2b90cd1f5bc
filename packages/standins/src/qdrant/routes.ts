/**
 * The REST surface: each route names its method, path pattern and handler; handlers return the
 * `result` to wrap in Qdrant's `{result, status: "ok", time}` envelope, or a `RawReply` for the
 * endpoints that answer without an envelope (`/`, `/healthz`, `/livez`, `/readyz`).
 * Every route with a collection in its path checks the name and `?timeout=` first. Qdrant decodes
 * and validates the body before its handler looks the collection up, so on a missing collection
 * the body is still read (against an empty collection, then dropped) and its format or
 * validation error wins over the 404.
 * Update endpoints honour `?wait=`: `completed` once applied and persisted, else `acknowledged`.
 */
import { Collection } from './collection.js';
import { applyCollectionUpdate, parseCreateCollection, validateCollectionName } from './config.js';
import { collectionNotFound, QdrantError } from './errors.js';
import { bodyObject } from './parse.js';
import {
  batchOf,
  type CollectionLookup,
  queryPoints,
  recommendPoints,
  searchPoints,
} from './query.js';
import type { Registry } from './registry.js';
import { checkTimeout } from './validate.js';

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
  /** This server's telemetry identity: a random id and its start time. */
  server: { id: string; startup: string };
}

export interface Route {
  method: string;
  pattern: string[];
  handler: (ctx: RouteContext) => unknown;
}

/**
 * The `{name}` path parameter, checked as Qdrant's path extractor does, then `?timeout=` where
 * the endpoint takes one (every one but the GETs).
 */
function collectionName(ctx: RouteContext, timed: boolean): string {
  const name = ctx.params.name ?? '';
  validateCollectionName(name);
  if (timed) checkTimeout(ctx.query);
  return name;
}

/** What a handler's body is wrong about, when it fails before it needs any point or vector. */
function bodyError(run: () => unknown): QdrantError | undefined {
  try {
    run();
  } catch (e) {
    if (
      e instanceof QdrantError &&
      (e.status === 422 || e.message.startsWith('Format error in JSON body'))
    ) {
      return e;
    }
  }
  return undefined;
}

/** A route on an existing collection (or alias). */
function onCollection<T>(fn: (c: Collection, ctx: RouteContext) => T, timed = true) {
  return (ctx: RouteContext): T => {
    const name = collectionName(ctx, timed);
    const c = ctx.registry.find(name);
    if (c) return fn(c, ctx);
    const empty = new Collection(name, parseCreateCollection({}));
    throw bodyError(() => fn(empty, ctx)) ?? collectionNotFound(name);
  };
}

/** Runs a mutation, persists it (awaited when `wait=true`) and returns Qdrant's UpdateResult. */
function update(op: (c: Collection, ctx: RouteContext) => number) {
  const apply = onCollection((c, ctx) => ({ c, operationId: op(c, ctx) }));
  return async (ctx: RouteContext) => {
    const { c, operationId } = apply(ctx);
    const wait = ctx.query.get('wait') === 'true';
    const saved = ctx.registry.persist(c);
    if (wait) await saved;
    else saved.catch(() => {});
    return { operation_id: operationId, status: wait ? 'completed' : 'acknowledged' };
  };
}

type Reader = (c: Collection, lookup: CollectionLookup, body: unknown) => unknown;

/** A read endpoint that may look other collections up (`lookup_from`). */
const reader = (fn: Reader) =>
  onCollection((c, ctx) => fn(c, (name) => ctx.registry.find(name), ctx.body));

const text = (body: string) => () => new RawReply(200, 'text/plain; charset=utf-8', body);

/** Routes under `/collections/{name}/points/…` whose handler reads a body. */
const POINT_READS: [string[], Reader][] = [
  [['search'], searchPoints],
  [['search', 'batch'], batchOf(searchPoints, 'SearchRequestBatch')],
  [['recommend'], recommendPoints],
  [['recommend', 'batch'], batchOf(recommendPoints, 'RecommendRequestBatch')],
  [['query'], queryPoints],
  [['query', 'batch'], batchOf(queryPoints, 'QueryRequestBatch')],
  [['scroll'], (c, _, body) => c.scroll(body)],
  [['count'], (c, _, body) => c.count(body)],
  [[], (c, _, body) => c.retrieve(body)],
];

/** Routes under `/collections/{name}/…` that change points or indexes. */
const UPDATES: [string, string[], (c: Collection, ctx: RouteContext) => number][] = [
  ['PUT', ['index'], (c, ctx) => c.createPayloadIndex(ctx.body)],
  ['DELETE', ['index', ':field'], (c, ctx) => c.deletePayloadIndex(ctx.params.field ?? '')],
  ['PUT', ['points'], (c, ctx) => c.upsert(ctx.body)],
  ['POST', ['points', 'delete'], (c, ctx) => c.deletePoints(ctx.body)],
  ['POST', ['points', 'payload'], (c, ctx) => c.setPayload(ctx.body, false)],
  ['PUT', ['points', 'payload'], (c, ctx) => c.setPayload(ctx.body, true)],
  ['POST', ['points', 'payload', 'delete'], (c, ctx) => c.deletePayload(ctx.body)],
  ['POST', ['points', 'payload', 'clear'], (c, ctx) => c.clearPayload(ctx.body)],
  ['PUT', ['points', 'vectors'], (c, ctx) => c.updateVectors(ctx.body)],
];

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
    pattern: ['telemetry'],
    handler: (ctx) => ({
      id: ctx.server.id,
      app: { name: 'qdrant', version: QDRANT_VERSION, startup: ctx.server.startup },
      collections: { number_of_collections: ctx.registry.names().length },
    }),
  },
  {
    method: 'GET',
    pattern: ['collections'],
    handler: (ctx) => ({ collections: ctx.registry.names().map((name) => ({ name })) }),
  },
  {
    method: 'GET',
    pattern: ['aliases'],
    handler: (ctx) => ({ aliases: ctx.registry.aliasList() }),
  },
  {
    method: 'POST',
    pattern: ['collections', 'aliases'],
    handler: (ctx) => {
      checkTimeout(ctx.query);
      return ctx.registry.changeAliases(ctx.body);
    },
  },
  {
    method: 'GET',
    pattern: ['collections', ':name'],
    handler: onCollection((c) => c.info(), false),
  },
  {
    method: 'PUT',
    pattern: ['collections', ':name'],
    handler: (ctx) => {
      const name = collectionName(ctx, true);
      const config = parseCreateCollection(bodyObject(ctx.body ?? {}, 'CreateCollection'));
      return ctx.registry.create(name, config);
    },
  },
  {
    method: 'PATCH',
    pattern: ['collections', ':name'],
    handler: async (ctx) => {
      const c = onCollection((c, ctx) => {
        applyCollectionUpdate(c.config, bodyObject(ctx.body ?? {}, 'UpdateCollection'));
        return c;
      })(ctx);
      await ctx.registry.persist(c);
      return true;
    },
  },
  {
    method: 'DELETE',
    pattern: ['collections', ':name'],
    handler: (ctx) => ctx.registry.delete(collectionName(ctx, true)),
  },
  {
    method: 'GET',
    pattern: ['collections', ':name', 'exists'],
    handler: (ctx) => ({ exists: ctx.registry.find(collectionName(ctx, false)) !== undefined }),
  },
  {
    method: 'GET',
    pattern: ['collections', ':name', 'aliases'],
    handler: (ctx) => {
      const name = collectionName(ctx, false);
      if (!ctx.registry.names().includes(name)) throw collectionNotFound(name);
      return { aliases: ctx.registry.aliasList(name) };
    },
  },
  ...UPDATES.map(([method, rest, op]) => ({
    method,
    pattern: ['collections', ':name', ...rest],
    handler: update(op),
  })),
  ...POINT_READS.map(([rest, fn]) => ({
    method: 'POST',
    pattern: ['collections', ':name', 'points', ...rest],
    handler: reader(fn),
  })),
  {
    method: 'GET',
    pattern: ['collections', ':name', 'points', ':id'],
    handler: onCollection((c, ctx) => c.getPoint(ctx.params.id ?? ''), false),
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
