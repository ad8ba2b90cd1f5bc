import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis, ReplyError } from 'ioredis';
import { StoreUnavailable } from './errors.js';
import type { StoreCallCounter } from './metrics.js';

/** A single Redis or a Redis Cluster: both speak the same commands. */
export type RedisClient = Redis | Cluster;

/** A Redis Cluster's seed nodes and the credentials every node takes. */
export interface RedisClusterSettings {
  nodes: { host: string; port: number }[];
  username?: string | undefined;
  password?: string | undefined;
  tls: boolean;
}

/**
 * The Redis client of a real server, or of a Redis Cluster: every command with a timeout (on every
 * node), no offline queue, so a down Redis fails fast instead of hanging. (The in-process one is
 * the embedded default's.)
 */
export async function createRedis(
  options:
    | { url: string; cluster?: undefined; timeoutMs: number }
    | { url?: undefined; cluster: RedisClusterSettings; timeoutMs: number },
): Promise<RedisClient> {
  const connection = {
    connectTimeout: options.timeoutMs,
    commandTimeout: options.timeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(200 * times, 2000),
  };
  if (options.cluster) {
    const { nodes, username, password, tls } = options.cluster;
    const cluster = new Cluster(nodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: connection.retryStrategy,
      slotsRefreshTimeout: options.timeoutMs,
      redisOptions: {
        ...connection,
        ...(username ? { username } : {}),
        ...(password ? { password } : {}),
        ...(tls ? { tls: {} } : {}),
      },
    });
    cluster.on('error', () => {});
    await cluster.connect();
    return cluster;
  }
  const client = new Redis(options.url, {
    ...connection,
    lazyConnect: true,
    enableOfflineQueue: false,
  });
  // ioredis reports connection errors as events too; the failing commands carry them to callers.
  client.on('error', () => {});
  await client.connect();
  return client;
}

/**
 * A second connection for pub/sub or blocking commands: it connects at once and queues commands
 * until connected; `commandTimeoutMs` must exceed any blocking wait used on it. With `blocking`, a
 * cluster connection queues nothing while it is not ready (a failover): ioredis's cluster-level
 * queue has no timeout, so a blocking pop queued there would wait until the cluster reconnects,
 * which may be never; failing lets the caller retry on a fresh slot map.
 */
export function duplicateRedis(
  client: RedisClient,
  commandTimeoutMs = 10_000,
  blocking = false,
): RedisClient {
  const dup =
    client instanceof Cluster
      ? client.duplicate(undefined, {
          lazyConnect: false,
          enableOfflineQueue: !blocking,
          redisOptions: { ...client.options.redisOptions, commandTimeout: commandTimeoutMs },
        })
      : client.duplicate({
          lazyConnect: false,
          enableOfflineQueue: true,
          commandTimeout: commandTimeoutMs,
        });
  dup.on('error', () => {});
  return dup;
}

/**
 * The positions of `keys` grouped so that each group can go in one round trip: per node, then
 * per hash slot within it (a multi-key command takes keys of one slot only). A single Redis is one
 * node with one group of every key.
 */
export function keyGroups(client: RedisClient, keys: readonly string[]): number[][][] {
  if (!(client instanceof Cluster)) return keys.length === 0 ? [] : [[keys.map((_, i) => i)]];
  const byNode = new Map<string, Map<number, number[]>>();
  keys.forEach((key, i) => {
    const slot = calculateSlot(key);
    // Before the slot map is known every key counts as its own node's; ioredis redirects.
    const node = client.slots[slot]?.[0] ?? `slot:${slot}`;
    let slots = byNode.get(node);
    if (!slots) {
      slots = new Map();
      byNode.set(node, slots);
    }
    const group = slots.get(slot);
    if (group) group.push(i);
    else slots.set(slot, [i]);
  });
  return [...byNode.values()].map((slots) => [...slots.values()]);
}

// Replies a node gives while the cluster moves a slot or promotes a replica: the command may
// succeed when retried. Any other reply (a wrong type, a script error) is the command's own.
const FAILOVER_REPLY = /^(CLUSTERDOWN|TRYAGAIN|MOVED|ASK|LOADING|MASTERDOWN|READONLY)\b/;

/**
 * Whether a Redis command failed in transport: no connection, no answer in time, or a cluster
 * still redirecting ("Too many Cluster redirections", "Connection is closed", CLUSTERDOWN, …).
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof ReplyError) return FAILOVER_REPLY.test(err.message);
  return true;
}

/**
 * One Redis command, timed and counted; a transport failure becomes StoreUnavailable (which
 * clients see as SERVICE_UNAVAILABLE, retryable), a reply error passes as it is.
 */
export async function callRedis<T>(
  counter: StoreCallCounter,
  op: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await counter.time('redis', op, fn);
  } catch (err) {
    throw isRedisUnavailable(err) ? new StoreUnavailable('redis', err) : err;
  }
}
