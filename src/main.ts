import { createServer } from 'node:http';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startRuntime } from './runtime.js';
import { seedDemo } from './seed-demo.js';
import { createApp } from './yoga.js';

/** Starts the gateway: configuration, stores (real or embedded), the HTTP server. */
async function main() {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const runtime = await startRuntime(config, logger);
  let demo: { bookId: string; sessionId: string } | undefined;
  if (config.seedDemo && config.supabase.mode === 'embedded' && runtime.devUserId) {
    demo = await seedDemo(runtime.deps, runtime.devUserId);
  }
  const app = createApp(runtime.deps, {
    ...(runtime.devToken ? { graphiqlToken: runtime.devToken } : {}),
    ...(demo ? { examples: demo } : {}),
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${port}/graphql`;
  logger.info({ url }, 'gateway listening');
  if (runtime.devToken) {
    process.stdout.write(
      [
        '',
        `Falsafa gateway on ${url} (GraphiQL: open it in a browser)`,
        `Development token (reader ${runtime.devUserId}):`,
        runtime.devToken,
        ...(demo ? [`Demo book: ${demo.bookId}`, `Demo chat session: ${demo.sessionId}`] : []),
        '',
        '',
      ].join('\n'),
    );
  }

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await runtime.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  console.error('gateway failed to start:', err);
  process.exit(1);
});
