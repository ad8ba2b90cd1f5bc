import { createHash, randomBytes } from 'node:crypto';
import { type DocumentNode, type ExecutionResult, Kind, parse, type ValueNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Authenticator } from '../auth.js';
import type { Logger } from '../logger.js';
import { selectOperation } from '../observability/operation.js';
import type { StoreCallCounter } from '../stores/metrics.js';
import type { RedisClient } from '../stores/redis.js';
import type { CatalogInvalidation } from './invalidation.js';
import { LocalTtlCache } from './local-ttl-cache.js';

export const chatPageVersionKey = (sessionId: string) => `chat_page_version:${sessionId}`;

/**
 * A version token per chat session (`chat_page_version:{session_id}`, a random hex string,
 * EX ttl): every write the gateway makes to a session or its messages (a saved turn, a rename, a
 * delete) replaces it once the write is committed, so a chat page built from what was read after
 * taking the token is stale exactly when the token changed. Best-effort: when Redis fails, `read`
 * answers null (no cached page is used) and a failed `bump` leaves the pages cached elsewhere to
 * their TTL.
 */
export class ChatPageVersions {
  constructor(
    private readonly deps: {
      redis: RedisClient;
      counter: StoreCallCounter;
      logger: Logger;
      ttlSeconds: number;
    },
  ) {}

  /** The session's current token (one is made on first use); null when Redis fails. */
  async read(sessionId: string): Promise<string | null> {
    const { redis, counter, ttlSeconds } = this.deps;
    const key = chatPageVersionKey(sessionId);
    try {
      const found = await counter.time('redis', 'get', () => redis.get(key));
      if (found) return found;
      const made = token();
      const set = await counter.time('redis', 'set', () =>
        redis.set(key, made, 'EX', ttlSeconds, 'NX'),
      );
      if (set === 'OK') return made;
      return await counter.time('redis', 'get', () => redis.get(key));
    } catch (err) {
      this.deps.logger.warn({ err: String(err) }, 'chat page version read failed');
      return null;
    }
  }

  /** Replaces the session's token: every chat page cached for it is stale from now on. */
  async bump(sessionId: string): Promise<void> {
    const { redis, counter, ttlSeconds } = this.deps;
    try {
      await counter.time('redis', 'set', () =>
        redis.set(chatPageVersionKey(sessionId), token(), 'EX', ttlSeconds),
      );
    } catch (err) {
      this.deps.logger.warn({ err: String(err), sessionId }, 'chat page version bump failed');
    }
  }
}

const token = () => randomBytes(8).toString('hex');

/** A cached answer: its data, and its JSON text and bytes once a hit has made them. */
interface CachedPage {
  data: ExecutionResult['data'];
  json?: string;
  bytes?: Uint8Array<ArrayBuffer>;
}

/** Where a cacheable document takes its session id from: a variable or a literal. */
type SessionIdSource = { variable: string } | { literal: string };

const MAX_DOCUMENTS = 500;
const MAX_ENTRIES = 1000;

/**
 * Whole chat pages (a query whose only root field is `chatSession(id:)`), kept in process per
 * verified reader for `ttlMs`. The key is the reader, the document, its variables and the
 * session's version token (`ChatPageVersions`), read before anything else of the request, so a
 * page is served only while no write to that session has been committed since it was read: a
 * new message is visible on any instance as soon as `sendMessage` has answered. A reader is only
 * ever served an answer built for them (another reader's key differs, and an answer with errors,
 * such as NOT_FOUND for someone else's session, is not kept). Catalog changes (ingestion) drop
 * every entry, and an answer read before such a change is not kept. Writes made to the tables by
 * others than the gateway (the frontend setting a title directly) show within `ttlMs`.
 */
export function useChatPageCache(deps: {
  auth: Authenticator;
  versions: ChatPageVersions;
  invalidation: CatalogInvalidation;
  ttlMs: number;
  /** Told of each request answered from an entry: it is counted and logged as executed ones. */
  onHit?: (document: DocumentNode, operationName: string | undefined, viewerId: string) => void;
}): { plugin: Plugin; dispose: () => void } | null {
  if (deps.ttlMs <= 0) return null;
  const entries = new LocalTtlCache<CachedPage>(deps.ttlMs, MAX_ENTRIES);
  let generation = 0;
  const stop = deps.invalidation.onChange(() => {
    generation++;
    entries.clear();
  });
  const documents = new Map<string, ChatPageDocument | null>();
  const pending = new WeakMap<object, { key: string; generation: number }>();
  // Requests answered from an entry, and how many operations each carried (a batch has several).
  const hits = new WeakMap<Request, CachedPage>();
  const operations = new WeakMap<Request, number>();
  const json = (page: CachedPage) => (page.json ??= JSON.stringify({ data: page.data }));

  const plugin: Plugin = {
    async onParams({ params, request, context, setResult }) {
      operations.set(request, (operations.get(request) ?? 0) + 1);
      if (typeof params.query !== 'string') return;
      const page = chatPageDocument(documents, params.query, params.operationName ?? undefined);
      if (!page) return;
      const { source } = page;
      const sessionId = 'literal' in source ? source.literal : params.variables?.[source.variable];
      if (typeof sessionId !== 'string') return;
      const auth = await deps.auth.authenticate(request.headers.get('authorization'));
      if (!auth.ok) return;
      const version = await deps.versions.read(sessionId);
      if (version === null) return;
      const key = createHash('sha256')
        .update(auth.viewer.id)
        .update('\u0000')
        .update(sessionId)
        .update('\u0000')
        .update(version)
        .update('\u0000')
        .update(params.operationName ?? '')
        .update('\u0000')
        .update(JSON.stringify(params.variables ?? {}))
        .update('\u0000')
        .update(params.query)
        .digest('hex');
      const hit = entries.get(key);
      if (hit) {
        // Serialised once per entry: yoga uses a result's own `stringify` when it has one (the
        // same JSON that JSON.stringify would give, since an entry holds data alone).
        const result = { data: hit.data, stringify: () => json(hit) };
        setResult(result as ExecutionResult);
        hits.set(request, hit);
        deps.onHit?.(page.document, params.operationName ?? undefined, auth.viewer.id);
        return;
      }
      pending.set(context, { key, generation });
    },
    // A single answer from an entry is sent as the entry's UTF-8 bytes, encoded once, instead of
    // its text encoded again on every write; the status and headers stay as yoga set them.
    onResponse({ request, response, setResponse, fetchAPI }) {
      const hit = hits.get(request);
      if (!hit || operations.get(request) !== 1 || response.status !== 200) return;
      hit.bytes ??= new TextEncoder().encode(json(hit));
      setResponse(new fetchAPI.Response(hit.bytes, { status: 200, headers: response.headers }));
    },
    onExecutionResult({ result, context }) {
      const miss = pending.get(context);
      if (!miss) return;
      pending.delete(context);
      if (miss.generation !== generation) return;
      if (!result || Symbol.asyncIterator in result) return;
      const single = result as ExecutionResult;
      if (single.errors?.length || !single.data) return;
      entries.set(miss.key, { data: single.data });
    },
  };
  return { plugin, dispose: stop };
}

/** A cacheable chat page's document and where its session id comes from. */
interface ChatPageDocument {
  document: DocumentNode;
  source: SessionIdSource;
}

/** The document and its session id's source when it is a cacheable chat page, else null (memoised). */
function chatPageDocument(
  memo: Map<string, ChatPageDocument | null>,
  query: string,
  operationName: string | undefined,
): ChatPageDocument | null {
  const memoKey = `${operationName ?? ''}\u0000${query}`;
  let found = memo.get(memoKey);
  if (found === undefined) {
    let document: DocumentNode | null = null;
    try {
      document = parse(query);
    } catch {
      // Yoga reports the syntax error; nothing is cached for it.
    }
    const source = document ? chatPageSource(document, operationName) : null;
    found = document && source ? { document, source } : null;
    if (memo.size >= MAX_DOCUMENTS) memo.clear();
    memo.set(memoKey, found);
  }
  return found;
}

/**
 * A query whose root selections are one `chatSession(id: …)` field (aliased or not) and nothing
 * else, with no directives there: its answer depends on the reader, the session and the catalog.
 */
function chatPageSource(
  document: DocumentNode,
  operationName: string | undefined,
): SessionIdSource | null {
  const op = selectOperation(document, operationName);
  if (op?.operation !== 'query' || op.selectionSet.selections.length !== 1) return null;
  const [field] = op.selectionSet.selections;
  if (field?.kind !== Kind.FIELD || field.name.value !== 'chatSession') return null;
  if (field.directives?.length) return null;
  const id = field.arguments?.find((a) => a.name.value === 'id')?.value;
  return id ? idSource(id) : null;
}

function idSource(value: ValueNode): SessionIdSource | null {
  if (value.kind === Kind.VARIABLE) return { variable: value.name.value };
  if (value.kind === Kind.STRING) return { literal: value.value };
  return null;
}
