import type { RedisClient } from '../stores/redis.js';

/**
 * Knows which session locks (`chat:lock:{session_id}`) this process holds, by watching the lock
 * commands on the process's Redis client: a `SET key token PX ttl NX` that answers OK takes one
 * (the time since that token's first attempt is the lock wait), the compare-and-delete `EVAL` with
 * the same key and token gives it back. It changes no command. Shutdown uses it to wait for
 * in-flight turns and, past its deadline, to release the locks still held with the same
 * compare-and-delete the lock helper uses (so a lock another holder took meanwhile is left alone).
 */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const FORGET_ATTEMPTS_AFTER_MS = 120_000;

type AnyFn = (...args: unknown[]) => Promise<unknown>;

export class SessionLockTracker {
  private readonly held = new Map<string, string>();
  /** Token -> first attempt time and number of attempts, until it is taken. */
  private readonly attempts = new Map<string, { first: number; n: number }>();
  private readonly acquireListeners = new Set<(waitedMs: number) => void>();

  private originalSet: AnyFn | null = null;
  private originalEval: AnyFn | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  /**
   * Calls `fn` each time a lock is taken, with the time waited for it (0 when the first attempt
   * took it); returns a function that stops.
   */
  onAcquire(fn: (waitedMs: number) => void): () => void {
    this.acquireListeners.add(fn);
    return () => this.acquireListeners.delete(fn);
  }

  /** Starts watching; returns a function that stops. */
  install(): () => void {
    if (this.originalSet) return () => this.uninstall();
    const client = this.redis as unknown as Record<'set' | 'eval', AnyFn>;
    const set = client.set.bind(this.redis) as AnyFn;
    const evalFn = client.eval.bind(this.redis) as AnyFn;
    this.originalSet = set;
    this.originalEval = evalFn;
    const { prefix } = this;

    client.set = (...args: unknown[]) => {
      const [key, value] = args;
      if (typeof key !== 'string' || !key.startsWith(prefix) || !args.includes('NX')) {
        return set(...args);
      }
      const token = String(value);
      const now = Date.now();
      this.forgetOldAttempts(now);
      const attempt = this.attempts.get(token) ?? { first: now, n: 0 };
      attempt.n++;
      this.attempts.set(token, attempt);
      return set(...args).then((reply) => {
        if (reply === 'OK') {
          this.attempts.delete(token);
          this.held.set(key, token);
          const waited = attempt.n > 1 ? Date.now() - attempt.first : 0;
          for (const fn of this.acquireListeners) fn(waited);
        }
        return reply;
      });
    };

    client.eval = (...args: unknown[]) => {
      const [script, , key, token] = args;
      const releasing =
        typeof script === 'string' &&
        script.includes("'DEL'") &&
        typeof key === 'string' &&
        this.held.get(key) === token;
      if (!releasing) return evalFn(...args);
      return evalFn(...args).finally(() => this.forget(key));
    };
    return () => this.uninstall();
  }

  private uninstall(): void {
    if (!this.originalSet || !this.originalEval) return;
    const client = this.redis as unknown as Record<string, unknown>;
    delete client.set;
    delete client.eval;
    this.originalSet = null;
    this.originalEval = null;
  }

  /** Locks held now. */
  get size(): number {
    return this.held.size;
  }

  /** Releases every lock still held (compare-and-delete); the number released. */
  async releaseAll(): Promise<number> {
    const evalFn =
      this.originalEval ?? ((...a: unknown[]) => this.redis.eval(...(a as [string, number])));
    let released = 0;
    for (const [key, token] of [...this.held]) {
      try {
        if ((await evalFn(RELEASE, 1, key, token)) === 1) released++;
      } catch {
        // The lock's TTL frees it if Redis cannot be reached.
      }
      this.forget(key);
    }
    return released;
  }

  private forget(key: string): void {
    this.held.delete(key);
  }

  private forgetOldAttempts(now: number): void {
    for (const [token, a] of this.attempts) {
      if (now - a.first > FORGET_ATTEMPTS_AFTER_MS) this.attempts.delete(token);
    }
  }
}

const trackers = new WeakMap<RedisClient, SessionLockTracker>();

/** The one tracker of a Redis client (installed on first use), shared by the runtime and apps. */
export function sessionLockTracker(redis: RedisClient, prefix = 'chat:lock:'): SessionLockTracker {
  let tracker = trackers.get(redis);
  if (!tracker) {
    tracker = new SessionLockTracker(redis, prefix);
    tracker.install();
    trackers.set(redis, tracker);
  }
  return tracker;
}
