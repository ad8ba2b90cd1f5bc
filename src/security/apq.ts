import { createHash } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { StoreCallCounter } from '../stores/metrics.js';
import type { RedisClient } from '../stores/redis.js';
import { requestError } from './errors.js';

export const apqKey = (sha256: string) => `apq:${sha256}`;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Automatic persisted queries (Apollo's protocol, `extensions.persistedQuery: {version: 1,
 * sha256Hash}`), shared by every instance through Redis as `apq:{sha256}` (the query text, `EX
 * APQ_TTL_SECONDS`, the expiry renewed on each use). A hash alone: its stored text is run, or
 * PERSISTED_QUERY_NOT_FOUND (400) and the client retries with the text. A hash with the text: the
 * hash must be the text's SHA-256 (else BAD_REQUEST, nothing stored), the text is stored unless
 * it is over APQ_MAX_QUERY_BYTES, and run. While Redis cannot be reached a hash alone answers
 * PERSISTED_QUERY_NOT_FOUND and a text is run unstored: clients fall back to sending the text.
 */
export function useAutomaticPersistedQueries(
  redis: RedisClient,
  counter: StoreCallCounter,
  settings: Config['security']['apq'],
  logger: Logger,
): Plugin {
  const notFound = () =>
    requestError('PERSISTED_QUERY_NOT_FOUND', 'PersistedQueryNotFound: send the query text too');
  return {
    async onParams({ params, setParams }) {
      const pq = params.extensions?.persistedQuery as
        | { version?: unknown; sha256Hash?: unknown }
        | undefined;
      if (pq === undefined) return;
      if (pq === null || typeof pq !== 'object' || pq.version !== 1) {
        throw requestError('BAD_REQUEST', 'Unsupported persisted query: send version 1');
      }
      const hash = typeof pq.sha256Hash === 'string' ? pq.sha256Hash.toLowerCase() : '';
      if (!SHA256_HEX.test(hash)) {
        throw requestError('BAD_REQUEST', 'persistedQuery.sha256Hash must be 64 hex digits');
      }
      const key = apqKey(hash);
      if (typeof params.query !== 'string') {
        let query: string | null;
        try {
          query = await counter.time('redis', 'getex', () =>
            redis.getex(key, 'EX', settings.ttlSeconds),
          );
        } catch (err) {
          logger.warn({ err: String(err) }, 'persisted query not read: Redis unavailable');
          throw notFound();
        }
        if (query === null) throw notFound();
        setParams({ ...params, query });
        return;
      }
      const actual = createHash('sha256').update(params.query).digest('hex');
      if (actual !== hash) {
        throw requestError('BAD_REQUEST', 'persistedQuery.sha256Hash is not the SHA-256 of query');
      }
      if (Buffer.byteLength(params.query) > settings.maxQueryBytes) return;
      try {
        await counter.time('redis', 'set', () =>
          redis.set(key, params.query as string, 'EX', settings.ttlSeconds),
        );
      } catch (err) {
        logger.warn({ err: String(err) }, 'persisted query not stored: Redis unavailable');
      }
    },
  };
}
