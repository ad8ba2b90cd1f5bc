import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../src/providers/http.js';
import { extractJson } from '../src/providers/json-output.js';
import { sseData } from '../src/providers/sse.js';

function streamOf(parts: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(part);
      controller.close();
    },
  });
}

async function events(parts: Uint8Array[]): Promise<string[]> {
  const out: string[] = [];
  for await (const data of sseData(streamOf(parts))) out.push(data);
  return out;
}

describe('sseData', () => {
  const wire =
    ': keep-alive comment\r\n' +
    'data: {"a":"é✓"}\r\n\r\n' +
    'event: message\nid: 7\ndata: line one\ndata: line two\n\n' +
    'data:[DONE]\n\n';
  const bytes = new TextEncoder().encode(wire);
  const expected = ['{"a":"é✓"}', 'line one\nline two', '[DONE]'];

  it('parses whole events', async () => {
    expect(await events([bytes])).toEqual(expected);
  });

  it('gives the same events for every split of the byte stream', async () => {
    for (let i = 1; i < bytes.length; i++) {
      for (const j of [i + 1, i + 3, bytes.length]) {
        if (j > bytes.length) continue;
        const parts = [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
        expect(await events(parts)).toEqual(expected);
      }
    }
  });

  it('keeps a last event with no closing blank line', async () => {
    expect(await events([new TextEncoder().encode('data: tail')])).toEqual(['tail']);
  });
});

describe('extractJson and parseRetryAfter', () => {
  it('finds JSON in plain, fenced and chatty answers', () => {
    expect(extractJson('{"a":1}')).toEqual({ a: 1 });
    expect(extractJson('Sure!\n```json\n{"a":2}\n```\nBye')).toEqual({ a: 2 });
    expect(extractJson('The answer is {"a":3}. Hope it helps')).toEqual({ a: 3 });
    expect(extractJson('no json here')).toBeUndefined();
  });

  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const inFive = new Date(Date.now() + 5000).toUTCString();
    expect(parseRetryAfter(inFive)).toBeGreaterThan(3000);
  });
});
