import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { useBodyLimit } from '../src/security/body-limit.js';

/**
 * The body limit on its own, in front of a one-field schema: the body is read once, bounded and
 * checked for UTF-8 whether or not Content-Length is given, however it is split into chunks.
 */
const LIMIT = 200;
const app = createYoga({
  schema: createSchema({
    typeDefs: 'type Query { echo(text: String!): String! }',
    resolvers: { Query: { echo: (_: unknown, args: { text: string }) => args.text } },
  }),
  maxRequestBodySize: false,
  plugins: [useBodyLimit(LIMIT)],
});

const encode = (text: string) => new TextEncoder().encode(text);
const body = (text: string) =>
  encode(
    JSON.stringify({ query: 'query ($t: String!) { echo(text: $t) }', variables: { t: text } }),
  );

/** Sends `bytes` in the given chunk sizes, with or without a Content-Length. */
async function send(
  bytes: Uint8Array,
  options: { chunks?: number[]; length?: string | null } = {},
) {
  const sizes = options.chunks ?? [bytes.byteLength];
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      let at = 0;
      for (const n of sizes) {
        controller.enqueue(bytes.subarray(at, at + n));
        at += n;
      }
      if (at < bytes.byteLength) controller.enqueue(bytes.subarray(at));
      controller.close();
    },
  });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const length = options.length === undefined ? String(bytes.byteLength) : options.length;
  if (length !== null) headers['content-length'] = length;
  const res = await app.fetch('http://gateway.test/graphql', {
    method: 'POST',
    headers,
    body: stream,
    duplex: 'half',
  } as RequestInit);
  return { status: res.status, body: (await res.json()) as any };
}

describe('the request body limit', () => {
  const text = 'naïve café — ☕ 𝄞';

  it('hands on a body within the limit unchanged, a character split across chunks included', async () => {
    const bytes = body(text);
    const split = bytes.indexOf(0xf0) + 2; // inside the four bytes of 𝄞
    for (const length of [undefined, null]) {
      const res = await send(bytes, { chunks: [split], length });
      expect(res.status).toBe(200);
      expect(res.body.data.echo).toBe(text);
    }
  });

  it('refuses a body over the limit with 413, declared or not', async () => {
    const bytes = body('x'.repeat(LIMIT));
    expect((await send(bytes)).status).toBe(413);
    const chunked = await send(bytes, { chunks: [50, 50, 50], length: null });
    expect(chunked.status).toBe(413);
    expect(chunked.body.errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    // More bytes than it declared, past the limit, is refused too.
    const lying = await send(bytes, { chunks: [50, 50], length: '60' });
    expect(lying.status).toBe(413);
  });

  it('refuses invalid UTF-8 with 400, also when the bad bytes straddle two chunks', async () => {
    const [head, tail] = new TextDecoder().decode(body('@@')).split('@@');
    const bytes = new Uint8Array([...encode(head!), 0xe2, 0x82, 0x28, ...encode(tail!)]);
    for (const length of [undefined, null]) {
      const res = await send(bytes, { chunks: [encode(head!).byteLength + 1], length });
      expect(res.status).toBe(400);
      expect(res.body.errors[0].extensions.code).toBe('BAD_REQUEST');
    }
  });

  it('refuses a Content-Length that is not one number with 400', async () => {
    const bytes = body('hi');
    const res = await send(bytes, { length: `${bytes.byteLength}, ${bytes.byteLength}` });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('accepts a body shorter or longer than it declared, within the limit, as it arrived', async () => {
    const bytes = body(text);
    for (const length of [String(bytes.byteLength + 20), String(bytes.byteLength - 20)]) {
      const res = await send(bytes, { chunks: [10, 30], length });
      expect(res.status).toBe(200);
      expect(res.body.data.echo).toBe(text);
    }
  });
});
