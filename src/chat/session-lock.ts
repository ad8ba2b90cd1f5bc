/**
 * The per-session write lock `chat:lock:{session_id}`: a random hex token set with `SET NX PX`.
 * `withSessionLock` retries with jitter up to `waitMs` (then SESSION_BUSY, retryable), extends the
 * lock with a compare-and-extend script while `fn` runs (so a slow model does not lose it), and
 * releases it in `finally` with a compare-and-delete script. `fn` gets a handle: `lost` tells
 * whether the lock is gone; `assertHeld()` re-checks on the server (just before writing) and
 * throws LOCK_LOST if another holder's token is there. A release (or a take whose answer was lost)
 * that cannot reach Redis is retried until it lands or the TTL would free the lock anyway, so a
 * Redis Cluster failover does not leave the session busy for a whole TTL.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, lockLost, StoreUnavailableError } from '../errors.js';
import type { StoreCallCounter } from '../stores/metrics.js';
import type { RedisClient } from '../stores/redis.js';

const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export const lockKey = (sessionId: string) => `chat:lock:${sessionId}`;

export interface LockHandle {
  readonly token: string;
  readonly lost: boolean;
  assertHeld(): Promise<void>;
}

interface LockOptions {
  ttlMs: number;
  waitMs: number;
  /** Told when the lock is taken and given back (for shutdown and metrics). */
  registry?: LockRegistry;
}

interface LockRegistry {
  taken(key: string, token: string, waitedMs: number): void;
  released(key: string, token: string): void;
}

/**
 * The session locks of this process, made once: `withLock(sessionId, fn)` is `withSessionLock`
 * with the configured TTL and wait. It keeps the locks it holds: shutdown waits for them and,
 * past its deadline, releases the ones still held with the same compare-and-delete (a lock
 * someone else took meanwhile stays); `onAcquire` reports each one taken with the time it waited.
 */
export class SessionLocks implements LockRegistry {
  private readonly held = new Map<string, string>();
  private readonly listeners = new Set<(waitedMs: number) => void>();

  constructor(
    private readonly redis: RedisClient,
    private readonly counter: StoreCallCounter,
    private readonly options: { ttlMs: number; waitMs: number },
  ) {}

  /** Runs `fn` holding the session's lock (SESSION_BUSY when it cannot be taken in time). */
  withLock<T>(sessionId: string, fn: (lock: LockHandle) => Promise<T>): Promise<T> {
    return withSessionLock(
      this.redis,
      this.counter,
      sessionId,
      { ...this.options, registry: this },
      fn,
    );
  }

  get size(): number {
    return this.held.size;
  }

  /** Calls `fn` with the wait (0 when the first attempt took it) each time a lock is taken. */
  onAcquire(fn: (waitedMs: number) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  taken(key: string, token: string, waitedMs: number): void {
    this.held.set(key, token);
    for (const fn of this.listeners) fn(waitedMs);
  }

  released(key: string, token: string): void {
    if (this.held.get(key) === token) this.held.delete(key);
  }

  /** Releases every lock still held; the number released. */
  async releaseAll(): Promise<number> {
    let released = 0;
    for (const [key, token] of [...this.held]) {
      try {
        if ((await this.redis.eval(RELEASE, 1, key, token)) === 1) released++;
      } catch {
        // The lock's TTL frees it if Redis cannot be reached.
      }
      this.held.delete(key);
    }
    return released;
  }
}

export async function withSessionLock<T>(
  redis: RedisClient,
  counter: StoreCallCounter,
  sessionId: string,
  options: LockOptions,
  fn: (lock: LockHandle) => Promise<T>,
): Promise<T> {
  const key = lockKey(sessionId);
  const token = randomBytes(16).toString('hex');
  const started = Date.now();
  const redisCall = async <R>(op: string, f: () => Promise<R>): Promise<R> => {
    try {
      return await counter.time('redis', op, f);
    } catch (err) {
      throw new StoreUnavailableError('redis', err);
    }
  };

  // Take it, retrying with jitter until the wait is used up.
  let delay = 25;
  let attempts = 0;
  for (;;) {
    attempts++;
    let ok: string | null;
    try {
      ok = await redisCall('set', () => redis.set(key, token, 'PX', options.ttlMs, 'NX'));
    } catch (err) {
      // The SET may have landed with its answer lost: give back whatever this token holds.
      releaseSoon(redis, counter, key, token, options.ttlMs);
      throw err;
    }
    if (ok === 'OK') break;
    const waited = Date.now() - started;
    if (waited >= options.waitMs) {
      throw new AppError(
        'SESSION_BUSY',
        'Another message of this session is being answered; retry shortly',
        {
          retryable: true,
        },
      );
    }
    const pause = Math.min(delay + Math.random() * delay, options.waitMs - waited);
    await sleep(Math.max(pause, 1));
    delay = Math.min(delay * 2, 250);
  }
  options.registry?.taken(key, token, attempts > 1 ? Date.now() - started : 0);

  let lost = false;
  const extendEvery = Math.max(Math.floor(options.ttlMs / 3), 50);
  const timer = setInterval(() => {
    redis
      .eval(EXTEND, 1, key, token, String(options.ttlMs))
      .then((r) => {
        if (r === 0) lost = true;
      })
      .catch(() => {
        // A missed extension is not fatal by itself; assertHeld checks before writing.
      });
  }, extendEvery);
  timer.unref();

  const handle: LockHandle = {
    token,
    get lost() {
      return lost;
    },
    async assertHeld() {
      const current = await redisCall('get', () => redis.get(key));
      if (current !== token) {
        lost = true;
        throw lockLost();
      }
    },
  };
  try {
    return await fn(handle);
  } finally {
    clearInterval(timer);
    options.registry?.released(key, token);
    await counter
      .time('redis', 'eval', () => redis.eval(RELEASE, 1, key, token))
      .catch(() => releaseSoon(redis, counter, key, token, options.ttlMs));
  }
}

/** Pause between the attempts of a release that could not reach Redis. */
const RELEASE_RETRY_MS = 250;

/**
 * Retries the compare-and-delete of `token` in the background until it reaches Redis (a master
 * failing over answers again within seconds) or `ttlMs` has passed, when the TTL has freed the
 * lock anyway. It deletes only this token, so it never frees another holder's lock.
 */
function releaseSoon(
  redis: RedisClient,
  counter: StoreCallCounter,
  key: string,
  token: string,
  ttlMs: number,
): void {
  const until = Date.now() + ttlMs;
  const attempt = () => {
    if (Date.now() >= until || redis.status === 'end') return;
    counter
      .time('redis', 'eval', () => redis.eval(RELEASE, 1, key, token))
      .catch(() => setTimeout(attempt, RELEASE_RETRY_MS).unref());
  };
  setTimeout(attempt, RELEASE_RETRY_MS).unref();
}
