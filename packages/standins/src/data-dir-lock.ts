import { mkdir, open, readFile, rm, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * One writer per data directory. The embedded stores (PGlite, Storage files, the Qdrant and
 * Typesense stand-ins) each keep their data in FALSAFA_DATA_DIR and assume they are its only
 * writer; a second process on the same directory would silently lose what it wrote.
 *
 * The lock is the file `gateway.lock` in the directory, created exclusively, holding the owner's
 * pid and host. It is held while its owner lives: on the same host, while that pid is alive (a
 * lock left by a killed process is taken over at the next start); from another host (a shared
 * volume), while its owner keeps touching the file (every REFRESH_MS). Taking over a stale lock is
 * serialized by a `gateway.lock.takeover` directory, so two starts after a crash cannot both win.
 */

export const LOCK_FILE = 'gateway.lock';
const REFRESH_MS = 2000;
/** A lock from another host that was not touched for this long is stale. */
const STALE_AFTER_MS = 10_000;
/** A takeover guard older than this was left by a process that died while taking over. */
const GUARD_STALE_MS = 5000;

interface LockContent {
  pid: number;
  hostname: string;
  startedAt: string;
}

export class DataDirLockedError extends Error {
  override readonly name = 'DataDirLockedError';
  constructor(
    readonly dataDir: string,
    readonly holder: LockContent,
  ) {
    const where = holder.hostname === hostname() ? '' : ` on host ${holder.hostname}`;
    super(
      `The data directory ${dataDir} is in use by another Falsafa process (pid ${holder.pid}${where}, ` +
        `started ${holder.startedAt}). Only one process may write it: stop that one, or give this ` +
        `one its own FALSAFA_DATA_DIR. If no such process runs, delete ${join(dataDir, LOCK_FILE)}.`,
    );
  }
}

export interface DataDirLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Lock files this process holds (two runtimes of one process must not share a directory either). */
const heldHere = new Set<string>();

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const content: LockContent = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
  };
  for (let attempt = 0; ; attempt++) {
    if (await createExclusive(path, content)) break;
    const holder = await readHolder(path);
    if (holder === 'missing') continue;
    if (holder === 'unreadable') {
      // Being written right now, or cut short by a crash: give it a moment, then treat as stale.
      if (attempt < 20) {
        await sleep(50);
        continue;
      }
    } else if (await isHeld(path, holder)) {
      throw new DataDirLockedError(dir, holder);
    }
    await takeOver(path, holder);
  }
  heldHere.add(path);
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {});
  }, REFRESH_MS);
  timer.unref();
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      heldHere.delete(path);
      const current = await readHolder(path);
      if (typeof current === 'object' && sameHolder(current, content)) {
        await unlink(path).catch(() => {});
      }
    },
  };
}

async function createExclusive(path: string, content: LockContent): Promise<boolean> {
  try {
    const handle = await open(path, 'wx');
    try {
      await handle.writeFile(`${JSON.stringify(content)}\n`);
    } finally {
      await handle.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function readHolder(path: string): Promise<LockContent | 'missing' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockContent>;
    if (typeof parsed.pid === 'number' && typeof parsed.hostname === 'string') {
      return { pid: parsed.pid, hostname: parsed.hostname, startedAt: String(parsed.startedAt) };
    }
  } catch {
    // Falls through.
  }
  return 'unreadable';
}

async function isHeld(path: string, holder: LockContent): Promise<boolean> {
  if (holder.hostname !== hostname()) {
    const touched = await stat(path).then(
      (s) => s.mtimeMs,
      () => 0,
    );
    return Date.now() - touched < STALE_AFTER_MS;
  }
  // Our own pid: this process holds it, or it was left by an earlier process with the same pid
  // (a container restarted).
  if (holder.pid === process.pid) return heldHere.has(path);
  return isAlive(holder.pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sameHolder(a: LockContent, b: LockContent): boolean {
  return a.pid === b.pid && a.hostname === b.hostname && a.startedAt === b.startedAt;
}

/** Removes the stale lock `seen`, unless another process replaced it meanwhile. */
async function takeOver(path: string, seen: LockContent | 'unreadable'): Promise<void> {
  const guard = `${path}.takeover`;
  try {
    await mkdir(guard);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = await stat(guard).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > GUARD_STALE_MS) await rm(guard, { recursive: true, force: true });
    else await sleep(50);
    return;
  }
  try {
    const current = await readHolder(path);
    const unchanged =
      current === seen ||
      (typeof current === 'object' && typeof seen === 'object' && sameHolder(current, seen));
    if (unchanged) await unlink(path).catch(() => {});
  } finally {
    await rm(guard, { recursive: true, force: true });
  }
}
