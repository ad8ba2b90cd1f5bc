import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * An OpenAI-compatible server for tests, on 127.0.0.1 and a free port. It speaks
 * `POST /v1/chat/completions` (plain, and `stream: true` as server-sent events in OpenAI's chunk
 * format) and `POST /v1/embeddings`, and is scripted by queuing steps: replies, JSON answers,
 * failures (any status, with Retry-After), hangs, malformed bodies, wrong vector sizes, slow or
 * broken streams. With an empty queue, chat answers `defaultReply` (or `chatResponder`'s step) and
 * embeddings answer deterministic vectors (`fakeVector`). Every request is logged in `requests`.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
  at: number;
}

/** A scripted failure or oddity, for either endpoint. */
export type FailureStep =
  /** Answer this status with an OpenAI-style error body (and Retry-After when given). */
  | { status: number; retryAfter?: number | string; message?: string }
  /** Never answer (the connection stays open until the client gives up or the server closes). */
  | { hang: true }
  /** Answer 200 with a body that is not JSON. */
  | { malformed: true }
  /** Drop the connection without answering. */
  | { destroy: true };

export type ChatStep =
  | FailureStep
  | {
      /** The answer text (streamed as `tokens` when given, else word by word). */
      reply: string;
      tokens?: string[];
      /** Wait before the headers. */
      delayMs?: number;
      /** Wait between stream chunks. */
      tokenDelayMs?: number;
      /** Write each SSE event in small byte slices (tests a client's chunk-boundary handling). */
      splitWrites?: boolean;
      /** Stream only this many tokens, then drop the connection. */
      dropAfterTokens?: number;
    }
  /** The answer is `JSON.stringify(json)` (for fenced or broken JSON, give it as a `reply`). */
  | { json: unknown; delayMs?: number };

export type EmbeddingStep =
  | FailureStep
  | {
      /** Vector size to answer (default: the server's `dimension`). */
      dimension?: number;
      /** List `data` in reverse order (each item keeps its `index`). */
      reverse?: boolean;
      delayMs?: number;
    };

/** The demo book's characters as a model lists them during ingestion. */
export const DEMO_CHARACTER_LIST: ChatStep = {
  json: {
    characters: [
      { name: 'Mira', description: 'The keeper’s apprentice', personality: 'Curious' },
      { name: 'Tomas', description: 'The old keeper', personality: 'Says little' },
    ],
  },
};

export interface OpenAiTestServer {
  /** Base URL including `/v1`, as the providers take it. */
  url: string;
  requests: RecordedRequest[];
  /** Requests to one endpoint: 'chat' or 'embeddings'. */
  requestsTo(endpoint: 'chat' | 'embeddings'): RecordedRequest[];
  enqueueChat(...steps: ChatStep[]): void;
  enqueueEmbeddings(...steps: EmbeddingStep[]): void;
  /** Answers chat requests when the queue is empty (default: `{ reply: defaultReply }`). */
  chatResponder: ((body: ChatRequestBody) => ChatStep) | undefined;
  defaultReply: string;
  /** Empties the queues and the log, and forgets the responder. */
  reset(): void;
  close(): Promise<void>;
}

export interface ChatRequestBody {
  model?: string;
  messages?: { role: string; content: string }[];
  stream?: boolean;
  response_format?: { type: string };
  [key: string]: unknown;
}

/** The vector the server answers for `text` by default: deterministic, unit length. */
export function fakeVector(text: string, dimension: number): number[] {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  const vector: number[] = [];
  for (let i = 0; i < dimension; i++) {
    h = Math.imul(h ^ (h >>> 15), 2246822519) >>> 0;
    vector.push((h / 2 ** 32) * 2 - 1);
  }
  const norm = Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0)) || 1;
  return vector.map((v) => v / norm);
}

/** The gateway's settings for embedding through `server` (8 dimensions, the tests' worker setup). */
export function openAiEmbedderEnv(server: Pick<OpenAiTestServer, 'url'>): Record<string, string> {
  return {
    EMBEDDING_PROVIDER: 'openai',
    EMBEDDING_BASE_URL: server.url,
    EMBEDDING_MODEL: 'test-embedder',
    EMBEDDING_DIMENSION: '8',
  };
}

export async function startOpenAiServer(
  options: { dimension?: number } = {},
): Promise<OpenAiTestServer> {
  const dimension = options.dimension ?? 8;
  const chatQueue: ChatStep[] = [];
  const embeddingQueue: EmbeddingStep[] = [];
  const requests: RecordedRequest[] = [];
  let counter = 0;

  const state: OpenAiTestServer = {
    url: '',
    requests,
    requestsTo: (endpoint) =>
      requests.filter((r) =>
        endpoint === 'chat' ? r.path.endsWith('/chat/completions') : r.path.endsWith('/embeddings'),
      ),
    enqueueChat: (...steps) => chatQueue.push(...steps),
    enqueueEmbeddings: (...steps) => embeddingQueue.push(...steps),
    chatResponder: undefined,
    defaultReply: 'Hello from the test model.',
    reset: () => {
      chatQueue.length = 0;
      embeddingQueue.length = 0;
      requests.length = 0;
      state.chatResponder = undefined;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, String(error));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    let body: unknown = raw;
    try {
      body = JSON.parse(raw);
    } catch {
      // Keep the raw text in the log.
    }
    const path = req.url ?? '/';
    requests.push({
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      body,
      at: Date.now(),
    });
    if (req.method === 'POST' && path === '/v1/chat/completions') {
      const request = (typeof body === 'object' && body !== null ? body : {}) as ChatRequestBody;
      const step = chatQueue.shift() ??
        state.chatResponder?.(request) ?? { reply: state.defaultReply };
      await answerChat(res, request, step);
      return;
    }
    if (req.method === 'POST' && path === '/v1/embeddings') {
      const step = embeddingQueue.shift() ?? {};
      await answerEmbeddings(res, body, step);
      return;
    }
    sendError(res, 404, `no route ${req.method} ${path}`);
  }

  /** Handles the failure steps; returns true when the request was answered by one. */
  function fail(res: ServerResponse, step: ChatStep | EmbeddingStep): boolean {
    if ('hang' in step) return true;
    if ('destroy' in step) {
      res.socket?.destroy();
      return true;
    }
    if ('malformed' in step) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"choices": [ this is not json');
      return true;
    }
    if ('status' in step) {
      const headers: Record<string, string> = {};
      if (step.retryAfter !== undefined) headers['retry-after'] = String(step.retryAfter);
      sendError(res, step.status, step.message ?? `scripted failure ${step.status}`, headers);
      return true;
    }
    return false;
  }

  async function answerChat(res: ServerResponse, request: ChatRequestBody, step: ChatStep) {
    if (fail(res, step)) return;
    if ('delayMs' in step && step.delayMs) await sleep(step.delayMs);
    const text = 'json' in step ? JSON.stringify(step.json) : 'reply' in step ? step.reply : '';
    const id = `chatcmpl-test${++counter}`;
    const created = Math.floor(Date.now() / 1000);
    const model = request.model ?? 'test-model';
    if (!request.stream) {
      sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text, refusal: null },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage: {
          prompt_tokens: 10,
          completion_tokens: countWords(text),
          total_tokens: 10 + countWords(text),
        },
        system_fingerprint: 'fp_test',
      });
      return;
    }
    const streamStep = 'reply' in step ? step : { reply: text };
    const tokens = streamStep.tokens ?? text.match(/\S+\s*/g) ?? [];
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        system_fingerprint: 'fp_test',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      });
    const write = (bytes: Uint8Array) =>
      new Promise<void>((resolve) => {
        res.write(bytes, () => resolve());
      });
    const send = async (data: string) => {
      const bytes = Buffer.from(`data: ${data}\n\n`, 'utf8');
      if (!('splitWrites' in streamStep && streamStep.splitWrites)) {
        await write(bytes);
        return;
      }
      for (let i = 0; i < bytes.length; i += 5) {
        await write(bytes.subarray(i, i + 5));
        await sleep(1);
      }
    };
    await send(chunk({ role: 'assistant', content: '', refusal: null }, null));
    const tokenDelay = 'tokenDelayMs' in streamStep ? (streamStep.tokenDelayMs ?? 0) : 0;
    const dropAfter = 'dropAfterTokens' in streamStep ? streamStep.dropAfterTokens : undefined;
    for (const [i, token] of tokens.entries()) {
      if (dropAfter !== undefined && i >= dropAfter) {
        await sleep(20); // let the client read what was sent before the connection drops
        res.socket?.destroy();
        return;
      }
      if (tokenDelay) await sleep(tokenDelay);
      if (res.destroyed) return;
      await send(chunk({ content: token }, null));
    }
    await send(chunk({}, 'stop'));
    await send('[DONE]');
    res.end();
  }

  async function answerEmbeddings(res: ServerResponse, body: unknown, step: EmbeddingStep) {
    if (fail(res, step)) return;
    if ('delayMs' in step && step.delayMs) await sleep(step.delayMs);
    const input = (body as { input?: unknown }).input;
    const texts =
      typeof input === 'string' ? [input] : Array.isArray(input) ? input.map(String) : [];
    const size = ('dimension' in step ? step.dimension : undefined) ?? dimension;
    const data = texts.map((text, index) => ({
      object: 'embedding',
      index,
      embedding: fakeVector(text, size),
    }));
    if ('reverse' in step && step.reverse) data.reverse();
    const model = (body as { model?: unknown }).model;
    sendJson(res, 200, {
      object: 'list',
      data,
      model: typeof model === 'string' ? model : 'test-embedding',
      usage: { prompt_tokens: texts.length, total_tokens: texts.length },
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `http://127.0.0.1:${port}/v1`;
  return state;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

function sendError(res: ServerResponse, status: number, message: string, headers = {}) {
  sendJson(
    res,
    status,
    {
      error: {
        message,
        type: status === 429 ? 'rate_limit_exceeded' : 'server_error',
        param: null,
        code: null,
      },
    },
    headers,
  );
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}
