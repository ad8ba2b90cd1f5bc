import autocannon from 'autocannon';

/** HTTP load and small statistics helpers for the benchmark (the load runs in the parent). */

export interface GqlRequest {
  query: string;
  variables?: Record<string, unknown>;
  token?: string;
  headers?: Record<string, string>;
}

export interface LoadResult {
  /** Successful (2xx, expected body) responses per second over the run. */
  rps: number;
  p50: number;
  p99: number;
  mean: number;
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  durationS: number;
}

export function headersFor(req: GqlRequest): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
    ...(req.token ? { authorization: `Bearer ${req.token}` } : {}),
    ...req.headers,
  };
}

export function bodyOf(req: GqlRequest): string {
  return JSON.stringify({ query: req.query, variables: req.variables ?? {} });
}

/** One request over HTTP; returns the status, the raw text and the parsed body. */
export async function post(url: string, req: GqlRequest, timeoutMs = 30_000) {
  const res = await fetch(url, {
    method: 'POST',
    headers: headersFor(req),
    body: bodyOf(req),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json: { data?: any; errors?: { message: string; extensions?: { code?: string } }[] } = {};
  try {
    json = JSON.parse(text);
  } catch {
    // Left empty: the caller sees no data.
  }
  return { status: res.status, text, json };
}

/** `post` that fails unless the answer is 200 with data and no errors. */
export async function postOk(url: string, req: GqlRequest, timeoutMs?: number) {
  const r = await post(url, req, timeoutMs);
  if (r.status !== 200 || r.json.errors || !r.json.data) {
    throw new Error(`request failed (${r.status}): ${r.text.slice(0, 500)}`);
  }
  return r;
}

/**
 * autocannon against `url` with one fixed request, for `durationS` seconds; every response must
 * equal `expectBody` (the probe's answer) or it is counted as a mismatch.
 */
export async function loadRun(options: {
  url: string;
  req: GqlRequest;
  connections: number;
  durationS: number;
  expectBody?: string;
  /** Make every request's document unique (a comment with a random id). */
  uniqueDocuments?: boolean;
}): Promise<LoadResult> {
  const req = options.uniqueDocuments
    ? { ...options.req, query: `${options.req.query}\n# [<id>]` }
    : options.req;
  const result = await autocannon({
    url: options.url,
    method: 'POST',
    headers: headersFor(req),
    body: bodyOf(req),
    ...(options.uniqueDocuments ? { idReplacement: true } : {}),
    connections: options.connections,
    pipelining: 1,
    duration: options.durationS,
    timeout: 10,
    ...(options.expectBody ? { expectBody: options.expectBody } : {}),
  });
  const good = result['2xx'] - result.mismatches;
  return {
    rps: round(good / result.duration, 1),
    p50: result.latency.p50,
    p99: result.latency.p99,
    mean: round(result.latency.mean, 2),
    requests: result.requests.total,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    mismatches: result.mismatches,
    durationS: result.duration,
  };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export { setTimeout as sleep } from 'node:timers/promises';
