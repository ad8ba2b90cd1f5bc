import type { QdrantClient } from '@qdrant/js-client-rest';
import type { ChunkPayload } from './chunks.js';
import type { VectorStore } from './vector-store.js';

/** One book's outcome: its point counts in the source and, after the copy, in the shared collection. */
export interface BookMigration {
  bookId: string;
  status: 'copied' | 'up to date' | 'failed';
  source: number;
  target: number;
  sourceDeleted: boolean;
  problem?: string;
}

const BOOK_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Copies per-book collections (`{book_id}`) into the shared collection of `target` (a VectorStore
 * in the shared layout), book by book: points with their vectors and payloads, through scroll with
 * `with_vector`, under the shared layout's point ids, then removes points of the book the source
 * no longer has, then checks that both hold as many points for the book.
 *
 * Idempotent and resumable: point ids are derived from book and chunk index, so a second run
 * overwrites with the same points; a book whose counts already agree is skipped unless `recopy`.
 * Source collections are only read, and deleted only with `deleteSource` once their book is
 * verified. A source that records no embedder takes `embedder`, else it fails (nothing written).
 */
export async function migrateToSharedLayout(options: {
  client: QdrantClient;
  target: VectorStore;
  books?: readonly string[];
  embedder?: string;
  deleteSource?: boolean;
  recopy?: boolean;
  batchSize?: number;
  onBook?: (result: BookMigration) => void;
}): Promise<BookMigration[]> {
  const { client, target } = options;
  if (target.layout.kind !== 'shared') throw new Error('the target must use the shared layout');
  const shared = target.layout.collection;
  const books =
    options.books ??
    (await client.getCollections()).collections
      .map((c) => c.name)
      .filter((name) => name !== shared && BOOK_ID.test(name))
      .sort();
  const results: BookMigration[] = [];
  for (const bookId of books) {
    let result: BookMigration;
    try {
      result = await migrateBook(client, target, bookId, options);
    } catch (err) {
      result = {
        bookId,
        status: 'failed',
        source: -1,
        target: -1,
        sourceDeleted: false,
        problem: err instanceof Error ? err.message : String(err),
      };
    }
    results.push(result);
    options.onBook?.(result);
  }
  return results;
}

async function migrateBook(
  client: QdrantClient,
  target: VectorStore,
  bookId: string,
  options: { embedder?: string; deleteSource?: boolean; recopy?: boolean; batchSize?: number },
): Promise<BookMigration> {
  const failed = (problem: string, source = -1, count = -1): BookMigration => ({
    bookId,
    status: 'failed',
    source,
    target: count,
    sourceDeleted: false,
    problem,
  });
  const info = await client.getCollection(bookId);
  const vectors = info.config.params.vectors as { size?: unknown; distance?: unknown } | undefined;
  if (typeof vectors?.size !== 'number' || vectors.distance !== 'Cosine') {
    return failed('the source is not one unnamed cosine vector per point');
  }
  const metadata = info.config.metadata as { embedder?: unknown } | null | undefined;
  const embedder = typeof metadata?.embedder === 'string' ? metadata.embedder : options.embedder;
  if (!embedder) return failed('the source records no embedder: name it with --embedder');
  // Creates the shared collection, or refuses one made by another embedder or of another size.
  await target.ensureCollection(bookId, { name: embedder, dimension: vectors.size });

  const sourceCount = async () => (await client.count(bookId, { exact: true })).count;
  const before = await sourceCount();
  let status: BookMigration['status'] = 'up to date';
  if (options.recopy || (await target.count(bookId)) !== before) {
    status = 'copied';
    let offset: string | number | undefined;
    let next = 0;
    do {
      const page = await client.scroll(bookId, {
        limit: options.batchSize ?? 256,
        with_payload: true,
        with_vector: true,
        ...(offset !== undefined ? { offset } : {}),
      });
      const chunks: ChunkPayload[] = [];
      const vecs: number[][] = [];
      for (const p of page.points) {
        const payload = (p.payload ?? {}) as Record<string, unknown>;
        const chunkIndex =
          typeof payload.chunk_index === 'number' ? payload.chunk_index : Number(p.id);
        chunks.push({ ...payload, chunk_index: chunkIndex } as unknown as ChunkPayload);
        vecs.push(p.vector as number[]);
        next = Math.max(next, chunkIndex + 1);
      }
      if (chunks.length > 0) await target.upsert(bookId, chunks, vecs);
      const o = page.next_page_offset;
      offset = typeof o === 'string' || typeof o === 'number' ? o : undefined;
    } while (offset !== undefined);
    // Chunks a previous copy left behind that the source no longer has.
    await target.deleteFrom(bookId, next);
  }
  const source = await sourceCount();
  const copied = await target.count(bookId);
  if (source !== copied) {
    return failed(
      `counts differ after the copy: source ${source}, shared ${copied}`,
      source,
      copied,
    );
  }
  let sourceDeleted = false;
  if (options.deleteSource) {
    await client.deleteCollection(bookId);
    sourceDeleted = true;
  }
  return { bookId, status, source, target: copied, sourceDeleted };
}
