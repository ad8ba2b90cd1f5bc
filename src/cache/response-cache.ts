import { randomUUID } from 'node:crypto';
import { createInMemoryCache, useResponseCache } from '@graphql-yoga/plugin-response-cache';
import type { Plugin } from 'graphql-yoga';
import type { Deps } from '../deps.js';

/**
 * Whole responses of catalog reads (book, books, character, categories), kept in process per
 * reader for RESPONSE_CACHE_TTL_MS. Per-reader data is never cached: any response holding a
 * ChatSession, a Message or the Viewer, or from chatSession(s)/searchBook, is left out. The cache
 * key's session is the verified reader (a token that no longer verifies shares nothing), so one
 * reader is never served another's response, and authentication still holds on every hit. When
 * ingestion changes a book (here or on another instance, through `catalog_changes`), every
 * response that holds that Book is dropped.
 */
export function useCatalogResponseCache(
  deps: Deps,
): { plugin: Plugin; dispose: () => void } | null {
  const ttl = deps.config.responseCacheTtlMs;
  if (ttl <= 0) return null;
  const cache = createInMemoryCache({ max: 5000 });
  const stop = deps.invalidation.onChange((bookId) => {
    void cache.invalidate([{ typename: 'Book', id: bookId }]);
  });
  const plugin = useResponseCache({
    cache,
    ttl,
    enabled: (request) => request.headers.has('authorization'),
    session: async (request) => {
      const auth = await deps.auth.authenticate(request.headers.get('authorization'));
      return auth.ok ? `reader:${auth.viewer.id}` : `none:${randomUUID()}`;
    },
    ttlPerSchemaCoordinate: {
      ChatSession: 0,
      Message: 0,
      Viewer: 0,
      Passage: 0,
      'Query.viewer': 0,
      'Query.chatSession': 0,
      'Query.chatSessions': 0,
      'Query.searchBook': 0,
    },
    includeExtensionMetadata: false,
  }) as Plugin;
  return { plugin, dispose: stop };
}
