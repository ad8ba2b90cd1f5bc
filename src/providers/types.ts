import type { ZodType } from 'zod';

/** Turns texts into vectors of a fixed dimension, in input order. */
export interface Embedder {
  readonly kind: 'words' | 'local' | 'openai';
  /** Which vectors it makes (kind and model): a book's collection records it when created. */
  readonly name: string;
  readonly dimension: number;
  embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<number[][]>;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** What a task knows besides the prompt; remote providers ignore it, the offline one works from it. */
export interface CompletionHints {
  task?: 'reply' | 'rewrite' | 'summary' | 'characters';
  characterName?: string;
  passages?: readonly { chunkIndex: number; text: string }[];
  userMessage?: string;
  /** A reader watches the stream: a model that writes faster than one reads may slow down. */
  paced?: boolean;
}

export interface CompletionRequest {
  messages: readonly ChatMessage[];
  temperature?: number;
  maxTokens?: number;
  signal?: AbortSignal;
  hints?: CompletionHints;
}

/**
 * A chat-completion model. `complete` returns the whole answer, `stream` yields text deltas as they
 * come, `completeJson` asks for a JSON object and validates it with the schema (LlmOutputError when
 * the answer is not valid). Transport failures are LlmUnavailableError.
 */
export interface Llm {
  readonly kind: 'local' | 'openai';
  complete(request: CompletionRequest): Promise<string>;
  stream(request: CompletionRequest): AsyncIterable<string>;
  completeJson<T>(request: CompletionRequest, schema: ZodType<T>): Promise<T>;
}

export class LlmOutputError extends Error {
  override readonly name = 'LlmOutputError';
}

/** Why a model could not be reached: `status` carries the HTTP status of a refused request. */
type LlmUnavailableCode = 'timeout' | 'network' | 'status' | 'aborted' | 'protocol';

export class LlmUnavailableError extends Error {
  override readonly name = 'LlmUnavailableError';
  readonly code: LlmUnavailableCode;
  readonly status: number | undefined;

  constructor(
    message: string,
    options?: { cause?: unknown; code?: LlmUnavailableCode; status?: number | undefined },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = options?.code ?? 'network';
    this.status = options?.status;
  }
}
