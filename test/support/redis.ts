import { Cluster, Redis } from 'ioredis';
import RedisMock from 'ioredis-mock';
import { inject } from 'vitest';

/**
 * The test file's Redis: the run's claimed logical database on TEST_REDIS_URL (emptied at the start
 * of each file, claim key kept), or an in-process ioredis-mock.
 */
export async function createTestRedis(): Promise<{ redis: Redis; real: boolean; url?: string }> {
  const url = process.env.TEST_REDIS_URL;
  if (!url) {
    const redis = new (RedisMock as unknown as typeof Redis)();
    await redis.flushall();
    return { redis, real: false };
  }
  const db = inject('redisDb');
  const redis = new Redis(url, { db, maxRetriesPerRequest: 1, lazyConnect: true });
  await redis.connect();
  await redis.flushdb();
  await redis.set('falsafa:test:claim', inject('runId'), 'EX', 7200);
  const u = new URL(url);
  u.pathname = `/${db}`;
  return { redis, real: true, url: u.toString() };
}

/** The servers holding the data: the one Redis, or each master of a cluster. */
const serversOf = (redis: Redis | Cluster): Redis[] =>
  redis instanceof Cluster ? redis.nodes('master') : [redis];

/** Keys of the test's Redis (on every node of a cluster), without the run's claim key. */
export async function keysOf(redis: Redis | Cluster, pattern = '*'): Promise<string[]> {
  const keys = (await Promise.all(serversOf(redis).map((r) => r.keys(pattern)))).flat();
  return keys.filter((k) => k !== 'falsafa:test:claim').sort();
}

/** Empties the test's Redis as a restart of a Redis that keeps nothing on disk would. */
export async function wipeRedis(redis: Redis | Cluster): Promise<void> {
  const claim = await redis.get('falsafa:test:claim');
  await Promise.all(serversOf(redis).map((r) => r.flushdb()));
  if (claim) await redis.set('falsafa:test:claim', claim, 'EX', 7200);
}
