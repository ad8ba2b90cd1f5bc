import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { loadWordVectors } from '../../src/providers/word-vectors.js';
import { startRedisCluster } from './redis-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisDb: number;
    runId: string;
    /** The project's Redis Cluster (`host:port,…`), or '' when the project runs on a single Redis. */
    redisClusterNodes: string;
  }
}

const CLAIM_KEY = 'falsafa:test:claim';

/**
 * Once per test run and project: say which stores the integration tests use, and claim a free
 * Redis logical database (an empty one, marked with a claim key) when TEST_REDIS_URL is set;
 * teardown empties it. The `redis-cluster` project (TEST_REDIS_CLUSTER in its env) instead starts
 * one three-master Redis Cluster of its own for all its files; teardown stops it, failed or not.
 * Also makes the word vectors' compact file once, so that gateways started in parallel (the default
 * embedder) read it rather than each converting the package.
 */
export default async function setup(project: TestProject) {
  loadWordVectors();
  const runId = randomBytes(4).toString('hex');
  project.provide('runId', runId);
  const pgMode = process.env.TEST_DATABASE_URL ? 'PostgreSQL at TEST_DATABASE_URL' : 'PGlite';
  if (project.config.env?.TEST_REDIS_CLUSTER === '1') {
    const cluster = await startRedisCluster();
    console.log(
      `[tests] ${project.name}: database: ${pgMode}; redis: a three-master Redis Cluster on ${cluster.nodes}`,
    );
    project.provide('redisDb', 0);
    project.provide('redisClusterNodes', cluster.nodes);
    return () => cluster.stop();
  }
  project.provide('redisClusterNodes', '');
  const redisUrl = process.env.TEST_REDIS_URL;
  console.log(
    `[tests] ${project.name}: database: ${pgMode}; redis: ${redisUrl ? 'TEST_REDIS_URL' : 'ioredis-mock'}`,
  );
  if (!redisUrl) {
    project.provide('redisDb', 0);
    return;
  }
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let claimed = -1;
  for (let db = 1; db < 16 && claimed < 0; db++) {
    await redis.select(db);
    const size = await redis.dbsize();
    if (size !== 0) continue;
    const ok = await redis.set(CLAIM_KEY, runId, 'EX', 7200, 'NX');
    if (ok === 'OK' && (await redis.dbsize()) === 1) claimed = db;
  }
  if (claimed < 0) throw new Error('no free Redis logical database (1-15) for this test run');
  console.log(`[tests] redis logical database ${claimed}`);
  project.provide('redisDb', claimed);
  await redis.quit();
  return async () => {
    const r = new Redis(redisUrl, { db: claimed, maxRetriesPerRequest: 1 });
    await r.flushdb();
    await r.quit();
  };
}
