import { StoreUnavailable } from './errors.js';
import type { StoreCallCounter, StoreName } from './metrics.js';

/**
 * One call to a store through its official client: timed and counted, and a transport failure
 * (no answer, a timeout, a 5xx) turned into StoreUnavailable; the store's own answers (404,
 * 400, …) pass through for the caller to read.
 */
export function callStore<T>(
  counter: StoreCallCounter,
  store: StoreName,
  op: string,
  fn: () => Promise<T>,
): Promise<T> {
  return counter.time(store, op, async () => {
    try {
      return await fn();
    } catch (err) {
      throw isTransportError(err) ? new StoreUnavailable(store, err) : err;
    }
  });
}

function isTransportError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // The Qdrant client reports an HTTP status as `status`, the Typesense client as `httpStatus`.
  const { status, httpStatus } = err as { status?: unknown; httpStatus?: unknown };
  const code = typeof status === 'number' ? status : httpStatus;
  if (typeof code === 'number') return code >= 500;
  return /fetch failed|ECONNREFUSED|ECONNRESET|timeout|aborted|socket|Network Error/i.test(
    `${err.name} ${err.message} ${String((err as { cause?: unknown }).cause ?? '')}`,
  );
}
