import { loadConfigOrExit } from './config.js';
import { createLogger } from './logger.js';
import { startRuntime } from './runtime.js';

/**
 * `npm run worker`: a worker alone, no HTTP server. Takes jobs from the shared `processing_queue`
 * (WORKER_CONCURRENCY at a time, default 1). Needs a Redis that other processes share (REDIS_URL or REDIS_CLUSTER_NODES).
 */
async function main() {
  const config = loadConfigOrExit();
  if (config.redis.mode !== 'remote') {
    console.error(
      'A separate worker needs REDIS_URL or REDIS_CLUSTER_NODES: the in-process Redis is not shared.',
    );
    process.exit(1);
  }
  if (config.worker.concurrency === 0) config.worker.concurrency = 1;
  const logger = createLogger(config.logLevel, { role: 'worker' });
  const runtime = await startRuntime(config, logger);
  logger.info({ worker: runtime.deps.queue.workerId }, 'worker ready');
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'worker shutting down');
    await runtime.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  if (err instanceof Error && err.name === 'DataDirLockedError')
    console.error(`worker not started: ${err.message}`);
  else console.error('worker failed to start:', err);
  process.exit(1);
});
