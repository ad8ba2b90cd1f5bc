import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * The suites of what Redis holds for the gateway (the read-through, response and chat page caches,
 * the session lock, the job queue and the chat turn): they run once on the single Redis and once
 * more, as the `redis-cluster` project, on a three-master Redis Cluster started for that project.
 */
const CLUSTER_SUITES = [
  'test/batching.test.ts',
  'test/chat-branches.test.ts',
  'test/chat-page-cache.test.ts',
  'test/chat-turn-fencing.test.ts',
  'test/chat-turn.test.ts',
  'test/ingestion-jobs.test.ts',
  'test/ingestion.test.ts',
  'test/read-path.test.ts',
  'test/response-cache.test.ts',
  'test/session-lock.test.ts',
  'test/shutdown.test.ts',
  'test/worker-crash.test.ts',
];

export default defineConfig({
  resolve: {
    // One graphql module for everyone: Node resolves the dependencies' `import 'graphql'` to the
    // CommonJS build, so the tests must too (two copies refuse each other's types).
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    // Test files share one PostgreSQL cluster and one Redis logical database per run,
    // and the queue key is global: run files one after another (the two projects' too).
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'redis',
          include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'redis-cluster',
          include: CLUSTER_SUITES,
          globalSetup: ['test/support/global-setup.ts'],
          // test/support builds every gateway, worker and Redis client of these files on the
          // cluster that global-setup starts for this project.
          env: { TEST_REDIS_CLUSTER: '1' },
        },
      },
    ],
  },
});
