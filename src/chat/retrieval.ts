import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Embedder } from '../providers/types.js';
import type { RetrievedChunk } from '../stores/chunks.js';
import type { KeywordStore } from '../stores/keyword-store.js';
import type { StoreCallCounter } from '../stores/metrics.js';
import { DimensionMismatchError, type VectorStore } from '../stores/vector-store.js';
import { type FusedPassage, reciprocalRankFusion } from './fusion.js';
import { keywordSearch } from './keyword-query.js';
import { rerankPassages } from './rerank.js';
import type { SoftMatcher } from './soft-match.js';
import type { RelatedWords } from './wordnet.js';

interface RetrievalResult {
  passages: FusedPassage[];
  /** The retrievers that failed or timed out: the passages come from the other alone. */
  unavailable: ('vector' | 'keyword')[];
}

/**
 * Hybrid retrieval over one book: Qdrant nearest neighbours of the embedded narrative query and
 * Typesense matches of the keyword query run at the same time, then reciprocal rank fusion of the
 * two lists (their union, in fused order), then a rerank of that whole union by the vector
 * similarity, a soft word match over static word vectors and BM25 with WordNet's related words
 * (`rerank.ts`), which keeps the best `keep`. One retriever down or timing out: continue with the
 * other, log it and name it in `unavailable`; both: SERVICE_UNAVAILABLE.
 */
export class HybridRetriever {
  constructor(
    private readonly deps: {
      vectors: VectorStore;
      keywords: KeywordStore;
      embedder: Embedder;
      counter: StoreCallCounter;
      logger: Logger;
      /** Related words for the rerank; null reranks by the query's own words only. */
      related: RelatedWords | null;
      /** The soft word matcher for the rerank (made on first use); null leaves it out. */
      softMatch: (() => SoftMatcher) | null;
      /** The vector similarity's share in the rerank (`RETRIEVAL_RERANK_VECTOR_WEIGHT`). */
      rerankVectorWeight: number;
    },
  ) {}

  async retrieve(
    bookId: string,
    queries: { narrative: string; keyword: string },
    options: { candidates: number; keep: number; maxChunkIndex?: number | null | undefined },
  ): Promise<RetrievalResult> {
    // A reading position bounds both retrievers: nothing past the last chunk read is searched.
    const bound = options.maxChunkIndex ?? undefined;
    if (bound !== undefined && bound < 0) return { passages: [], unavailable: [] };
    const within = bound !== undefined ? { maxChunkIndex: bound } : {};
    const { vectors, keywords, embedder, counter, logger } = this.deps;
    const vectorSide = (async () => {
      const [[vector]] = await Promise.all([
        counter.time('embeddings', 'embed', () => embedder.embed([queries.narrative])),
        vectors.checkCollection(bookId, embedder),
      ]);
      return vectors.search(bookId, vector!, options.candidates, within);
    })();
    // A query of stopwords only makes no keyword search: its hits would say nothing.
    const keywordQuery = keywordSearch(queries.keyword, options.candidates);
    const keywordSide = keywordQuery
      ? keywords.search(bookId, keywordQuery, options.candidates, within)
      : Promise.resolve([]);
    const [v, k] = await Promise.allSettled([vectorSide, keywordSide]);
    // Vectors of another embedder would rank at random: a clear error, not a keyword-only list.
    if (v.status === 'rejected' && v.reason instanceof DimensionMismatchError) {
      logger.error({ bookId, err: v.reason.message }, 'book indexed by another embedder');
      throw new AppError(
        'FAILED_PRECONDITION',
        "This book's passages were indexed by another embedding model than the one configured; configure the model it was indexed with",
        { details: { reason: 'embedder_mismatch' } },
      );
    }
    const unavailable: RetrievalResult['unavailable'] = [];
    const take = (r: PromiseSettledResult<RetrievedChunk[]>, which: 'vector' | 'keyword') => {
      if (r.status === 'fulfilled') return r.value;
      unavailable.push(which);
      logger.warn(
        { retriever: which, bookId, err: String(r.reason) },
        'retriever failed; continuing without it',
      );
      return [];
    };
    const vectorHits = take(v, 'vector');
    const keywordHits = take(k, 'keyword');
    if (unavailable.length === 2) {
      throw new AppError(
        'SERVICE_UNAVAILABLE',
        'Search over the book is unavailable right now; try again shortly',
        {
          retryable: true,
        },
      );
    }
    // Every candidate of either list is reranked.
    const fused = reciprocalRankFusion(vectorHits, keywordHits, Number.POSITIVE_INFINITY);
    return {
      passages: rerankPassages(queries.keyword, fused, options.keep, this.deps.related, {
        vectorWeight: this.deps.rerankVectorWeight,
        vectorScores: new Map(vectorHits.map((h) => [h.chunk.chunk_index, h.score])),
        softMatch: this.deps.softMatch?.() ?? null,
      }),
      unavailable,
    };
  }
}
