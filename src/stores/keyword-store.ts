import Typesense from 'typesense';
import type { KeywordSearchParams } from '../chat/keyword-query.js';
import type { ChunkPayload, RetrievedChunk } from './chunks.js';
import type { StoreCallCounter } from './metrics.js';
import { callStore } from './store-call.js';

/**
 * Typesense I/O through the official client: one collection per book named exactly `{book_id}`,
 * documents with id `{book_id}:{chunk_index}` and the chunk's fields. Every call has the client's
 * connection timeout; a transport failure is StoreUnavailable.
 */
export class KeywordStore {
  readonly client: InstanceType<typeof Typesense.Client>;

  constructor(
    options: { url: string; apiKey: string; timeoutMs: number },
    private readonly counter: StoreCallCounter,
  ) {
    const u = new URL(options.url);
    const protocol = u.protocol.replace(':', '');
    this.client = new Typesense.Client({
      nodes: [
        {
          host: u.hostname,
          port: Number(u.port || (protocol === 'https' ? 443 : 80)),
          protocol,
          ...(u.pathname && u.pathname !== '/' ? { path: u.pathname.replace(/\/$/, '') } : {}),
        },
      ],
      apiKey: options.apiKey,
      connectionTimeoutSeconds: Math.max(options.timeoutMs / 1000, 0.05),
      numRetries: 0,
      logLevel: 'silent',
    });
  }

  private call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return callStore(this.counter, 'typesense', op, fn);
  }

  async ensureCollection(bookId: string): Promise<void> {
    try {
      await this.call('retrieve', () => this.client.collections(bookId).retrieve());
      return;
    } catch (err) {
      if ((err as { httpStatus?: number }).httpStatus !== 404) throw err;
    }
    try {
      await this.call('create', () =>
        this.client.collections().create({
          name: bookId,
          fields: [
            { name: 'book_id', type: 'string', facet: true },
            { name: 'chunk_index', type: 'int32', sort: true },
            { name: 'text', type: 'string' },
            { name: 'chapter', type: 'string', optional: true },
            { name: 'start', type: 'int32' },
            { name: 'end', type: 'int32' },
          ],
          default_sorting_field: 'chunk_index',
        }),
      );
    } catch (err) {
      // Another worker created it between our two calls.
      if ((err as { httpStatus?: number }).httpStatus !== 409) throw err;
    }
  }

  async upsert(bookId: string, chunks: readonly ChunkPayload[]): Promise<void> {
    const docs = chunks.map((c) => ({
      id: `${bookId}:${c.chunk_index}`,
      book_id: c.book_id,
      chunk_index: c.chunk_index,
      text: c.text,
      ...(c.chapter !== null ? { chapter: c.chapter } : {}),
      start: c.start,
      end: c.end,
    }));
    await this.call('import', () =>
      this.client.collections(bookId).documents().import(docs, { action: 'upsert' }),
    );
  }

  async deleteFrom(bookId: string, firstStaleIndex: number): Promise<void> {
    await this.call('delete', () =>
      this.client
        .collections(bookId)
        .documents()
        .delete({ filter_by: `chunk_index:>=${firstStaleIndex}` }),
    );
  }

  async count(bookId: string): Promise<number> {
    const info = await this.call('retrieve', () => this.client.collections(bookId).retrieve());
    return info.num_documents;
  }

  /** Keyword matches of a query made by `keywordSearch`, best first, ranks from 1. */
  async search(
    bookId: string,
    query: KeywordSearchParams,
    limit: number,
    options: { maxChunkIndex?: number } = {},
  ): Promise<RetrievedChunk[]> {
    const res = await this.call('search', () =>
      this.client
        .collections(bookId)
        .documents()
        .search({
          ...query,
          per_page: limit,
          ...(options.maxChunkIndex !== undefined
            ? { filter_by: `chunk_index:<=${options.maxChunkIndex}` }
            : {}),
        }),
    );
    return (res.hits ?? []).map((hit, i) => {
      const d = hit.document as Record<string, unknown>;
      return {
        chunk: {
          book_id: String(d.book_id),
          chunk_index: Number(d.chunk_index),
          text: String(d.text),
          chapter: typeof d.chapter === 'string' ? d.chapter : null,
          start: Number(d.start),
          end: Number(d.end),
        },
        rank: i + 1,
        score: Number(hit.text_match ?? 0),
        coverage: coverage(hit.text_match_info),
      };
    });
  }
}

/** Words matched / (matched + dropped), from Typesense's `text_match_info`; 1 when it is absent. */
function coverage(info: unknown): number {
  const i = (info ?? {}) as { tokens_matched?: unknown; num_tokens_dropped?: unknown };
  const matched = Number(i.tokens_matched);
  const dropped = Number(i.num_tokens_dropped);
  if (!Number.isFinite(matched) || !Number.isFinite(dropped) || matched + dropped <= 0) return 1;
  return matched / (matched + dropped);
}
