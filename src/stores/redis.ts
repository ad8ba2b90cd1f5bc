import { Redis } from 'ioredis';
import RedisMock from 'ioredis-mock';

export type RedisClient = Redis;

/**
 * The Redis client: a real server (every command with a timeout, no offline queue, so a down Redis
 * fails fast instead of hanging) or, in embedded mode, an in-process ioredis-mock.
 */
export async function createRedis(
  options: { mode: 'remote'; url: string; timeoutMs: number } | { mode: 'embedded' },
): Promise<RedisClient> {
  if (options.mode === 'embedded') {
    return new (RedisMock as unknown as typeof Redis)();
  }
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
