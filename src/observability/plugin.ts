import { randomUUID } from 'node:crypto';
import { type DocumentNode, type ExecutionResult, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../context.js';
import { OPS_PATHS } from '../http/endpoints.js';
import type { Lifecycle } from '../http/lifecycle.js';
import type { Logger } from '../logger.js';
import { errorResponse } from '../security/errors.js';
import { isAsyncIterable } from '../util/async-iterable.js';
import type { GatewayMetrics } from './metrics.js';
import { operationLabel, rootFields, selectOperation } from './operation.js';
import { currentRequest, type RequestInfo, requestContext } from './request-context.js';
import type { Tracing } from './tracing.js';

const REQUEST_ID_RE = /^[A-Za-z0-9._-]{8,64}$/;

interface ObservabilityOptions {
  logger: Logger;
  metrics: GatewayMetrics | null;
  lifecycle: Lifecycle;
  tracing: Tracing | null;
  knownOperations: ReadonlySet<string>;
  graphqlEndpoint: string;
}

/**
 * Per request: an id (the client's `x-request-id` when well-formed, else a new one; echoed in the
 * response), the request's info in async-local storage for every log line, a server span when
 * tracing is on, and at the end one log line and the request metrics (by operation, type, status,
 * error code). Also: while draining, GraphQL requests get 503; the operations in flight are
 * counted for the drain; errors that reach the client without a code get one.
 */
export function useObservability(options: ObservabilityOptions): Plugin<Context> {
  const { logger, metrics, lifecycle, tracing, knownOperations, graphqlEndpoint } = options;
  const byRequest = new WeakMap<Request, RequestInfo>();

  const annotate = (args: {
    document: DocumentNode;
    operationName?: string | null | undefined;
    contextValue: Context;
  }) =>
    noteOperation(args.document, args.operationName, args.contextValue.viewer?.id, knownOperations);

  return {
    instrumentation: {
      request: ({ request }, wrapped) => inRequestContext(request, byRequest, tracing, wrapped),
    },

    onRequest({ request, url, endResponse }) {
      const info = currentRequest();
      if (info && request.headers.get('x-request-id') !== info.requestId) {
        // So the context factory adopts the same id.
        try {
          request.headers.set('x-request-id', info.requestId);
        } catch {
          // Immutable headers: the context makes its own id; the response still carries ours.
        }
      }
      if (lifecycle.isDraining && url.pathname === graphqlEndpoint) {
        endResponse(
          errorResponse('SERVICE_UNAVAILABLE', 'The gateway is shutting down; retry shortly', {
            connection: 'close',
            'retry-after': '1',
          }),
        );
      }
    },

    onContextBuilding() {
      return ({ context }) => {
        const info = currentRequest();
        const ctx = context as unknown as Partial<Context>;
        if (info && ctx.requestId) info.requestId = ctx.requestId;
        if (info && ctx.viewer) info.viewerId = ctx.viewer.id;
      };
    },

    onExecute({ args }) {
      annotate(args);
      const end = lifecycle.begin();
      return {
        onExecuteDone({ result }) {
          if (isAsyncIterable(result)) return { onEnd: end };
          end();
          return undefined;
        },
      };
    },

    onSubscribe({ args }) {
      const fields = annotate(args);
      // Chat-turn streams are waited for on shutdown; progress subscriptions never end by themselves.
      if (!fields.includes('sendMessageStream')) return;
      const end = lifecycle.begin();
      return {
        onSubscribeResult({ result }) {
          if (isAsyncIterable(result)) return { onEnd: end };
          end();
          return undefined;
        },
      };
    },

    onResultProcess({ result, setResult }) {
      if (isAsyncIterable(result)) return;
      const info = currentRequest();
      const fix = (r: ExecutionResult): ExecutionResult => {
        if (!r.errors?.length) return r;
        const errors = r.errors.map(withCode);
        if (info) info.errorCodes.push(...errors.map((e) => String(e.extensions.code)));
        return { ...r, errors };
      };
      setResult(Array.isArray(result) ? result.map(fix) : fix(result));
    },

    onResponse: ({ request, response, setResponse }) =>
      reportResponse(request, response, setResponse, byRequest.get(request) ?? currentRequest(), {
        logger,
        metrics,
        graphqlEndpoint,
      }),
  };
}

/**
 * Records the operation and viewer of the request being handled, for its log line and metrics;
 * returns the operation's root fields. Execution does it for every operation; a plugin that
 * answers a request before execution (the chat page cache) calls it too, so the answer is counted
 * and logged as the same operation.
 */
export function noteOperation(
  document: DocumentNode,
  operationName: string | null | undefined,
  viewerId: string | undefined,
  knownOperations: ReadonlySet<string>,
): string[] {
  const info = currentRequest();
  const operation = selectOperation(document, operationName);
  if (info) {
    info.viewerId = viewerId;
    if (operation) {
      info.operationName = operation.name?.value;
      info.operationType = operation.operation;
      info.operation = operationLabel(document, operation, knownOperations);
    }
  }
  return operation ? rootFields(document, operation) : [];
}

/** Runs the request with its info (id, start) in async-local storage, in a span when tracing. */
function inRequestContext<T>(
  request: Request,
  byRequest: WeakMap<Request, RequestInfo>,
  tracing: Tracing | null,
  wrapped: () => T,
): T {
  const given = request.headers.get('x-request-id');
  const info: RequestInfo = {
    requestId: given && REQUEST_ID_RE.test(given) ? given : randomUUID(),
    startedAt: performance.now(),
    errorCodes: [],
  };
  byRequest.set(request, info);
  const run = () => requestContext.run(info, wrapped);
  if (!tracing) return run();
  const path = new URL(request.url).pathname;
  return tracing.inRequestSpan(request, `${request.method} ${path}`, (span) => {
    info.span = span;
    return run();
  });
}

/** The request's end: the error code of a bare 415, the id header, the metrics, span and log line. */
function reportResponse(
  request: Request,
  response: Response,
  setResponse: (response: Response) => void,
  info: RequestInfo | undefined,
  options: Pick<ObservabilityOptions, 'logger' | 'metrics' | 'graphqlEndpoint'>,
): void {
  const { logger, metrics, graphqlEndpoint } = options;
  const path = new URL(request.url).pathname;
  let res = response;
  if (res.status === 415 && !res.body) {
    res = errorResponse(
      'UNSUPPORTED_MEDIA_TYPE',
      'Send GraphQL requests as application/json (or GET with a query string)',
    );
    setResponse(res);
  }
  if (!info) return;
  const builtHere = STATUS_CODES[res.status];
  if (builtHere && info.errorCodes.length === 0) info.errorCodes.push(builtHere);
  try {
    res.headers.set('x-request-id', info.requestId);
  } catch {
    // A response with immutable headers keeps its own.
  }
  const ms = performance.now() - info.startedAt;
  if (OPS_PATHS.has(path)) {
    info.span?.end();
    return;
  }
  const isGraphql = path === graphqlEndpoint;
  const operation =
    info.operation ??
    (!isGraphql ? 'other' : isGraphiqlPage(request, res) ? 'graphiql' : 'invalid');
  const type = info.operationType ?? 'none';
  const status = String(res.status);
  if (metrics && isGraphql) {
    metrics.requests.inc({ operation, type, status });
    metrics.requestDuration.observe({ operation, type }, ms / 1000);
    for (const code of info.errorCodes) metrics.errors.inc({ operation, code });
  }
  if (info.span) {
    info.span.setAttributes({
      'http.response.status_code': res.status,
      ...(info.operationName ? { 'graphql.operation.name': info.operationName } : {}),
      ...(info.operationType ? { 'graphql.operation.type': info.operationType } : {}),
    });
    info.span.end();
  }
  requestContext.run(info, () => {
    logger.info(
      {
        method: request.method,
        path,
        operation,
        operationType: info.operationType,
        status: res.status,
        durationMs: Math.round(ms * 10) / 10,
        ...(info.errorCodes.length ? { errorCodes: info.errorCodes } : {}),
      },
      'request completed',
    );
  });
}

/** GraphiQL's HTML page, served at the GraphQL endpoint to a browser's GET. */
function isGraphiqlPage(request: Request, response: Response): boolean {
  return (
    request.method === 'GET' && (response.headers.get('content-type') ?? '').startsWith('text/html')
  );
}

/** Responses made before GraphQL handled the request (no result to read the code from). */
const STATUS_CODES: Record<number, string> = {
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  503: 'SERVICE_UNAVAILABLE',
};

const CSRF_MESSAGE = 'Required CSRF header(s) not present';

/** Gives an error without `extensions.code` the code its kind documents. */
export function withCode(error: GraphQLError): GraphQLError {
  if (error.extensions?.code) return error;
  const http = error.extensions?.http as { status?: number } | undefined;
  let code = 'INTERNAL_SERVER_ERROR';
  let status = http?.status;
  if (error.message === CSRF_MESSAGE) {
    code = 'CSRF_HEADER_REQUIRED';
    status = 403;
  } else if (error.message.startsWith('Variable "$')) {
    code = 'BAD_USER_INPUT';
    status = 400;
  } else if (status !== undefined && status >= 400 && status < 500) {
    code = 'BAD_REQUEST';
  }
  return new GraphQLError(error.message, {
    nodes: error.nodes ?? null,
    source: error.source ?? null,
    positions: error.positions ?? null,
    path: error.path ?? null,
    originalError: error.originalError ?? null,
    extensions: { ...error.extensions, code, ...(status ? { http: { ...http, status } } : {}) },
  });
}
