import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createLlm,
  LlmOutputError,
  LlmUnavailableError,
  LocalLlm,
  OpenAILlm,
} from '../src/providers/index.js';
import { type OpenAiTestServer, startOpenAiServer } from './support/openai-server.js';

const messages = [
  { role: 'system' as const, content: 'You are Mira.' },
  { role: 'user' as const, content: 'Hello?' },
];

async function collect(stream: AsyncIterable<string>): Promise<string[]> {
  const parts: string[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

describe('OpenAILlm over HTTP', () => {
  let server: OpenAiTestServer;
  const make = (options: Partial<ConstructorParameters<typeof OpenAILlm>[0]> = {}) =>
    new OpenAILlm({
      baseUrl: server.url,
      apiKey: 'sk-test',
      model: 'test-chat',
      retryBaseDelayMs: 5,
      timeoutMs: 2_000,
      ...options,
    });

  beforeAll(async () => {
    server = await startOpenAiServer();
  });
  afterAll(() => server.close());
  beforeEach(() => server.reset());

  it('completes a chat and sends the OpenAI request shape', async () => {
    server.enqueueChat({ reply: 'I am Mira of the lighthouse.' });
    const text = await make().complete({ messages, temperature: 0.2, maxTokens: 50 });
    expect(text).toBe('I am Mira of the lighthouse.');
    const [call] = server.requestsTo('chat');
    expect(call?.body).toEqual({ model: 'test-chat', messages, temperature: 0.2, max_tokens: 50 });
    expect(call?.headers.authorization).toBe('Bearer sk-test');
  });

  it('streams deltas that reassemble to the answer, across odd chunk boundaries', async () => {
    const reply = 'Ünïcödé words — and “quotes” survive ✓ byte splits.';
    server.enqueueChat({ reply, splitWrites: true });
    const parts = await collect(make().stream({ messages }));
    expect(parts.length).toBeGreaterThan(3);
    expect(parts.join('')).toBe(reply);
    expect(server.requestsTo('chat')[0]?.body).toMatchObject({ stream: true });
  });

  it('yields stream tokens as they arrive', async () => {
    server.enqueueChat({ reply: 'one two three', tokenDelayMs: 120 });
    const started = Date.now();
    const times: number[] = [];
    for await (const _ of make().stream({ messages })) times.push(Date.now() - started);
    expect(times).toHaveLength(3);
    expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(200);
  });

  it('retries 429 and 500 before the first token, then streams', async () => {
    server.enqueueChat({ status: 429, retryAfter: 0 }, { status: 500 }, { reply: 'at last' });
    expect((await collect(make({ maxRetries: 2 }).stream({ messages }))).join('')).toBe('at last');
    expect(server.requestsTo('chat')).toHaveLength(3);
  });

  it('retries a plain completion on 502', async () => {
    server.enqueueChat({ status: 502 }, { reply: 'fine' });
    expect(await make().complete({ messages })).toBe('fine');
  });

  it('does not retry once tokens were sent: a broken stream is LlmUnavailableError', async () => {
    server.enqueueChat({ reply: 'a b c d e', dropAfterTokens: 2 });
    const parts: string[] = [];
    const error = await (async () => {
      for await (const part of make({ maxRetries: 3 }).stream({ messages })) parts.push(part);
    })().catch((e: unknown) => e);
    expect(parts.join('')).toBe('a b ');
    expect(error).toBeInstanceOf(LlmUnavailableError);
    expect(server.requestsTo('chat')).toHaveLength(1);
  });

  it('times out a hanging server with LlmUnavailableError', async () => {
    server.enqueueChat({ hang: true });
    const error = await make({ timeoutMs: 150, maxRetries: 0 })
      .complete({ messages })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmUnavailableError);
    expect(error).toMatchObject({ code: 'timeout' });
  });

  it('times out a stream that stalls between tokens', async () => {
    server.enqueueChat({ reply: 'slow words here', tokenDelayMs: 400 });
    const error = await collect(make({ timeoutMs: 150, maxRetries: 0 }).stream({ messages })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LlmUnavailableError);
  });

  it('fails with LlmUnavailableError when nothing listens', async () => {
    const llm = make({ baseUrl: 'http://127.0.0.1:9/v1', maxRetries: 0 });
    await expect(llm.complete({ messages })).rejects.toBeInstanceOf(LlmUnavailableError);
    await expect(collect(llm.stream({ messages }))).rejects.toBeInstanceOf(LlmUnavailableError);
  });

  it('gives a 401 as LlmUnavailableError with its status, without retrying', async () => {
    server.enqueueChat({ status: 401, message: 'bad key' });
    await expect(make({ maxRetries: 3 }).complete({ messages })).rejects.toMatchObject({
      name: 'LlmUnavailableError',
      code: 'status',
      status: 401,
    });
    expect(server.requestsTo('chat')).toHaveLength(1);
  });

  describe('completeJson', () => {
    const schema = z.object({ narrative: z.string(), keywords: z.string() });

    it('asks for a JSON object and validates the answer', async () => {
      server.enqueueChat({ json: { narrative: 'the key', keywords: 'key lighthouse' } });
      const value = await make().completeJson({ messages }, schema);
      expect(value).toEqual({ narrative: 'the key', keywords: 'key lighthouse' });
      const body = server.requestsTo('chat')[0]?.body as Record<string, unknown>;
      expect(body.response_format).toEqual({ type: 'json_object' });
      expect(JSON.stringify(body.messages)).toMatch(/JSON/);
    });

    it('finds JSON inside a ```json fence and after a think block', async () => {
      server.enqueueChat({
        reply: '<think>hmm {no}</think>Here it is:\n```json\n{"narrative":"n","keywords":"k"}\n```',
      });
      expect(await make().completeJson({ messages }, schema)).toEqual({
        narrative: 'n',
        keywords: 'k',
      });
    });

    it('throws LlmOutputError for text that is not JSON', async () => {
      server.enqueueChat({ reply: 'Sorry, I cannot do that.' });
      await expect(make().completeJson({ messages }, schema)).rejects.toBeInstanceOf(
        LlmOutputError,
      );
    });

    it('throws LlmOutputError for JSON of the wrong shape', async () => {
      server.enqueueChat({ json: { narrative: 3 } });
      await expect(make().completeJson({ messages }, schema)).rejects.toThrow(
        /narrative: .*keywords: /,
      );
    });
  });

  it('createLlm builds the remote model', async () => {
    const llm = createLlm({ provider: 'openai', baseUrl: server.url, model: 'm' });
    expect(llm.kind).toBe('openai');
    expect(await llm.complete({ messages })).toBe(server.defaultReply);
    expect(() => createLlm({ provider: 'openai' })).toThrow(/baseUrl/);
  });
});

describe('LocalLlm (offline fallback)', () => {
  const llm = new LocalLlm();
  const passages = [
    {
      chunkIndex: 4,
      text: 'The storm came in from the west. Mira hid the brass key under the third stair of the lighthouse. Nobody saw her do it.',
    },
    { chunkIndex: 9, text: 'Tomas sold barley at the market every autumn, and he hated the cold.' },
  ];

  it('replies by quoting the passage sentence that answers, once', async () => {
    const reply = await llm.complete({
      messages,
      hints: {
        task: 'reply',
        characterName: 'Mira',
        passages,
        userMessage: 'Where is the brass key?',
      },
    });
    expect(reply).toContain('Mira hid the brass key under the third stair of the lighthouse.');
    expect(reply).not.toContain('barley');
    expect(reply.match(/“/g)).toHaveLength(1);
  });

  it('says the book does not tell when nothing matches', async () => {
    const reply = await llm.complete({
      messages,
      hints: {
        task: 'reply',
        characterName: 'Mira',
        passages,
        userMessage: 'What is quantum physics?',
      },
    });
    expect(reply).toMatch(/do not speak of that/);
    expect(reply).not.toMatch(/“/);
  });

  it('streams the same reply word by word, deterministically, paced or not', async () => {
    const request = {
      messages,
      hints: { task: 'reply' as const, characterName: 'Mira', passages, userMessage: 'the key?' },
    };
    const parts = await collect(llm.stream(request));
    expect(parts.length).toBeGreaterThan(5);
    expect(parts.join('')).toBe(await llm.complete(request));
    const paced = { ...request, hints: { ...request.hints, paced: true } };
    expect(await collect(new LocalLlm({ streamDelayMs: 1 }).stream(paced))).toEqual(parts);
  });

  it('summarises extractively', async () => {
    const text =
      'Mira kept the lighthouse. The lighthouse stood on the cliff. Mira loved the lighthouse light. Soup was served.';
    const summary = await llm.complete({
      messages: [{ role: 'user', content: text }],
      hints: { task: 'summary' },
    });
    expect(summary.length).toBeGreaterThan(0);
    for (const sentence of summary.split(/(?<=\.) /)) expect(text).toContain(sentence);
  });

  it('refuses JSON so callers use their deterministic path', async () => {
    await expect(llm.completeJson({ messages }, z.object({}))).rejects.toBeInstanceOf(
      LlmOutputError,
    );
  });
});
