import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataDirLockedError, LOCK_FILE, lockDataDir } from '@falsafa/standins';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayProcess, spawnGateway } from './support/gateway-process.js';

/**
 * The embedded default as `npm start` runs it (child processes, every store embedded, one data
 * directory): a second process on the same directory is refused with a clear message and exit 1
 * while the first keeps serving; once the first is killed (SIGKILL, its lock file left behind),
 * the next start takes the stale lock over. That restart runs with NODE_ENV=production, which
 * prints neither the GraphiQL hint nor the development token.
 */

const JWT = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/;
let dataDir: string;
const started: GatewayProcess[] = [];

const env = (extra: Record<string, string> = {}) => ({
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'info',
  FALSAFA_DATA_DIR: dataDir,
  SEED_DEMO: 'false',
  RATE_LIMIT_ENABLED: 'false',
  ...extra,
});

function start(extra: Record<string, string> = {}): GatewayProcess {
  const child = spawnGateway(env(extra));
  started.push(child);
  return child;
}

async function ready(url: string): Promise<number> {
  return (await fetch(new URL('/readyz', url))).status;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'falsafa-data-dir-'));
});
afterAll(async () => {
  for (const child of started) {
    if (child.proc.exitCode === null && child.proc.signalCode === null) {
      child.proc.kill('SIGKILL');
      await child.exited;
    }
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('one data directory, one writer', () => {
  it('refuses a second process, and takes over the lock of a killed one', async () => {
    const first = start({ NODE_ENV: 'development' });
    const firstUrl = await first.listening();
    expect(await ready(firstUrl)).toBe(200);
    // Development: the GraphiQL hint, the token and the offline-replies notice are printed.
    expect(first.stdout()).toContain('GraphiQL: open it in a browser');
    expect(first.stdout()).toMatch(JWT);
    expect(first.stdout()).toContain('Replies come from the offline fallback');

    const second = start({ NODE_ENV: 'development' });
    const outcome = await Promise.race([
      second.exited.then(({ code }) => code),
      second.listening().then(() => 'listening'),
    ]);
    expect(outcome).toBe(1);
    expect(second.stderr()).toContain(
      `The data directory ${dataDir} is in use by another Falsafa process (pid ${first.proc.pid}`,
    );
    expect(second.stderr()).toContain('FALSAFA_DATA_DIR');
    expect(second.stdout()).not.toContain('gateway listening');
    // The first one is untouched.
    expect(await ready(firstUrl)).toBe(200);

    first.proc.kill('SIGKILL');
    await first.exited;
    const left = JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8')) as { pid: number };
    expect(left.pid).toBe(first.proc.pid);

    const third = start({ NODE_ENV: 'production' });
    const thirdUrl = await third.listening();
    expect(await ready(thirdUrl)).toBe(200);
    const held = JSON.parse(await readFile(join(dataDir, LOCK_FILE), 'utf8')) as { pid: number };
    expect(held.pid).toBe(third.proc.pid);
    // Production: no GraphiQL hint and no development token, on stdout or stderr.
    expect(third.stdout()).not.toMatch(/GraphiQL|Development token/);
    expect(third.stdout() + third.stderr()).not.toMatch(JWT);
    expect(
      third.lines().some((l) => String(l.msg).startsWith('Replies come from the offline')),
    ).toBe(true);

    third.proc.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
  }, 180_000);
});

describe('the lock file, in one process', () => {
  it('refuses a second holder in the same process, and is free again once released', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'falsafa-lock-'));
    try {
      const lock = await lockDataDir(dir);
      await expect(lockDataDir(dir)).rejects.toBeInstanceOf(DataDirLockedError);
      await lock.release();
      expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
      const again = await lockDataDir(dir);
      await again.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes over a lock with its own pid that it does not hold (a restarted container)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'falsafa-lock-'));
    const path = join(dir, LOCK_FILE);
    try {
      const earlier = { pid: process.pid, hostname: hostname(), startedAt: '2026-01-01T00:00:00Z' };
      await writeFile(path, JSON.stringify(earlier));
      const lock = await lockDataDir(dir);
      expect(JSON.parse(await readFile(path, 'utf8')).startedAt).not.toBe(earlier.startedAt);
      await lock.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("holds another host's lock while it is touched, and takes it over once it is not", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'falsafa-lock-'));
    const path = join(dir, LOCK_FILE);
    try {
      const foreign = { pid: 1, hostname: 'another-host.test', startedAt: '2026-01-01T00:00:00Z' };
      await writeFile(path, JSON.stringify(foreign));
      const refused = await lockDataDir(dir).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(DataDirLockedError);
      expect(String((refused as Error).message)).toContain('on host another-host.test');
      // Not touched for a minute: its owner is gone.
      const old = new Date(Date.now() - 60_000);
      await utimes(path, old, old);
      const lock = await lockDataDir(dir);
      expect(JSON.parse(await readFile(path, 'utf8')).pid).toBe(process.pid);
      await lock.release();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
