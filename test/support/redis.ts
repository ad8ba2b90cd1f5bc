import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import RedisMock from 'ioredis-mock';
import { inject } from 'vitest';

/**
 * Whether this test file runs on the `redis-cluster` project's Redis Cluster (TEST_REDIS_CLUSTER,
 * set by vitest.config.ts): then every gateway, worker and Redis client of test/support is built
 * on it instead of the single Redis.
 */
export const onRedisCluster = process.env.TEST_REDIS_CLUSTER === '1';

/** Whether the test's Redis is a real server that other processes (workers) can share. */
export const sharedRedis = onRedisCluster || Boolean(process.env.TEST_REDIS_URL);

/** A client of the project's Redis Cluster, once it is ready. */
async function connectCluster(nodes: string): Promise<Cluster> {
  const client = new Cluster(
    nodes.split(',').map((hostPort) => {
      const [host, port] = hostPort.split(':');
      return { host: host!, port: Number(port) };
    }),
    { redisOptions: { maxRetriesPerRequest: 1 } },
  );
  client.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('end', () => reject(new Error(`the test Redis Cluster on ${nodes} is not up`)));
  });
  return client;
}

/**
 * The test file's Redis, emptied at the start of each file: the run's claimed logical database on
 * TEST_REDIS_URL (claim key kept), the `redis-cluster` project's Redis Cluster (`clusterNodes` for
 * REDIS_CLUSTER_NODES), or an in-process ioredis-mock.
 */
export async function createTestRedis(): Promise<{
  redis: Redis | Cluster;
  real: boolean;
  url?: string;
  clusterNodes?: string;
}> {
  if (onRedisCluster) {
    const clusterNodes = inject('redisClusterNodes');
    if (!clusterNodes)
      throw new Error('TEST_REDIS_CLUSTER is set but no Redis Cluster was started');
    const redis = await connectCluster(clusterNodes);
    await wipeRedis(redis);
    return { redis, real: true, clusterNodes };
  }
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

/** Keys of the test's Redis (on every master of a cluster), without the run's claim key. */
export async function keysOf(redis: Redis | Cluster, pattern = '*'): Promise<string[]> {
  const keys = (await Promise.all(serversOf(redis).map((r) => r.keys(pattern)))).flat();
  return keys.filter((k) => k !== 'falsafa:test:claim').sort();
}

/** Deletes `keys`, one command per key: on a cluster they may lie in different slots. */
export async function deleteKeys(redis: Redis | Cluster, keys: readonly string[]): Promise<void> {
  await Promise.all(keys.map((k) => redis.del(k)));
}

/**
 * How many times the server ran `command` since it started (INFO commandstats), summed over the
 * masters of a cluster. A real Redis only: ioredis-mock keeps no such count.
 */
export async function serverCalls(redis: Redis | Cluster, command: string): Promise<number> {
  let n = 0;
  for (const server of serversOf(redis)) {
    const m = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(await server.info('commandstats'));
    n += m ? Number(m[1]) : 0;
  }
  return n;
}

/**
 * The connections subscribed to `channel` (PUBSUB NUMSUB), summed over the masters of a cluster:
 * a subscriber there is connected to one node, which alone counts it.
 */
export async function channelSubscribers(redis: Redis | Cluster, channel: string): Promise<number> {
  let n = 0;
  for (const server of serversOf(redis)) {
    const [, count] = (await server.pubsub('NUMSUB', channel)) as [string, number];
    n += Number(count);
  }
  return n;
}

/**
 * How many commands reach the servers when the gateway reads each list of `reads` with one MGET:
 * one per list on a single Redis; on a cluster one per hash slot of the list's keys (the gateway
 * splits a multi-key read per slot, as a cluster takes one slot's keys per command).
 */
export function mgetsOnServers(redis: Redis | Cluster, ...reads: string[][]): number {
  return reads.reduce(
    (n, keys) => n + (redis instanceof Cluster ? new Set(keys.map(calculateSlot)).size : 1),
    0,
  );
}

/** Empties the test's Redis (every master of a cluster) as a restart of a Redis that keeps nothing on disk would. */
export async function wipeRedis(redis: Redis | Cluster): Promise<void> {
  const claim = await redis.get('falsafa:test:claim');
  await Promise.all(serversOf(redis).map((r) => r.flushdb()));
  if (claim) await redis.set('falsafa:test:claim', claim, 'EX', 7200);
}
