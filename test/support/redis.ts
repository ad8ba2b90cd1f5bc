import { Redis } from 'ioredis';
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

/** Keys of the test's Redis, without the run's claim key. */
export async function keysOf(redis: Redis, pattern = '*'): Promise<string[]> {
  const keys = await redis.keys(pattern);
  return keys.filter((k) => k !== 'falsafa:test:claim').sort();
}

/** Empties the test's Redis as a restart of a Redis that keeps nothing on disk would. */
export async function wipeRedis(redis: Redis): Promise<void> {
  const claim = await redis.get('falsafa:test:claim');
  await redis.flushdb();
  if (claim) await redis.set('falsafa:test:claim', claim, 'EX', 7200);
}
