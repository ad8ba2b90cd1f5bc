import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';

const run = promisify(execFile);

export interface TestRedisCluster {
  /** `REDIS_CLUSTER_NODES` for the gateway: `127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`. */
  nodes: string;
  ports: number[];
  /** A client of the whole cluster (closed with the cluster). */
  client: Cluster;
  /** SIGKILLs the server on `port`; resolves once it has exited. */
  kill(port: number): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Replicas per master (`--cluster-replicas`): 0 by default, 1 for six nodes. */
  replicas?: 0 | 1;
  /** `cluster-node-timeout` in ms: how soon a silent master counts as failed (Redis: 15000). */
  nodeTimeoutMs?: number;
}

/** Whether something listens on `port` now (then it cannot be bound). */
async function portTaken(port: number): Promise<boolean> {
  const server = createServer();
  const taken = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(true));
    server.listen(port, '127.0.0.1', () => resolve(false));
  });
  if (!taken) await new Promise((resolve) => server.close(resolve));
  return taken;
}

/**
 * A TCP port that nothing listens on now, nor on its cluster bus port (port + 10000): the OS picks
 * it, so clusters started side by side (a project's cluster for the whole run, a file's own) and
 * other listeners on the machine get different ones.
 */
async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise((resolve) => server.close(resolve));
    if (port + 10_000 <= 65_535 && !(await portTaken(port + 10_000))) return port;
  }
}

/**
 * A local Redis Cluster of three masters (with one replica each when asked) on free ports:
 * `redis-server` child processes keeping nothing on disk, joined by `redis-cli --cluster create`;
 * resolves once the cluster says `cluster_state:ok` on every node. `stop` kills the servers and
 * removes their directory.
 */
export async function startRedisCluster(
  options: RedisClusterOptions = {},
): Promise<TestRedisCluster> {
  const replicas = options.replicas ?? 0;
  const dir = await mkdtemp(join(tmpdir(), 'falsafa-redis-cluster-'));
  const ports: number[] = [];
  while (ports.length < 3 * (1 + replicas)) {
    const port = await freePort();
    if (!ports.some((p) => p === port || p === port + 10_000 || p + 10_000 === port)) {
      ports.push(port);
    }
  }
  const servers: ChildProcess[] = [];
  // The servers die with this process, however it ends (a run interrupted, a worker killed).
  const killOnExit = () => {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
    await Promise.all(
      servers.map((s) =>
        s.exitCode === null && s.signalCode === null
          ? new Promise((resolve) => s.once('exit', resolve))
          : undefined,
      ),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const server = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
          '--daemonize',
          'no',
          ...(options.nodeTimeoutMs
            ? ['--cluster-node-timeout', String(options.nodeTimeoutMs)]
            : []),
        ],
        { stdio: 'ignore' },
      );
      servers.push(server);
    }
    for (const port of ports) await waitFor(() => cli(port, 'ping').then((r) => r === 'PONG'));
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
    for (const port of ports) {
      await waitFor(() => cli(port, 'cluster', 'info').then((r) => r.includes('cluster_state:ok')));
    }
    // Every replica in sync with its master before anything depends on a failover.
    if (replicas > 0) {
      for (const port of ports) {
        await waitFor(() =>
          cli(port, 'info', 'replication').then(
            (r) => r.includes('role:master') || r.includes('master_link_status:up'),
          ),
        );
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const client = new Cluster(
    ports.map((port) => ({ host: '127.0.0.1', port })),
    { redisOptions: { maxRetriesPerRequest: 1 } },
  );
  client.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('end', () => reject(new Error('the test cluster client could not connect')));
  });
  return {
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    ports,
    client,
    async kill(port) {
      const server = servers[ports.indexOf(port)];
      if (!server || server.exitCode !== null || server.signalCode !== null) return;
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGKILL');
      await exited;
    },
    async stop() {
      client.disconnect();
      await stop();
    },
  };
}

/** `redis-cli -p port args…`, its trimmed output ('' when the server does not answer). */
export async function cli(port: number, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('redis-cli', ['-p', String(port), ...args]);
    return stdout.trim();
  } catch {
    return '';
  }
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the test Redis Cluster did not come up');
    await sleep(50);
  }
}
