/** A chunk of a book as both indexes store it (payload / document fields, docs/data-layout.md). */
export interface ChunkPayload {
  book_id: string;
  chunk_index: number;
  text: string;
  chapter: string | null;
  start: number;
  end: number;
}

/** One retriever's hit: the chunk and its rank (from 1) and score in that retriever's list. */
export interface RetrievedChunk {
  chunk: ChunkPayload;
  rank: number;
  score: number;
  /** Keyword hits: the share of the query's words the hit matched (1 when none was dropped). */
  coverage?: number;
}

/** Where a chunk lies in the book, without its text. */
export interface ChunkOutline {
  chunk_index: number;
  chapter: string | null;
  end: number;
}
