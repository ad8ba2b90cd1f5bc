import { QdrantClient } from '@qdrant/js-client-rest';
import type { ChunkPayload, RetrievedChunk } from './chunks.js';
import type { StoreCallCounter } from './metrics.js';
import { callStore } from './store-call.js';

class DimensionMismatchError extends Error {
  override readonly name = 'DimensionMismatchError';
}

/**
 * The client warns whenever a key goes over plain HTTP. To a loopback address (the embedded
 * stand-in, a local Qdrant) that is no exposure, so the key is sent as the same `api-key` header
 * without the `apiKey` option; anywhere else the option stays and so does the warning.
 */
function apiKeyOption(url: string, apiKey: string | undefined) {
  if (!apiKey) return {};
  const { protocol, hostname } = new URL(url);
  if (protocol === 'http:' && isLoopback(hostname)) return { headers: { 'api-key': apiKey } };
  return { apiKey };
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * Qdrant I/O through the official client: one collection per book, named `{book_id}`, cosine,
 * size EMBEDDING_DIMENSION; point id = chunk_index; payload = the chunk. Every call has the
 * client's timeout; a transport failure is SERVICE_UNAVAILABLE.
 */
export class VectorStore {
  readonly client: QdrantClient;

  constructor(
    options: { url: string; apiKey?: string | undefined; timeoutMs: number },
    private readonly counter: StoreCallCounter,
  ) {
    this.client = new QdrantClient({
      url: options.url,
      ...apiKeyOption(options.url, options.apiKey),
      timeout: options.timeoutMs,
      checkCompatibility: false,
    });
  }

  private call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return callStore(this.counter, 'qdrant', op, fn);
  }

  /** Creates the book's collection if missing; an existing one of another size is an error. */
  async ensureCollection(bookId: string, dimension: number): Promise<void> {
    const { exists } = await this.call('exists', () => this.client.collectionExists(bookId));
    if (exists) {
      const info = await this.call('get', () => this.client.getCollection(bookId));
      const vectors = info.config.params.vectors as { size?: number } | undefined;
      if (vectors?.size !== dimension) {
        throw new DimensionMismatchError(
          `Qdrant collection ${bookId} holds vectors of size ${vectors?.size}, but the embedder makes ${dimension}: ` +
            'use the embedding model the book was indexed with, or re-index it into a new collection',
        );
      }
      return;
    }
    await this.call('create', () =>
      this.client.createCollection(bookId, { vectors: { size: dimension, distance: 'Cosine' } }),
    );
  }

  async upsert(bookId: string, chunks: readonly ChunkPayload[], vectors: readonly number[][]) {
    await this.call('upsert', () =>
      this.client.upsert(bookId, {
        wait: true,
        points: chunks.map((chunk, i) => ({
          id: chunk.chunk_index,
          vector: vectors[i]!,
          payload: { ...chunk },
        })),
      }),
    );
  }

  /** Removes points from a previous run beyond the book's current chunk count. */
  async deleteFrom(bookId: string, firstStaleIndex: number): Promise<void> {
    await this.call('delete', () =>
      this.client.delete(bookId, {
        wait: true,
        filter: { must: [{ key: 'chunk_index', range: { gte: firstStaleIndex } }] },
      }),
    );
  }

  async count(bookId: string): Promise<number> {
    const res = await this.call('count', () => this.client.count(bookId, { exact: true }));
    return res.count;
  }

  /** Nearest chunks to a vector, best first, ranks from 1. */
  async search(
    bookId: string,
    vector: number[],
    limit: number,
    options: { maxChunkIndex?: number } = {},
  ): Promise<RetrievedChunk[]> {
    const res = await this.call('query', () =>
      this.client.query(bookId, {
        query: vector,
        limit,
        with_payload: true,
        ...(options.maxChunkIndex !== undefined
          ? { filter: { must: [{ key: 'chunk_index', range: { lte: options.maxChunkIndex } }] } }
          : {}),
      }),
    );
    return res.points.map((p, i) => ({
      chunk: p.payload as unknown as ChunkPayload,
      rank: i + 1,
      score: p.score,
    }));
  }
}
