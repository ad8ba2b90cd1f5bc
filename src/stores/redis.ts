import { Redis } from 'ioredis';

export type RedisClient = Redis;

/**
 * The Redis client of a real server: every command with a timeout, no offline queue, so a down
 * Redis fails fast instead of hanging. (The in-process one is the embedded default's.)
 */
export async function createRedis(options: {
  url: string;
  timeoutMs: number;
}): Promise<RedisClient> {
  const client = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: options.timeoutMs,
    commandTimeout: options.timeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (times) => Math.min(200 * times, 2000),
  });
  // ioredis reports connection errors as events too; the failing commands carry them to callers.
  client.on('error', () => {});
  await client.connect();
  return client;
}

/**
 * A second connection for pub/sub or blocking commands: it connects at once and queues commands
 * until connected; `commandTimeoutMs` must exceed any blocking wait used on it.
 */
export function duplicateRedis(client: RedisClient, commandTimeoutMs = 10_000): RedisClient {
  const dup = client.duplicate({
    lazyConnect: false,
    enableOfflineQueue: true,
    commandTimeout: commandTimeoutMs,
  });
  dup.on('error', () => {});
  return dup;
}
