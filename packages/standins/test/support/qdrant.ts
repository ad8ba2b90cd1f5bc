import { QdrantClient } from '@qdrant/js-client-rest';
import { afterAll, beforeAll, expect } from 'vitest';
import {
  type QdrantStandIn,
  type QdrantStandInOptions,
  startQdrantStandIn,
} from '../../src/qdrant/server.js';

/** The official client pointed at a stand-in (no version handshake). */
export const connect = (url: string, extra: { apiKey?: string; timeout?: number } = {}) =>
  new QdrantClient({ url, checkCompatibility: false, ...extra });

export interface QdrantFixture {
  readonly standIn: QdrantStandIn;
  readonly client: QdrantClient;
}

/** One stand-in for the test file: started before the first test, closed after the last. */
export function useQdrantStandIn(options: QdrantStandInOptions = {}): QdrantFixture {
  let standIn: QdrantStandIn | undefined;
  let client: QdrantClient | undefined;
  beforeAll(async () => {
    standIn = await startQdrantStandIn(options);
    client = connect(standIn.url);
  });
  afterAll(async () => {
    await standIn?.close();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the Qdrant stand-in is not started yet');
    return v;
  };
  return {
    get standIn() {
      return started(standIn);
    },
    get client() {
      return started(client);
    },
  };
}

/** What the official client throws for a non-2xx answer: its status and body. */
export async function failure(p: Promise<unknown>): Promise<{ status: number; data: unknown }> {
  try {
    await p;
  } catch (e) {
    const err = e as { status?: number; data?: unknown };
    if (typeof err.status === 'number') return { status: err.status, data: err.data };
    throw e;
  }
  throw new Error('expected the request to fail');
}

/** The status and Qdrant's `status.error` text of a failed call. */
export async function failureText(p: Promise<unknown>): Promise<{ status: number; error: string }> {
  const { status, data } = await failure(p);
  const error = (data as { status?: { error?: string } } | undefined)?.status?.error ?? '';
  return { status, error };
}

/** Qdrant's error envelope. */
export const errorBody = (message: string) => ({
  status: { error: message },
  time: expect.any(Number),
});

/** A raw HTTP call: status and parsed JSON body (text when it is not JSON). */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}
