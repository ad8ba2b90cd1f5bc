/**
 * The HTTP plumbing of the OpenAI-compatible providers: one request with a timeout tied to the
 * caller's signal (`openRequest`), and a retry loop with exponential backoff and full jitter that
 * honours Retry-After (`withRetries`). Failures are `HttpFailure`s with a `kind`; only timeouts,
 * network errors, 429 and 5xx are retryable, and a caller's abort never is.
 */
import { setTimeout as delay } from 'node:timers/promises';

type HttpFailureKind = 'timeout' | 'network' | 'status' | 'aborted' | 'protocol';

export class HttpFailure extends Error {
  override readonly name = 'HttpFailure';

  constructor(
    message: string,
    readonly kind: HttpFailureKind,
    readonly status?: number,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get retryable(): boolean {
    if (this.kind === 'timeout' || this.kind === 'network') return true;
    if (this.kind !== 'status' || this.status === undefined) return false;
    return this.status === 429 || this.status === 408 || this.status >= 500;
  }
}

interface RequestOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** An open response whose body is still governed by the request's timeout until `close()`. */
export interface OpenResponse {
  response: Response;
  /** Aborted on timeout or by the caller; pass it to nothing else, read the body with `readText`. */
  signal: AbortSignal;
  /** Restart the timeout (streams call it on every chunk: an idle timeout). */
  touch(): void;
  /** Stop the timer; call once the body is read or abandoned. */
  close(): void;
  /** Turn an error thrown while reading the body into an HttpFailure. */
  classify(error: unknown): HttpFailure;
}

/**
 * Sends one request. Resolves once a 2xx status and headers have arrived; throws HttpFailure on a
 * non-2xx status (with the start of the error body), on timeout, network error or caller abort.
 */
export async function openRequest(
  url: string,
  init: { method: 'POST' | 'GET'; headers: Record<string, string>; body?: string },
  options: RequestOptions,
): Promise<OpenResponse> {
  const timer = new AbortController();
  let handle: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    if (handle !== undefined) clearTimeout(handle);
    handle = setTimeout(() => timer.abort(new Error('timeout')), options.timeoutMs);
  };
  const close = () => {
    if (handle !== undefined) clearTimeout(handle);
    handle = undefined;
  };
  const signal = options.signal ? AbortSignal.any([timer.signal, options.signal]) : timer.signal;
  const classify = (error: unknown): HttpFailure => {
    if (error instanceof HttpFailure) return error;
    if (options.signal?.aborted) {
      return new HttpFailure('request aborted by the caller', 'aborted', undefined, undefined, {
        cause: error,
      });
    }
    if (timer.signal.aborted) {
      return new HttpFailure(`no answer from ${url} within ${options.timeoutMs} ms`, 'timeout');
    }
    const detail = error instanceof Error ? (describeCause(error) ?? error.message) : String(error);
    return new HttpFailure(`request to ${url} failed: ${detail}`, 'network', undefined, undefined, {
      cause: error,
    });
  };

  if (options.signal?.aborted) throw new HttpFailure('request aborted by the caller', 'aborted');
  arm();
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal });
  } catch (error) {
    close();
    throw classify(error);
  }
  if (!response.ok) {
    let text = '';
    try {
      text = (await response.text()).slice(0, 500);
    } catch {
      // The status is what matters; an unreadable error body is not worth a second failure.
    }
    close();
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    throw new HttpFailure(
      `${url} answered ${response.status}${text ? `: ${errorMessage(text)}` : ''}`,
      'status',
      response.status,
      retryAfterMs,
    );
  }
  return { response, signal, touch: arm, close, classify };
}

/** Reads a JSON body under the request's timeout; a body that is not JSON is a protocol failure. */
export async function readJson(open: OpenResponse, url: string): Promise<unknown> {
  let text: string;
  try {
    text = await open.response.text();
  } catch (error) {
    throw open.classify(error);
  } finally {
    open.close();
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpFailure(
      `${url} answered with a body that is not JSON: ${JSON.stringify(text.slice(0, 80))}`,
      'protocol',
      undefined,
      undefined,
      { cause: error },
    );
  }
}

interface RetryOptions {
  /** Retries after the first attempt (0 = one attempt only). */
  maxRetries: number;
  signal?: AbortSignal | undefined;
  /** First backoff step; doubles per attempt, with full jitter. */
  baseDelayMs?: number;
  /** Cap for one backoff step and for a server's Retry-After. */
  maxDelayMs?: number;
}

/** Runs `attempt` until it succeeds, a failure is not retryable, or the retries are spent. */
export async function withRetries<T>(
  attempt: (n: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const base = options.baseDelayMs ?? 300;
  const cap = options.maxDelayMs ?? 20_000;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!(error instanceof HttpFailure) || !error.retryable || n >= options.maxRetries) {
        throw error;
      }
      const backoff = Math.random() * Math.min(cap, base * 2 ** n);
      const delay =
        error.retryAfterMs !== undefined ? Math.min(cap, Math.max(error.retryAfterMs, 0)) : backoff;
      await sleep(delay, options.signal);
    }
  }
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch {
    throw new HttpFailure('request aborted by the caller', 'aborted');
  }
}

/** OpenAI-style `{ error: { message } }` bodies read better as their message. */
function errorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string };
    if (typeof parsed.error === 'string') return parsed.error;
    if (typeof parsed.error?.message === 'string') return parsed.error.message;
  } catch {
    // Not JSON: show it as it came.
  }
  return text;
}

/** undici wraps the useful part (ECONNREFUSED, ...) in `cause`. */
function describeCause(error: Error): string | undefined {
  const cause = error.cause;
  if (cause instanceof Error) return `${error.message} (${cause.message})`;
  return undefined;
}
