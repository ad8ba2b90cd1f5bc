/**
 * Starts the gateway: configuration, tracing (when configured), stores (real or embedded), the
 * HTTP server with GraphQL over WebSocket on the same path. On SIGTERM/SIGINT it drains: stops taking connections and requests, lets in-flight
 * operations and chat turns finish within SHUTDOWN_TIMEOUT_MS while the worker returns its
 * unfinished jobs to the queue, releases the session locks still held, closes the stores, exits 0.
 */
import { loadConfigOrExit } from './config.js';
import { Lifecycle } from './http/lifecycle.js';
import { createGatewayServer, stopAccepting } from './http/server.js';
import { attachGraphQLWebSocket } from './http/websocket.js';
import { createGatewayLogger } from './observability/logging.js';
import { startTracing } from './observability/tracing.js';
import { startRuntime } from './runtime.js';
import { seedDemo } from './seed-demo.js';
import { createApp } from './yoga.js';

const OFFLINE_REPLIES =
  'Replies come from the offline fallback: no language model is configured, so they quote the ' +
  "book's passages found for the question. For a real model set LLM_PROVIDER=openai, " +
  'LLM_BASE_URL and LLM_MODEL (and EMBEDDING_* for its embeddings); the README shows an Ollama setup.';

async function main() {
  const config = loadConfigOrExit();
  const logger = createGatewayLogger(config.logLevel);
  const tracing = config.observability.tracing
    ? await startTracing(config.observability.tracing, logger)
    : null;
  const runtime = await startRuntime(config, logger);
  const stopStoreSpans = tracing?.traceStoreCalls(runtime.deps.counter);
  let demo: { bookId: string; sessionId: string } | undefined;
  if (config.seedDemo && config.supabase.mode === 'embedded' && runtime.devUserId) {
    demo = await seedDemo(runtime.deps, runtime.devUserId);
  }
  // The development reader's token is for trying the gateway out: never printed or handed to
  // GraphiQL in production.
  const devToken = config.nodeEnv === 'production' ? undefined : runtime.devToken;
  const lifecycle = new Lifecycle(runtime.deps.locks);
  const app = createApp(runtime.deps, {
    ...(devToken ? { graphiqlToken: devToken } : {}),
    ...(demo ? { examples: demo } : {}),
    lifecycle,
    worker: runtime.worker,
    tracing,
    processMetrics: true,
  });
  const server = createGatewayServer(app, lifecycle);
  const webSocket = attachGraphQLWebSocket(server, app, {
    auth: runtime.deps.auth,
    logger: runtime.deps.logger,
    security: config.security,
    lifecycle,
  });
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}/graphql`;
  logger.info({ url }, 'gateway listening');
  const offline = config.llm.provider === 'local';
  if (offline) logger.info(OFFLINE_REPLIES);
  if (devToken) {
    process.stdout.write(
      [
        '',
        `Falsafa gateway on ${url}${config.graphiql ? ' (GraphiQL: open it in a browser)' : ''}`,
        `Development token (reader ${runtime.devUserId}):`,
        devToken,
        ...(demo ? [`Demo book: ${demo.bookId}`, `Demo chat session: ${demo.sessionId}`] : []),
        ...(runtime.devSupabase
          ? [
              `Embedded Supabase (Storage and PostgREST, for the frontend's own path): ${runtime.devSupabase.url}`,
              `Its anon key: ${runtime.devSupabase.anonKey}`,
            ]
          : []),
        ...(offline ? ['', OFFLINE_REPLIES] : []),
        '',
        '',
      ].join('\n'),
    );
  }

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    const deadlineMs = config.shutdownTimeoutMs;
    logger.info(
      {
        signal,
        deadlineMs,
        inFlight: lifecycle.inFlightOperations,
        locksHeld: runtime.deps.locks.size,
        jobsInFlight: runtime.worker?.inFlight ?? 0,
      },
      'shutting down: draining',
    );
    lifecycle.startDraining();
    const listener = stopAccepting(server);
    const [drained] = await Promise.all([
      lifecycle.drain(deadlineMs),
      runtime.stopWorker(deadlineMs),
    ]);
    logger.info(drained, drained.inTime ? 'drained' : 'drain deadline passed');
    // What is left are long-lived streams (progress subscriptions): end them, WebSockets with
    // 1001 (going away).
    await webSocket.close();
    listener.closeAll();
    await listener.closed;
    await app.dispose();
    stopStoreSpans?.();
    await runtime.close();
    await tracing?.shutdown();
    logger.info({ locksHeld: runtime.deps.locks.size }, 'shutdown complete');
    process.exit(0);
  };
  const onSignal = (signal: string) => {
    shutdown(signal).catch((err: unknown) => {
      logger.error({ err: String(err) }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

main().catch((err) => {
  if (err instanceof Error && err.name === 'DataDirLockedError')
    console.error(`gateway not started: ${err.message}`);
  else console.error('gateway failed to start:', err);
  process.exit(1);
});
