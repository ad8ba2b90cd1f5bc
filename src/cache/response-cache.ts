import { createHash, randomUUID } from 'node:crypto';
import {
  type Cache,
  createInMemoryCache,
  useResponseCache,
} from '@graphql-yoga/plugin-response-cache';
import { type DocumentNode, getOperationAST, Kind } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Deps } from '../deps.js';

/**
 * Whole responses of catalog reads (book, books, character, categories), kept in process per
 * reader for RESPONSE_CACHE_TTL_MS. Per-reader data is never cached: any response holding a
 * ChatSession, a Message or the Viewer, or from chatSession(s)/searchBook, is left out. The cache
 * key's session is the verified reader (a token that no longer verifies shares nothing), so one
 * reader is never served another's response, and authentication still holds on every hit. When
 * ingestion changes a book's status or characters (here, or in a worker or gateway elsewhere,
 * through `catalog_changes` on Redis), every response that holds that Book is dropped, and so is
 * every cached book list (a list filtered by status may now have to include it). A response read
 * before such a change and finished after it is not cached. A query that asks for a per-reader
 * root field is never cached, so the cache is not engaged for it at all: it would rewrite the
 * document and copy the whole answer (a chat page's 50 messages) only to drop it.
 */
export function useCatalogResponseCache(
  deps: Deps,
): { plugin: Plugin; dispose: () => void } | null {
  const ttl = deps.config.responseCacheTtlMs;
  if (ttl <= 0) return null;
  const cache = invalidationSafe(createInMemoryCache({ max: 5000 }));
  const stop = deps.invalidation.onChange((bookId) => {
    void cache.invalidate([{ typename: 'Book', id: bookId }, { typename: 'BookEdge' }]);
  });
  const skipped = new WeakSet<object>();
  const markPerReader: Plugin = {
    onExecute({ args }) {
      if (asksPerReaderRootField(args.document, args.operationName ?? undefined)) {
        skipped.add(args.contextValue as object);
      }
    },
  };
  const cached = useResponseCache({
    cache,
    ttl,
    // Edges are entities by their cursor, so that every cached list of books (the empty ones
    // too) is recorded under BookEdge and can be dropped at once.
    idFields: ['id', 'cursor'],
    enabled: (request, context) =>
      request.headers.has('authorization') && !skipped.has(context as object),
    session: async (request) => {
      const auth = await deps.auth.authenticate(request.headers.get('authorization'));
      return auth.ok ? `reader:${auth.viewer.id}` : `none:${randomUUID()}`;
    },
    ttlPerSchemaCoordinate: {
      ChatSession: 0,
      Message: 0,
      Viewer: 0,
      Passage: 0,
      ...Object.fromEntries([...PER_READER_ROOT_FIELDS].map((f) => [`Query.${f}`, 0])),
    },
    includeExtensionMetadata: false,
    // The same parts as the plugin's default key, hashed at once in process (the default goes
    // through WebCrypto's asynchronous digest: a thread-pool job per request).
    buildResponseCacheKey: ({ documentString, operationName, variableValues, sessionId }) =>
      createHash('sha256')
        .update(
          [
            documentString,
            operationName ?? '',
            JSON.stringify(variableValues ?? {}),
            sessionId ?? '',
          ].join('|'),
        )
        .digest('hex'),
  }) as Plugin;
  return {
    plugin: {
      onPluginInit({ addPlugin }) {
        addPlugin(markPerReader);
        addPlugin(cached);
      },
    },
    dispose: stop,
  };
}

/** Root fields whose answers are the reader's own: a query with one of them is never cached. */
const PER_READER_ROOT_FIELDS = new Set(['viewer', 'chatSession', 'chatSessions', 'searchBook']);

const perReaderByDocument = new WeakMap<DocumentNode, Map<string, boolean>>();

/** Whether the operation is a query selecting a per-reader root field (memoised per document). */
function asksPerReaderRootField(document: DocumentNode, operationName?: string): boolean {
  let byName = perReaderByDocument.get(document);
  if (!byName) {
    byName = new Map();
    perReaderByDocument.set(document, byName);
  }
  const key = operationName ?? '';
  let answer = byName.get(key);
  if (answer === undefined) {
    const op = getOperationAST(document, operationName);
    answer =
      op?.operation === 'query' &&
      op.selectionSet.selections.some(
        (s) => s.kind === Kind.FIELD && PER_READER_ROOT_FIELDS.has(s.name.value),
      );
    byName.set(key, answer);
  }
  return answer;
}

const MAX_PENDING_READS = 10_000;

/**
 * A cache that keeps no response begun before an invalidation: each lookup remembers the
 * invalidation count it saw, and a response is stored only if none happened since (the miss it
 * answers may hold what the invalidation was about).
 */
function invalidationSafe(inner: Cache): Cache {
  let invalidations = 0;
  const seenAt = new Map<string, number>();
  return {
    get(key) {
      if (seenAt.size >= MAX_PENDING_READS) seenAt.clear();
      seenAt.set(key, invalidations);
      return inner.get(key);
    },
    set(key, result, entities, ttl) {
      const at = seenAt.get(key);
      seenAt.delete(key);
      if (at !== invalidations) return;
      return inner.set(key, result, entities, ttl);
    },
    invalidate(entities) {
      invalidations++;
      seenAt.clear();
      return inner.invalidate(entities);
    },
  };
}
