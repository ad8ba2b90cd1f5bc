import { QdrantClient } from '@qdrant/js-client-rest';
import type { ChunkPayload, RetrievedChunk } from './chunks.js';
import type { StoreCallCounter } from './metrics.js';
import { callStore } from './store-call.js';

export class DimensionMismatchError extends Error {
  override readonly name = 'DimensionMismatchError';
}

/** What a collection must have been made by: the embedder's name and vector size. */
export interface VectorSpace {
  name: string;
  dimension: number;
}

/** Why a collection's vectors are not comparable with `space`'s, or null when they are. */
function mismatch(
  bookId: string,
  info: { config: { params: { vectors?: unknown }; metadata?: unknown } },
  space: VectorSpace,
): string | null {
  const size = (info.config.params.vectors as { size?: number } | undefined)?.size;
  const metadata = info.config.metadata as { embedder?: unknown } | null | undefined;
  // A collection made before the metadata was recorded is judged by its size alone.
  const made = typeof metadata?.embedder === 'string' ? metadata.embedder : undefined;
  if (size === space.dimension && (made === undefined || made === space.name)) return null;
  return (
    `Qdrant collection ${bookId} holds vectors of size ${size}${made ? ` made by ${made}` : ''}, ` +
    `but the embedder is ${space.name} with size ${space.dimension}: ` +
    'use the embedding model the book was indexed with, or re-index it into a new collection'
  );
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
 * client's timeout; a transport failure is StoreUnavailable. The collection's metadata records
 * which embedder made its vectors (`{ embedder: name }`), so that vectors of two embedders never
 * meet in one collection or one search, even when their sizes agree.
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

  /** Books whose collection was found to match the embedder (its vector space never changes). */
  private readonly checked = new Set<string>();

  /**
   * Creates the book's collection if missing, recording the embedder; an existing one of another
   * size or made by another embedder is a DimensionMismatchError.
   */
  async ensureCollection(bookId: string, space: VectorSpace): Promise<void> {
    const { exists } = await this.call('exists', () => this.client.collectionExists(bookId));
    if (exists) {
      const info = await this.call('get', () => this.client.getCollection(bookId));
      const problem = mismatch(bookId, info, space);
      if (problem) throw new DimensionMismatchError(problem);
      return;
    }
    // Through the generated API: the client's own createCollection drops `metadata`.
    await this.call('create', () =>
      this.client.api().createCollection({
        collection_name: bookId,
        vectors: { size: space.dimension, distance: 'Cosine' },
        metadata: { embedder: space.name },
      }),
    );
  }

  /**
   * Before searching with `space`'s vectors: a DimensionMismatchError when the book's collection was
   * made by another embedder. Checked once per book and process; a collection that cannot be read
   * is left for the search itself to report.
   */
  async checkCollection(bookId: string, space: VectorSpace): Promise<void> {
    const key = `${space.name}/${space.dimension}/${bookId}`;
    if (this.checked.has(key)) return;
    let info: Awaited<ReturnType<QdrantClient['getCollection']>>;
    try {
      info = await this.call('get', () => this.client.getCollection(bookId));
    } catch {
      return;
    }
    const problem = mismatch(bookId, info, space);
    if (problem) throw new DimensionMismatchError(problem);
    if (this.checked.size >= 10_000) this.checked.clear();
    this.checked.add(key);
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
