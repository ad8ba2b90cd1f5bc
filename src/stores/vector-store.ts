import { createHash } from 'node:crypto';
import { QdrantClient } from '@qdrant/js-client-rest';
import type { ChunkOutline, ChunkPayload, RetrievedChunk } from './chunks.js';
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
  collection: string,
  info: { config: { params: { vectors?: unknown }; metadata?: unknown } },
  space: VectorSpace,
): string | null {
  const size = (info.config.params.vectors as { size?: number } | undefined)?.size;
  const metadata = info.config.metadata as { embedder?: unknown } | null | undefined;
  // A collection made before the metadata was recorded is judged by its size alone.
  const made = typeof metadata?.embedder === 'string' ? metadata.embedder : undefined;
  if (size === space.dimension && (made === undefined || made === space.name)) return null;
  return (
    `Qdrant collection ${collection} holds vectors of size ${size}${made ? ` made by ${made}` : ''}, ` +
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

/** How book chunks map onto Qdrant collections (`QDRANT_LAYOUT`), with the cluster settings. */
export type VectorLayout = { kind: 'per-book' } | { kind: 'shared'; collection: string };

/** Passed when a collection is created; unset values are left to the Qdrant server's defaults. */
export interface VectorCluster {
  shardNumber?: number | undefined;
  replicationFactor?: number | undefined;
  writeConsistencyFactor?: number | undefined;
}

type Condition = Record<string, unknown>;

/**
 * Where a book's chunks live: the collection, each chunk's point id, and the conditions every
 * read, count and delete of the book carries.
 */
interface Placement {
  collection(bookId: string): string;
  pointId(bookId: string, chunkIndex: number): number | string;
  scope(bookId: string): Condition[];
}

/** DESIGN's layout: collection `{book_id}`, point id = chunk_index; the collection is the scope. */
const perBook: Placement = {
  collection: (bookId) => bookId,
  pointId: (_bookId, chunkIndex) => chunkIndex,
  scope: () => [],
};

/** One collection for all books, partitioned by the tenant-indexed `book_id` payload. */
function shared(collection: string): Placement {
  return {
    collection: () => collection,
    pointId: sharedPointId,
    scope: (bookId) => [{ key: 'book_id', match: { value: bookId } }],
  };
}

/** The namespace of the shared layout's point ids (a fixed UUID; changing it orphans every point). */
export const SHARED_POINT_NAMESPACE = '6f1d3a52-8c4e-4b7a-9e21-5d0c7b3f9a10';

/**
 * A chunk's point id in the shared collection: the UUIDv5 (RFC 9562) of `{book_id}:{chunk_index}`
 * in SHARED_POINT_NAMESPACE, the same for every run, so re-ingesting a book overwrites its points.
 */
export function sharedPointId(bookId: string, chunkIndex: number): string {
  const ns = Buffer.from(SHARED_POINT_NAMESPACE.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1')
    .update(ns)
    .update(`${bookId}:${chunkIndex}`, 'utf8')
    .digest()
    .subarray(0, 16);
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function filterOf(conditions: Condition[]) {
  return conditions.length > 0 ? { filter: { must: conditions } } : {};
}

/**
 * Qdrant I/O through the official client. Two layouts behind one interface: per book (DESIGN's
 * default: collection `{book_id}`, point id = chunk_index) or shared (one collection, point id a
 * UUIDv5 of book and chunk index, every search, count and delete filtered on the tenant-indexed
 * `book_id` payload, so no call for one book reaches another's points). Cosine, size
 * EMBEDDING_DIMENSION; payload = the chunk. Every call has the client's timeout; a transport
 * failure is StoreUnavailable. The collection's metadata records which embedder made its
 * vectors (`{ embedder: name }`), so that vectors of two embedders never meet in one collection or
 * one search, even when their sizes agree.
 */
export class VectorStore {
  readonly client: QdrantClient;
  readonly layout: VectorLayout;
  private readonly placement: Placement;
  private readonly cluster: VectorCluster;

  constructor(
    options: {
      url: string;
      apiKey?: string | undefined;
      timeoutMs: number;
      layout?: VectorLayout;
      cluster?: VectorCluster;
    },
    private readonly counter: StoreCallCounter,
  ) {
    this.client = new QdrantClient({
      url: options.url,
      ...apiKeyOption(options.url, options.apiKey),
      timeout: options.timeoutMs,
      checkCompatibility: false,
    });
    this.layout = options.layout ?? { kind: 'per-book' };
    this.placement = this.layout.kind === 'shared' ? shared(this.layout.collection) : perBook;
    this.cluster = options.cluster ?? {};
  }

  private call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return callStore(this.counter, 'qdrant', op, fn);
  }

  /** The collection that holds a book's chunks. */
  collectionOf(bookId: string): string {
    return this.placement.collection(bookId);
  }

  /** A chunk's point id in this layout. */
  pointId(bookId: string, chunkIndex: number): number | string {
    return this.placement.pointId(bookId, chunkIndex);
  }

  /** Collections found to match the embedder (a collection's vector space never changes). */
  private readonly checked = new Set<string>();

  /**
   * Creates the book's collection if missing, recording the embedder (in the shared layout: the
   * shared collection, with its tenant index on `book_id`); an existing one of another size or
   * made by another embedder is a DimensionMismatchError.
   */
  async ensureCollection(bookId: string, space: VectorSpace): Promise<void> {
    const name = this.collectionOf(bookId);
    const { exists } = await this.call('exists', () => this.client.collectionExists(name));
    if (exists) {
      await this.requireSpace(name, space);
      if (this.layout.kind === 'shared') await this.ensureTenantIndex(name);
      return;
    }
    try {
      // Through the generated API: the client's own createCollection drops `metadata`.
      await this.call('create', () =>
        this.client.api().createCollection({
          collection_name: name,
          vectors: { size: space.dimension, distance: 'Cosine' },
          metadata: { embedder: space.name },
          ...(this.cluster.shardNumber ? { shard_number: this.cluster.shardNumber } : {}),
          ...(this.cluster.replicationFactor
            ? { replication_factor: this.cluster.replicationFactor }
            : {}),
          ...(this.cluster.writeConsistencyFactor
            ? { write_consistency_factor: this.cluster.writeConsistencyFactor }
            : {}),
        }),
      );
    } catch (err) {
      // Another worker made it between our two calls: it must still be of this space.
      if ((err as { status?: number }).status !== 409) throw err;
      await this.requireSpace(name, space);
    }
    if (this.layout.kind === 'shared') await this.ensureTenantIndex(name);
  }

  private async requireSpace(name: string, space: VectorSpace): Promise<void> {
    const info = await this.call('get', () => this.client.getCollection(name));
    const problem = mismatch(name, info, space);
    if (problem) throw new DimensionMismatchError(problem);
  }

  /** The shared collection's `book_id` tenant index (and `chunk_index` for stale removal). */
  private async ensureTenantIndex(name: string): Promise<void> {
    await this.call('index', () =>
      this.client.createPayloadIndex(name, {
        wait: true,
        field_name: 'book_id',
        field_schema: { type: 'keyword', is_tenant: true },
      }),
    );
    await this.call('index', () =>
      this.client.createPayloadIndex(name, {
        wait: true,
        field_name: 'chunk_index',
        field_schema: 'integer',
      }),
    );
  }

  /**
   * Before searching with `space`'s vectors: a DimensionMismatchError when the book's collection was
   * made by another embedder. Checked once per collection and process; a collection that cannot be
   * read is left for the search itself to report.
   */
  async checkCollection(bookId: string, space: VectorSpace): Promise<void> {
    const name = this.collectionOf(bookId);
    const key = `${space.name}/${space.dimension}/${name}`;
    if (this.checked.has(key)) return;
    let info: Awaited<ReturnType<QdrantClient['getCollection']>>;
    try {
      info = await this.call('get', () => this.client.getCollection(name));
    } catch {
      return;
    }
    const problem = mismatch(name, info, space);
    if (problem) throw new DimensionMismatchError(problem);
    if (this.checked.size >= 10_000) this.checked.clear();
    this.checked.add(key);
  }

  async upsert(bookId: string, chunks: readonly ChunkPayload[], vectors: readonly number[][]) {
    await this.call('upsert', () =>
      this.client.upsert(this.collectionOf(bookId), {
        wait: true,
        points: chunks.map((chunk, i) => ({
          id: this.pointId(bookId, chunk.chunk_index),
          vector: vectors[i]!,
          // The scope of every read is this field: it is the book's id, whatever the chunk says.
          payload: { ...chunk, book_id: bookId },
        })),
      }),
    );
  }

  /** Removes the book's points from a previous run beyond its current chunk count. */
  async deleteFrom(bookId: string, firstStaleIndex: number): Promise<void> {
    await this.call('delete', () =>
      this.client.delete(this.collectionOf(bookId), {
        wait: true,
        filter: {
          must: [
            ...this.placement.scope(bookId),
            { key: 'chunk_index', range: { gte: firstStaleIndex } },
          ],
        },
      }),
    );
  }

  /** Removes all of a book's vectors: its collection (per book), or its points (shared). */
  async deleteBook(bookId: string): Promise<void> {
    const name = this.collectionOf(bookId);
    if (this.layout.kind === 'per-book') {
      await this.call('delete', () => this.client.deleteCollection(name));
      return;
    }
    await this.call('delete', () =>
      this.client.delete(name, { wait: true, filter: { must: this.placement.scope(bookId) } }),
    );
  }

  async count(bookId: string): Promise<number> {
    const res = await this.call('count', () =>
      this.client.count(this.collectionOf(bookId), {
        exact: true,
        ...filterOf(this.placement.scope(bookId)),
      }),
    );
    return res.count;
  }

  /** Every chunk's index, chapter and end offset (no text, no vector), in chunk order. */
  async outline(bookId: string): Promise<ChunkOutline[]> {
    const out: ChunkOutline[] = [];
    let offset: string | number | undefined;
    for (;;) {
      const page = await this.call('scroll', () =>
        this.client.scroll(this.collectionOf(bookId), {
          limit: 1000,
          with_payload: ['chunk_index', 'chapter', 'end'],
          with_vector: false,
          ...filterOf(this.placement.scope(bookId)),
          ...(offset !== undefined ? { offset } : {}),
        }),
      );
      for (const p of page.points) {
        const payload = (p.payload ?? {}) as Partial<ChunkPayload>;
        out.push({
          chunk_index: Number(payload.chunk_index ?? p.id),
          chapter: typeof payload.chapter === 'string' ? payload.chapter : null,
          end: Number(payload.end ?? 0),
        });
      }
      const next = page.next_page_offset;
      if (typeof next !== 'number' && typeof next !== 'string') break;
      offset = next;
    }
    return out.sort((a, b) => a.chunk_index - b.chunk_index);
  }

  /**
   * Nearest chunks of the book to a vector, best first, ranks from 1; equal scores in chunk order.
   * Qdrant breaks ties by point id, which is the chunk index in the per-book layout but a UUID in
   * the shared one, so the order (and, at the cut-off, the choice) of tied chunks is settled here,
   * the same in both layouts: one point more than asked shows whether a tie straddles the cut-off;
   * when one does, the tied points' indexes (up to TIE_GROUP_MAX of them) are read with a score
   * threshold and the lowest chunk indexes kept.
   */
  async search(
    bookId: string,
    vector: number[],
    limit: number,
    options: { maxChunkIndex?: number } = {},
  ): Promise<RetrievedChunk[]> {
    const conditions = [
      ...this.placement.scope(bookId),
      ...(options.maxChunkIndex !== undefined
        ? [{ key: 'chunk_index', range: { lte: options.maxChunkIndex } }]
        : []),
    ];
    const collection = this.collectionOf(bookId);
    const res = await this.call('query', () =>
      this.client.query(collection, {
        query: vector,
        limit: limit + 1,
        with_payload: true,
        ...filterOf(conditions),
      }),
    );
    let hits = res.points.map((p) => ({
      chunk: p.payload as unknown as ChunkPayload,
      score: p.score,
    }));
    const cut = hits[limit - 1]?.score;
    if (cut !== undefined && hits[limit]?.score === cut) {
      hits = await this.settleTieAtCut(bookId, collection, vector, conditions, hits, limit, cut);
    }
    return hits
      .sort((a, b) => b.score - a.score || a.chunk.chunk_index - b.chunk.chunk_index)
      .slice(0, limit)
      .map((h, i) => ({ ...h, rank: i + 1 }));
  }

  /** `hits` with the tied chunks at the cut-off replaced by the lowest-indexed of the whole tie. */
  private async settleTieAtCut(
    bookId: string,
    collection: string,
    vector: number[],
    conditions: Condition[],
    hits: { chunk: ChunkPayload; score: number }[],
    limit: number,
    cut: number,
  ) {
    const above = hits.filter((h) => h.score > cut);
    const group = await this.call('query', () =>
      this.client.query(collection, {
        query: vector,
        score_threshold: cut,
        limit: above.length + TIE_GROUP_MAX,
        with_payload: ['chunk_index'],
        ...filterOf(conditions),
      }),
    );
    const tied = group.points
      .filter((p) => p.score === cut)
      .map((p) => Number((p.payload as { chunk_index?: unknown } | null)?.chunk_index))
      .filter((i) => Number.isInteger(i))
      .sort((a, b) => a - b)
      .slice(0, limit - above.length);
    const known = new Map(hits.map((h) => [h.chunk.chunk_index, h]));
    const missing = tied.filter((i) => !known.has(i));
    if (missing.length > 0) {
      const points = await this.call('retrieve', () =>
        this.client.retrieve(collection, {
          ids: missing.map((i) => this.pointId(bookId, i)),
          with_payload: true,
          with_vector: false,
        }),
      );
      for (const p of points) {
        const chunk = p.payload as unknown as ChunkPayload;
        known.set(chunk.chunk_index, { chunk, score: cut });
      }
    }
    return [...above, ...tied.flatMap((i) => known.get(i) ?? [])];
  }
}

/** The most tied points read to settle a tie at the cut-off; a larger tie is cut where Qdrant cuts it. */
const TIE_GROUP_MAX = 1000;
