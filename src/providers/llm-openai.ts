/**
 * Chat completions from any OpenAI-compatible `POST {baseUrl}/chat/completions` (OpenAI, Ollama,
 * vLLM, llama.cpp server...). Requests are retried with backoff on 429 (Retry-After honoured), 5xx,
 * timeouts and network errors; a stream is retried only until its first token, never after. The
 * timeout bounds a whole plain request, and for a stream the wait for each next chunk. Transport
 * failures are LlmUnavailableError; an answer of the wrong shape is LlmOutputError.
 */
import { type ZodType, z } from 'zod';
import { HttpFailure, type OpenResponse, openRequest, readJson, withRetries } from './http.js';
import { parseJsonOutput } from './json-output.js';
import { sseData } from './sse.js';
import {
  type ChatMessage,
  type CompletionRequest,
  type Llm,
  LlmOutputError,
  LlmUnavailableError,
} from './types.js';

export interface OpenAILlmOptions {
  /** Up to and including the API version, e.g. `https://api.openai.com/v1`, `http://host:11434/v1`. */
  baseUrl: string;
  apiKey?: string | undefined;
  model: string;
  timeoutMs?: number;
  maxRetries?: number;
  /** First backoff step in ms (tests make it small). */
  retryBaseDelayMs?: number;
}

const completionSchema = z.object({
  choices: z
    .array(z.object({ message: z.object({ content: z.string().nullable().optional() }) }))
    .min(1),
});

const chunkSchema = z.object({
  choices: z.array(
    z.object({
      delta: z.object({ content: z.string().nullable().optional() }).optional(),
    }),
  ),
});

const streamErrorSchema = z.object({
  error: z.union([z.string(), z.object({ message: z.string() })]),
});

export class OpenAILlm implements Llm {
  readonly kind = 'openai' as const;
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;

  constructor(private readonly options: OpenAILlmOptions) {
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxRetries = Math.max(0, options.maxRetries ?? 2);
  }

  async complete(request: CompletionRequest): Promise<string> {
    return this.completeText(request, {});
  }

  async completeJson<T>(request: CompletionRequest, schema: ZodType<T>): Promise<T> {
    const messages = mentionsJson(request.messages)
      ? request.messages
      : [...request.messages, { role: 'system' as const, content: 'Answer with one JSON object.' }];
    const text = await this.completeText(
      { ...request, messages },
      { response_format: { type: 'json_object' } },
    );
    return parseJsonOutput(text, schema);
  }

  async *stream(request: CompletionRequest): AsyncGenerator<string> {
    const body = this.body(request, { stream: true });
    // Open the stream and read up to its first token under the retry loop: a failure before any
    // text reached the caller can be retried without the caller noticing.
    const first = await this.retrying(request.signal, async () => {
      const open = await this.open(body, request.signal);
      const deltas = this.deltas(open);
      try {
        const next = await deltas.next();
        return { deltas, next };
      } catch (error) {
        await deltas.return(undefined);
        throw error;
      }
    });
    const { deltas } = first;
    try {
      for (let step = first.next; !step.done; step = await deltas.next()) {
        yield step.value;
      }
    } catch (error) {
      throw toLlmError(error);
    } finally {
      await deltas.return(undefined);
    }
  }

  private async completeText(
    request: CompletionRequest,
    extra: Record<string, unknown>,
  ): Promise<string> {
    const body = this.body(request, extra);
    const json = await this.retrying(request.signal, async () =>
      readJson(await this.open(body, request.signal), this.url),
    );
    const parsed = completionSchema.safeParse(json);
    if (!parsed.success) {
      throw new LlmOutputError(`${this.url} answered without choices[0].message`);
    }
    return parsed.data.choices[0]?.message.content ?? '';
  }

  /** The text deltas of one open stream, until `data: [DONE]` or the end of the body. */
  private async *deltas(open: OpenResponse): AsyncGenerator<string> {
    const body = open.response.body;
    if (!body) {
      open.close();
      throw new HttpFailure(`${this.url} answered a stream with no body`, 'protocol');
    }
    try {
      for await (const data of sseData(body, open.touch)) {
        if (data === '[DONE]') return;
        let json: unknown;
        try {
          json = JSON.parse(data);
        } catch (error) {
          throw new HttpFailure(
            `${this.url} sent a stream event that is not JSON: ${JSON.stringify(data.slice(0, 80))}`,
            'protocol',
            undefined,
            undefined,
            { cause: error },
          );
        }
        const failure = streamErrorSchema.safeParse(json);
        if (failure.success) {
          const { error } = failure.data;
          const message = typeof error === 'string' ? error : error.message;
          throw new HttpFailure(`${this.url} stream failed: ${message}`, 'protocol');
        }
        const chunk = chunkSchema.safeParse(json);
        const content = chunk.success ? chunk.data.choices[0]?.delta?.content : undefined;
        if (content) yield content;
      }
    } catch (error) {
      throw open.classify(error);
    } finally {
      open.close();
    }
  }

  private body(request: CompletionRequest, extra: Record<string, unknown>): string {
    return JSON.stringify({
      model: this.options.model,
      messages: request.messages.map(({ role, content }) => ({ role, content })),
      ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
      ...(request.maxTokens === undefined ? {} : { max_tokens: request.maxTokens }),
      ...extra,
    });
  }

  private open(body: string, signal: AbortSignal | undefined): Promise<OpenResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    return openRequest(
      this.url,
      { method: 'POST', headers, body },
      { timeoutMs: this.timeoutMs, signal },
    );
  }

  private async retrying<T>(
    signal: AbortSignal | undefined,
    attempt: () => Promise<T>,
  ): Promise<T> {
    try {
      return await withRetries(attempt, {
        maxRetries: this.maxRetries,
        signal,
        baseDelayMs: this.options.retryBaseDelayMs,
      });
    } catch (error) {
      throw toLlmError(error);
    }
  }
}

function mentionsJson(messages: readonly ChatMessage[]): boolean {
  return messages.some((m) => /json/i.test(m.content));
}

function toLlmError(error: unknown): Error {
  if (error instanceof LlmOutputError || error instanceof LlmUnavailableError) return error;
  if (error instanceof HttpFailure) {
    return new LlmUnavailableError(error.message, {
      cause: error,
      code: error.kind,
      status: error.status,
    });
  }
  return new LlmUnavailableError(error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}
