import { readFileSync } from 'node:fs';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { type DocumentNode, Kind } from 'graphql';
import {
  createYoga,
  type Plugin,
  type YogaServerInstance,
  maskError as yogaMaskError,
} from 'graphql-yoga';
import { schema } from '../schema/index.js';
import { AUTH_MESSAGES } from './auth.js';
import { useChatPageCache } from './cache/chat-page-cache.js';
import { useCatalogResponseCache } from './cache/response-cache.js';
import { type Context, makeContextFactory } from './context.js';
import type { Deps } from './deps.js';
import { AppError } from './errors.js';
import { useOpsEndpoints } from './http/endpoints.js';
import { Lifecycle } from './http/lifecycle.js';
import { useMultipartSubscriptions } from './http/multipart-subscriptions.js';
import { Readiness } from './http/readiness.js';
import { useSseSingleConnectionRefusal } from './http/sse-single-connection.js';
import { GatewayMetrics } from './observability/metrics.js';
import { selectOperation } from './observability/operation.js';
import { noteOperation, useObservability } from './observability/plugin.js';
import type { Tracing } from './observability/tracing.js';
import { useResponseWarnings } from './observability/warnings.js';
import { useAutomaticPersistedQueries } from './security/apq.js';
import { useArgumentGuard } from './security/argument-guard.js';
import { useBodyLimit } from './security/body-limit.js';
import { CORS_CLOSED, corsPolicy } from './security/cors.js';
import { useTextGuard, useVariablesDepthLimit } from './security/input-guard.js';
import { limitSettings, useOperationLimits } from './security/limits.js';
import { useMissingTokenOverGet } from './security/missing-token.js';
import { useMultipartOnlyForUploads } from './security/multipart.js';
import { RateLimiter, useRateLimit } from './security/rate-limit.js';
import { useRequestParamsGuard } from './security/request-params.js';
import { useNoWritesOverGet } from './security/safe-methods.js';
import { useStreamsEndAtTokenExpiry } from './security/stream-expiry.js';
import { useSubscriptionAccept } from './security/subscription-accept.js';
import { loadTrustedDocuments, useTrustedDocuments } from './security/trusted-documents.js';
import { argumentChecks } from './services/argument-checks.js';

interface AppOptions {
  /** Pre-filled in GraphiQL's headers (embedded mode's development token). */
  graphiqlToken?: string;
  /** Variables for GraphiQL's example tabs (the demo book and session, when there is one). */
  examples?: { bookId?: string; sessionId?: string };
  /** Serving or draining (shutdown); made here when not given. */
  lifecycle?: Lifecycle;
  /** The in-process worker, for the in-flight jobs gauge. */
  worker?: { readonly inFlight: number } | null;
  tracing?: Tracing | null;
  /** Adds the process metrics (CPU, memory, event loop) to /metrics. */
  processMetrics?: boolean;
  /** More plugins, run after the gateway's own (benchmarks measure candidates this way). */
  plugins?: Plugin<Context>[];
}

export type App = YogaServerInstance<Record<string, unknown>, Context>;

/**
 * Builds the HTTP app (no listening here: tests call `app.fetch` in-process, `main.ts` serves it).
 * Error masking stays on: only AppErrors (stable `extensions.code`) reach clients unchanged.
 * In front of the schema, in order: request id, logs, metrics and tracing (src/observability);
 * /healthz, /readyz, /metrics (src/http); the body limit and UTF-8 check, the request parameters'
 * JSON, the variables depth limit, graphql-sse's single connection mode refused, a GET without a
 * token answered 401, CSRF prevention, trusted documents, introspection off in production,
 * automatic persisted queries, multipart for uploads only, the auth gate (and every stream ended
 * at its token's expiry), no writing subscription over GET, the subscription Accept check, multipart subscriptions for Apollo, the text guard, the
 * argument guard, the operation limits and the per-viewer rate limits (src/security). Everything
 * that refuses a request does so before execution. GraphQL over WebSocket (src/http/websocket.ts)
 * runs each operation through this same app.
 */
export function createApp(deps: Deps, options: AppOptions = {}): App {
  const { logger, config } = deps;
  const locks = deps.locks;
  const lifecycle = options.lifecycle ?? new Lifecycle(locks);
  const metrics = config.observability.metrics.enabled
    ? new GatewayMetrics({
        counter: deps.counter,
        queue: deps.queue,
        inFlightJobs: () => options.worker?.inFlight ?? 0,
        heldLocks: () => locks.size,
        inFlightOperations: () => lifecycle.inFlightOperations,
        processMetrics: options.processMetrics ?? false,
      })
    : null;
  const stopLockMetrics = metrics
    ? locks.onAcquire((ms) => metrics.observeLockWait(ms, ms > 0 ? 'waited' : 'immediate'))
    : () => {};
  const trusted = loadKnownDocuments(deps);
  const knownOperations: ReadonlySet<string> = trusted?.operationNames ?? new Set();
  const responseCache = useCatalogResponseCache(deps);
  const chatPageCache = useChatPageCache({
    auth: deps.auth,
    versions: deps.chatPages,
    invalidation: deps.invalidation,
    ttlMs: config.responseCacheTtlMs,
    onHit: (document, operationName, viewerId) =>
      noteOperation(document, operationName, viewerId, knownOperations),
  });
  const { security } = config;
  const graphqlEndpoint = '/graphql';
  if (security.cors.origins?.length === 0) logger.warn(CORS_CLOSED);
  return createYoga<Record<string, unknown>, Context>({
    schema,
    context: makeContextFactory(deps, {
      onSearchDegraded: (retriever) => metrics?.searchDegraded.inc({ retriever }),
    }),
    graphqlEndpoint,
    landingPage: false,
    // useBodyLimit below reads and bounds every body once; yoga's limiter would copy it again.
    maxRequestBodySize: false,
    cors: corsPolicy(security.cors),
    maskedErrors: {
      maskError(error, message, isDev) {
        const masked = yogaMaskError(error, message, isDev);
        // Errors meant for the client pass unchanged; only the ones masked are unexpected.
        if (masked !== error) logger.error({ err: error }, 'unexpected error');
        return masked;
      },
    },
    logging: {
      debug: (...args) => logger.debug(args.map(String).join(' ')),
      info: (...args) => logger.info(args.map(String).join(' ')),
      warn: (...args) => logger.warn(args.map(String).join(' ')),
      error: (...args) => logger.error(args.map(String).join(' ')),
    },
    graphiql: config.graphiql ? graphiqlOptions(options) : false,
    renderGraphiQL,
    plugins: [
      useObservability({
        logger,
        metrics,
        lifecycle,
        tracing: options.tracing ?? null,
        knownOperations,
        graphqlEndpoint,
      }),
      useOpsEndpoints({ config, lifecycle, readiness: new Readiness(deps), metrics }),
      useResponseWarnings(),
      // An upload's body holds the file and the operation beside it.
      useBodyLimit(security.bodyLimitBytes, config.uploads.maxBytes + security.bodyLimitBytes),
      useRequestParamsGuard(),
      useVariablesDepthLimit(),
      // A request that is not preflighted by browsers (GET, form, multipart or text/plain POST)
      // must carry a header no cross-site page can set without a preflight: the CSRF header, or
      // Authorization (not CORS-safelisted either, and every operation needs it anyway).
      useSseSingleConnectionRefusal(graphqlEndpoint),
      useMissingTokenOverGet(graphqlEndpoint),
      useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf', 'authorization'] }),
      ...(security.trustedDocuments && trusted
        ? [useTrustedDocuments(trusted)]
        : [useAutomaticPersistedQueries(deps.redis, deps.counter, security.apq, logger)]),
      ...(security.introspection ? [] : [useDisableIntrospection()]),
      useMultipartOnlyForUploads(),
      useAuthGate(),
      useStreamsEndAtTokenExpiry(),
      useNoWritesOverGet(),
      useSubscriptionAccept(),
      useMultipartSubscriptions(),
      useTextGuard(),
      useArgumentGuard(argumentChecks(config)),
      ...useOperationLimits(limitSettings(config), selectOperation),
      ...(security.rateLimit
        ? [
            useRateLimit(
              new RateLimiter(deps.redis, deps.counter, security.rateLimit),
              logger,
              (bucket) => metrics?.rateLimited.inc({ bucket }),
            ),
          ]
        : []),
      ...(responseCache ? [responseCache.plugin] : []),
      ...(chatPageCache ? [chatPageCache.plugin] : []),
      ...(options.plugins ?? []),
      {
        onDispose() {
          responseCache?.dispose();
          chatPageCache?.dispose();
          stopLockMetrics();
          metrics?.close();
        },
      },
    ],
  });
}

/** The trusted documents (client/operations as codegen hashed them), or null when not generated. */
function loadKnownDocuments(deps: Deps) {
  try {
    return loadTrustedDocuments();
  } catch (err) {
    if (deps.config.security.trustedDocuments) {
      throw new Error(
        `TRUSTED_DOCUMENTS=true but client/generated/persisted-documents.json cannot be read (run npm run codegen): ${String(err)}`,
      );
    }
    return null;
  }
}

/** Every operation needs a signed-in reader, except pure introspection; stores are not touched. */
function useAuthGate(): Plugin<Context> {
  const reject = (ctx: Context) =>
    new AppError('UNAUTHENTICATED', AUTH_MESSAGES[ctx.authFailure ?? 'missing']);
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const ctx = args.contextValue;
      if (ctx.viewer || isIntrospectionOnly(args.document, args.operationName)) return;
      setResultAndStopExecution({ errors: [reject(ctx)] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const ctx = args.contextValue;
      if (ctx.viewer) return;
      setResultAndStopExecution({ errors: [reject(ctx)] });
    },
  };
}

function isIntrospectionOnly(document: DocumentNode, operationName?: string | null): boolean {
  const op = selectOperation(document, operationName);
  if (op?.operation !== 'query') return false;
  return op.selectionSet.selections.every(
    (s) =>
      s.kind === Kind.FIELD &&
      (s.name.value === '__schema' || s.name.value === '__type' || s.name.value === '__typename'),
  );
}

function operation(name: string): string {
  return readFileSync(new URL(`../client/operations/${name}.graphql`, import.meta.url), 'utf8');
}

function graphiqlOptions(options: AppOptions) {
  const headers = options.graphiqlToken
    ? JSON.stringify({ Authorization: `Bearer ${options.graphiqlToken}` }, null, 2)
    : JSON.stringify({ Authorization: 'Bearer <Supabase access token>' }, null, 2);
  const bookId = options.examples?.bookId ?? '<book id>';
  const sessionId = options.examples?.sessionId ?? '<chat session id>';
  return {
    title: 'Falsafa gateway',
    headers,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: true as const,
    defaultTabs: [
      { query: operation('Catalog'), headers },
      { query: operation('BookPage'), variables: JSON.stringify({ id: bookId }, null, 2), headers },
      { query: operation('ChatPage'), variables: JSON.stringify({ sessionId }, null, 2), headers },
      // The spoiler-safe chat: the reader is at chapter 3, then asks about the ending.
      {
        query: operation('SetReadingPosition'),
        variables: JSON.stringify({ sessionId, readingPosition: { chapter: 3 } }, null, 2),
        headers,
      },
      {
        query: operation('SendMessage'),
        variables: JSON.stringify(
          { sessionId, content: 'What did the letter from the Admiralty say?' },
          null,
          2,
        ),
        headers,
      },
      { query: operation('MyChats'), headers },
    ],
  };
}
