/**
 * Trusted documents: the operations in client/operations, by the sha256 hashes codegen's client
 * preset writes to client/generated/persisted-documents.json. When enabled, a request must name
 * one by `documentId` (`sha256:<hex>` as codegen writes it, or the bare hex) or by
 * `extensions.persistedQuery.sha256Hash` (APQ style);
 * a request with a query text is refused with PERSISTED_QUERY_ONLY, an unknown hash with
 * PERSISTED_QUERY_NOT_FOUND (both HTTP 400, before any store is touched).
 */
import { readFileSync } from 'node:fs';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import { type DocumentNode, Kind, parse } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { requestError } from './errors.js';

const PERSISTED_DOCUMENTS_URL = new URL(
  '../../client/generated/persisted-documents.json',
  import.meta.url,
);

interface TrustedDocuments {
  byHash: Map<string, DocumentNode>;
  /** Names of the operations, for metrics labels. */
  operationNames: Set<string>;
}

export function loadTrustedDocuments(url: URL = PERSISTED_DOCUMENTS_URL): TrustedDocuments {
  const raw = JSON.parse(readFileSync(url, 'utf8')) as Record<string, string>;
  const byHash = new Map<string, DocumentNode>();
  const operationNames = new Set<string>();
  for (const [hash, text] of Object.entries(raw)) {
    const document = parse(text);
    byHash.set(hash.replace(/^sha256:/, ''), document);
    for (const d of document.definitions) {
      if (d.kind === Kind.OPERATION_DEFINITION && d.name) operationNames.add(d.name.value);
    }
  }
  return { byHash, operationNames };
}

function documentIdOf(params: { extensions?: Record<string, unknown> | undefined }): string | null {
  const p = params as { documentId?: unknown; extensions?: Record<string, unknown> };
  if (typeof p.documentId === 'string') return p.documentId.replace(/^sha256:/, '');
  const pq = p.extensions?.persistedQuery as
    | { version?: unknown; sha256Hash?: unknown }
    | undefined;
  return pq?.version === 1 && typeof pq.sha256Hash === 'string' ? pq.sha256Hash : null;
}

export function useTrustedDocuments(documents: TrustedDocuments): Plugin {
  return usePersistedOperations({
    allowArbitraryOperations: false,
    extractPersistedOperationId: (params) => documentIdOf(params),
    getPersistedOperation: (hash) => documents.byHash.get(hash) ?? null,
    customErrors: {
      persistedQueryOnly: () =>
        requestError(
          'PERSISTED_QUERY_ONLY',
          'Only trusted documents are accepted: send a documentId from client/operations',
        ),
      keyNotFound: () =>
        requestError(
          'PERSISTED_QUERY_ONLY',
          'Only trusted documents are accepted: send a documentId from client/operations',
        ),
      notFound: () =>
        requestError('PERSISTED_QUERY_NOT_FOUND', 'This document is not a trusted document'),
    },
  }) as Plugin;
}
