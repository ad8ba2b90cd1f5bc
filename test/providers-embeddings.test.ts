import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createEmbedder,
  EmbeddingError,
  LocalEmbedder,
  OpenAIEmbedder,
} from '../src/providers/index.js';
import { fakeVector, type OpenAiTestServer, startOpenAiServer } from './support/openai-server.js';

const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const cosine = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);

describe('LocalEmbedder', () => {
  const embedder = new LocalEmbedder();

  it('gives the same unit vector for the same text, of the configured size', async () => {
    const [a, b] = await embedder.embed([
      'The lighthouse keeper climbed the stairs.',
      'The lighthouse keeper climbed the stairs.',
    ]);
    expect(a).toHaveLength(384);
    expect(a).toEqual(b);
    expect(norm(a!)).toBeCloseTo(1, 10);
    expect(new LocalEmbedder(64).embedOne('hello world')).toHaveLength(64);
  });

  it('ignores case, diacritics and punctuation', () => {
    expect(embedder.embedOne('Café, NAÏVE résumé!')).toEqual(
      embedder.embedOne('cafe naive resume'),
    );
  });

  it('puts related texts closer than unrelated ones', () => {
    const query = embedder.embedOne('Where did Mira hide the brass key of the lighthouse?');
    const related = embedder.embedOne('Mira hid the brass key under the lighthouse stairs.');
    const unrelated = embedder.embedOne(
      'The merchant sold apples and barley at the autumn market.',
    );
    expect(cosine(query, related)).toBeGreaterThan(cosine(query, unrelated) + 0.2);
  });

  it('counts word order through word pairs', () => {
    const a = embedder.embedOne('dog bites man');
    expect(cosine(a, embedder.embedOne('man bites dog'))).toBeLessThan(0.999);
    expect(cosine(a, embedder.embedOne('dog bites man'))).toBeCloseTo(1, 10);
  });

  it('gives the zero vector for text with no words', () => {
    const v = embedder.embedOne(' ... !? ');
    expect(v.every((x) => x === 0)).toBe(true);
  });
});

describe('OpenAIEmbedder over HTTP', () => {
  let server: OpenAiTestServer;
  const make = (options: Partial<ConstructorParameters<typeof OpenAIEmbedder>[0]> = {}) =>
    new OpenAIEmbedder({
      baseUrl: server.url,
      apiKey: 'sk-test',
      model: 'test-embed',
      dimension: 8,
      retryBaseDelayMs: 5,
      timeoutMs: 2_000,
      ...options,
    });

  beforeAll(async () => {
    server = await startOpenAiServer({ dimension: 8 });
  });
  afterAll(() => server.close());
  beforeEach(() => server.reset());

  it('batches the inputs and returns vectors in input order', async () => {
    const texts = Array.from({ length: 7 }, (_, i) => `text number ${i}`);
    server.enqueueEmbeddings({ reverse: true }, { reverse: true }, {});
    const vectors = await make({ batchSize: 3 }).embed(texts);
    expect(vectors).toEqual(texts.map((t) => fakeVector(t, 8)));
    const calls = server.requestsTo('embeddings');
    expect(calls.map((c) => (c.body as { input: string[] }).input.length)).toEqual([3, 3, 1]);
    expect(calls[0]?.body).toMatchObject({ model: 'test-embed', encoding_format: 'float' });
    expect(calls[0]?.headers.authorization).toBe('Bearer sk-test');
  });

  it('makes no request for no texts', async () => {
    expect(await make().embed([])).toEqual([]);
    expect(server.requests).toHaveLength(0);
  });

  it('retries 429 (honouring Retry-After) and 500, then succeeds', async () => {
    server.enqueueEmbeddings({ status: 429, retryAfter: 0.3 }, { status: 500 });
    const started = Date.now();
    const [v] = await make({ maxRetries: 3 }).embed(['retry me']);
    expect(v).toEqual(fakeVector('retry me', 8));
    expect(server.requestsTo('embeddings')).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
  });

  it('gives up after maxRetries with a typed status error', async () => {
    server.enqueueEmbeddings({ status: 503 }, { status: 503 }, { status: 503 });
    const error = await make({ maxRetries: 1 })
      .embed(['x'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmbeddingError);
    expect(error).toMatchObject({ code: 'status', status: 503 });
    expect(server.requestsTo('embeddings')).toHaveLength(2);
  });

  it('does not retry a 400', async () => {
    server.enqueueEmbeddings({ status: 400, message: 'bad model' });
    await expect(make({ maxRetries: 3 }).embed(['x'])).rejects.toThrow(/400: bad model/);
    expect(server.requestsTo('embeddings')).toHaveLength(1);
  });

  it('times out a hanging request', async () => {
    server.enqueueEmbeddings({ hang: true });
    const error = await make({ timeoutMs: 150, maxRetries: 0 })
      .embed(['x'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmbeddingError);
    expect(error).toMatchObject({ code: 'timeout' });
  });

  it('retries after a timeout', async () => {
    server.enqueueEmbeddings({ hang: true });
    const [v] = await make({ timeoutMs: 150, maxRetries: 1 }).embed(['again']);
    expect(v).toEqual(fakeVector('again', 8));
  });

  it('rejects vectors of the wrong size with a clear error', async () => {
    server.enqueueEmbeddings({ dimension: 5 });
    await expect(make().embed(['x'])).rejects.toMatchObject({
      code: 'dimension_mismatch',
      message: expect.stringMatching(/size 5.*EMBEDDING_DIMENSION is 8/),
    });
  });

  it('reports a malformed body as bad_response', async () => {
    server.enqueueEmbeddings({ malformed: true });
    await expect(make().embed(['x'])).rejects.toMatchObject({ code: 'bad_response' });
  });

  it('reports a refused connection as a network error', async () => {
    const embedder = make({ baseUrl: 'http://127.0.0.1:9/v1', maxRetries: 0 });
    await expect(embedder.embed(['x'])).rejects.toMatchObject({ code: 'network' });
  });

  it('stops when the caller aborts', async () => {
    server.enqueueEmbeddings({ hang: true });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(
      make({ timeoutMs: 5_000 }).embed(['x'], { signal: controller.signal }),
    ).rejects.toMatchObject({ code: 'aborted' });
  });

  it('is what createEmbedder builds for provider openai', async () => {
    const embedder = createEmbedder({
      provider: 'openai',
      baseUrl: server.url,
      model: 'm',
      dimension: 8,
    });
    expect(embedder.kind).toBe('openai');
    expect(await embedder.embed(['a'])).toEqual([fakeVector('a', 8)]);
    expect(createEmbedder({ provider: 'local', dimension: 32 }).dimension).toBe(32);
  });
});
