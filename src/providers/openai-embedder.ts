/**
 * Embeddings from any OpenAI-compatible `POST {baseUrl}/embeddings` (OpenAI, Ollama, vLLM, TEI...).
 * Texts go in batches of `batchSize`, one batch after another; each request has its own timeout
 * and is retried with backoff on 429 (Retry-After honoured), 5xx, timeouts and network errors.
 * Vectors come back in input order (sorted by the response's `index`), each checked to have
 * exactly `dimension` finite numbers. Every failure is an EmbeddingError with a stable `code`.
 */
import { z } from 'zod';
import { HttpFailure, openRequest, readJson, withRetries } from './http.js';
import type { Embedder } from './types.js';

export type EmbeddingErrorCode =
  | 'timeout'
  | 'network'
  | 'status'
  | 'aborted'
  | 'bad_response'
  | 'dimension_mismatch';

export class EmbeddingError extends Error {
  override readonly name = 'EmbeddingError';

  constructor(
    message: string,
    readonly code: EmbeddingErrorCode,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface OpenAIEmbedderOptions {
  /** Up to and including the API version, e.g. `https://api.openai.com/v1`, `http://host:11434/v1`. */
  baseUrl: string;
  apiKey?: string | undefined;
  model: string;
  dimension: number;
  batchSize?: number;
  timeoutMs?: number;
  maxRetries?: number;
  /** Send `dimensions` in the request (OpenAI text-embedding-3 models shorten their vectors). */
  requestDimensions?: boolean;
  /** First backoff step in ms (tests make it small). */
  retryBaseDelayMs?: number;
}

const responseSchema = z.object({
  data: z.array(
    z.object({
      index: z.number().int().nonnegative(),
      embedding: z.array(z.number()),
    }),
  ),
});

export class OpenAIEmbedder implements Embedder {
  readonly kind = 'openai' as const;
  readonly name: string;
  readonly dimension: number;
  private readonly url: string;
  private readonly batchSize: number;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;

  constructor(private readonly options: OpenAIEmbedderOptions) {
    if (!Number.isInteger(options.dimension) || options.dimension < 1) {
      throw new RangeError(
        `embedding dimension must be a positive integer, got ${options.dimension}`,
      );
    }
    this.dimension = options.dimension;
    this.name = `openai:${options.model}`;
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/embeddings`;
    this.batchSize = Math.max(1, Math.floor(options.batchSize ?? 64));
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxRetries = Math.max(0, options.maxRetries ?? 3);
  }

  async embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<number[][]> {
    const vectors: number[][] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) {
      const batch = texts.slice(i, i + this.batchSize);
      vectors.push(...(await this.embedBatch(batch, options?.signal)));
    }
    return vectors;
  }

  private async embedBatch(batch: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    // Some servers refuse empty strings; a single space embeds "nothing" just as well.
    const input = batch.map((text) => (text.trim() === '' ? ' ' : text));
    const body = JSON.stringify({
      model: this.options.model,
      input,
      encoding_format: 'float',
      ...(this.options.requestDimensions ? { dimensions: this.dimension } : {}),
    });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    let json: unknown;
    try {
      json = await withRetries(
        async () => {
          const open = await openRequest(
            this.url,
            { method: 'POST', headers, body },
            { timeoutMs: this.timeoutMs, signal },
          );
          return readJson(open, this.url);
        },
        { maxRetries: this.maxRetries, signal, baseDelayMs: this.options.retryBaseDelayMs },
      );
    } catch (error) {
      throw toEmbeddingError(error);
    }
    return this.parse(json, batch.length);
  }

  private parse(json: unknown, expected: number): number[][] {
    const parsed = responseSchema.safeParse(json);
    if (!parsed.success) {
      throw new EmbeddingError(
        `${this.url} answered without a valid { data: [{ index, embedding }] } list`,
        'bad_response',
      );
    }
    const data = parsed.data.data;
    if (data.length !== expected) {
      throw new EmbeddingError(
        `${this.url} returned ${data.length} embeddings for ${expected} inputs`,
        'bad_response',
      );
    }
    const vectors = new Array<number[] | undefined>(expected);
    for (const item of data) {
      if (item.index >= expected || vectors[item.index] !== undefined) {
        throw new EmbeddingError(
          `${this.url} returned a bad or repeated index ${item.index}`,
          'bad_response',
        );
      }
      if (item.embedding.length !== this.dimension) {
        throw new EmbeddingError(
          `model ${this.options.model} returned vectors of size ${item.embedding.length}, ` +
            `but EMBEDDING_DIMENSION is ${this.dimension}`,
          'dimension_mismatch',
        );
      }
      if (!item.embedding.every(Number.isFinite)) {
        throw new EmbeddingError(
          `${this.url} returned a vector with non-finite numbers`,
          'bad_response',
        );
      }
      vectors[item.index] = item.embedding;
    }
    return vectors as number[][];
  }
}

function toEmbeddingError(error: unknown): EmbeddingError {
  if (error instanceof EmbeddingError) return error;
  if (error instanceof HttpFailure) {
    const code = error.kind === 'protocol' ? 'bad_response' : error.kind;
    return new EmbeddingError(error.message, code, error.status, { cause: error });
  }
  return new EmbeddingError(String(error), 'network', undefined, { cause: error });
}
