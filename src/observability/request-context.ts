import { AsyncLocalStorage } from 'node:async_hooks';
import type { Span } from '@opentelemetry/api';

/**
 * What is known about the request being handled, for every log line written while handling it
 * (the logger's mixin reads it) and for the request's metrics. Filled in as the request goes:
 * the id first, then the viewer and the operation once the context is built and the document
 * parsed. Never holds tokens, variables or message contents.
 */
export interface RequestInfo {
  requestId: string;
  startedAt: number;
  viewerId?: string | undefined;
  operationName?: string | undefined;
  operationType?: string | undefined;
  /** The bounded label metrics use for the operation (see `operationLabel`). */
  operation?: string | undefined;
  /** Error codes of the response's errors, in order. */
  errorCodes: string[];
  /** The request's server span, when tracing is on. */
  span?: Span | undefined;
}

export const requestContext = new AsyncLocalStorage<RequestInfo>();

export function currentRequest(): RequestInfo | undefined {
  return requestContext.getStore();
}

/** The fields each log line carries while a request is handled. */
export function requestLogFields(): Record<string, unknown> {
  const info = requestContext.getStore();
  if (!info) return {};
  return {
    requestId: info.requestId,
    ...(info.viewerId ? { viewerId: info.viewerId } : {}),
    ...(info.operationName ? { operationName: info.operationName } : {}),
  };
}
