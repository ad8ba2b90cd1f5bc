import { randomBytes, randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { z } from 'zod';
import type { StoreCallCounter } from '../stores/metrics.js';
import { callRedis, type RedisClient } from '../stores/redis.js';

const QUEUE_KEY = 'processing_queue';
// The queue's own keys carry the hash tag `{processing_queue}`, which hashes like the queue key
// itself: on a Redis Cluster all of them live in the queue's slot, so the scripts, MULTIs and
// moves that join them stay on one node.
const WORKERS_KEY = '{processing_queue}:workers';
const inflightKey = (worker: string) => `{processing_queue}:inflight:${worker}`;
const heartbeatKey = (worker: string) => `{processing_queue}:heartbeat:${worker}`;
/** Set once per Redis lifetime: when it is gone, the Redis lost its data (restart, flush). */
const EPOCH_KEY = '{processing_queue}:epoch';
// The same keys before the hash tag, as earlier versions wrote them on a single Redis.
const LEGACY_WORKERS_KEY = `${QUEUE_KEY}:workers`;
const legacyInflightKey = (worker: string) => `${QUEUE_KEY}:inflight:${worker}`;
const legacyHeartbeatKey = (worker: string) => `${QUEUE_KEY}:heartbeat:${worker}`;

export const processBookJob = z.object({
  job_id: z.string().min(1).max(200),
  type: z.literal('process_book'),
  book_id: z.uuid(),
  enqueued_at: z.string().optional(),
});
export type ProcessBookJob = z.infer<typeof processBookJob>;

// Moves every in-flight job of a dead worker back to the queue head, oldest first, then forgets
// the worker; atomic, so two recovering workers cannot both move the same job.
const RECOVER_SCRIPT = `
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
local n = 0
while true do
  local job = redis.call('RPOP', KEYS[1])
  if not job then break end
  redis.call('LPUSH', KEYS[2], job)
  n = n + 1
end
redis.call('SREM', KEYS[4], ARGV[1])
return n`;

/**
 * The shared job queue (Redis reliable-queue pattern). Producers `RPUSH processing_queue` a JSON
 * job; a worker atomically moves the head onto its own in-flight list
 * (`{processing_queue}:inflight:{worker}`), removes it there when done, and keeps a heartbeat key
 * (`{processing_queue}:heartbeat:{worker}`, PX). Live workers return the in-flight jobs of a worker
 * whose heartbeat expired to the head of the queue, so a worker that dies loses nothing. Every key
 * is in the queue's hash slot, so the queue works unchanged on a Redis Cluster.
 */
export class JobQueue {
  readonly workerId: string;
  /** The epoch marker this worker saw last (see `redisReset`). */
  private epoch: string | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly counter: StoreCallCounter,
    workerId?: string,
  ) {
    this.workerId = workerId ?? `${process.pid}-${randomBytes(4).toString('hex')}`;
  }

  /** A new book job in the shared shape (not yet queued). */
  static bookJob(bookId: string): ProcessBookJob {
    return {
      job_id: randomUUID(),
      type: 'process_book',
      book_id: bookId,
      enqueued_at: new Date().toISOString(),
    };
  }

  /** Appends a job to the queue (a new one, or one the queue lost). */
  async enqueue(job: ProcessBookJob): Promise<void> {
    await callRedis(this.counter, 'rpush', () => this.redis.rpush(QUEUE_KEY, JSON.stringify(job)));
  }

  /** The ids of the jobs waiting in the queue or held in a registered worker's in-flight list. */
  async liveJobIds(): Promise<Set<string>> {
    const workers = await callRedis(this.counter, 'smembers', () =>
      this.redis.smembers(WORKERS_KEY),
    );
    const lists = await callRedis(this.counter, 'pipeline', async () => {
      const pipeline = this.redis.pipeline().lrange(QUEUE_KEY, 0, -1);
      for (const w of workers) pipeline.lrange(inflightKey(w), 0, -1);
      const replies = (await pipeline.exec()) ?? [];
      for (const [err] of replies) if (err) throw err;
      return replies.map(([, raws]) => raws as string[]);
    });
    const ids = new Set<string>();
    for (const raws of lists) {
      for (const raw of raws) {
        try {
          const id = (JSON.parse(raw) as { job_id?: unknown } | null)?.job_id;
          if (typeof id === 'string') ids.add(id);
        } catch {
          // A malformed job holds no book; the worker that takes it drops it.
        }
      }
    }
    return ids;
  }

  length(): Promise<number> {
    return callRedis(this.counter, 'llen', () => this.redis.llen(QUEUE_KEY));
  }

  /** Registers this worker and refreshes its heartbeat. */
  async heartbeat(ttlMs: number): Promise<void> {
    await this.counter.time('redis', 'pipeline', async () => {
      await this.redis
        .multi()
        .sadd(WORKERS_KEY, this.workerId)
        .set(heartbeatKey(this.workerId), String(Date.now()), 'PX', ttlMs)
        .exec();
    });
  }

  /**
   * Takes the head job onto this worker's in-flight list. With a blocking connection, waits up to
   * `blockSeconds`; without one (in-process Redis has no blocking pops), returns null at once.
   */
  async take(blocking?: { client: RedisClient; blockSeconds: number }): Promise<string | null> {
    if (blocking) {
      return blocking.client.blmove(
        QUEUE_KEY,
        inflightKey(this.workerId),
        'LEFT',
        'RIGHT',
        blocking.blockSeconds,
      );
    }
    return this.counter.time('redis', 'lmove', () =>
      this.redis.lmove(QUEUE_KEY, inflightKey(this.workerId), 'LEFT', 'RIGHT'),
    );
  }

  /** Removes a finished (or dropped) job from this worker's in-flight list. */
  async done(raw: string): Promise<void> {
    await this.counter.time('redis', 'lrem', () =>
      this.redis.lrem(inflightKey(this.workerId), 1, raw),
    );
  }

  /** Returns this worker's own in-flight jobs to the queue head (on shutdown) and leaves. */
  async release(): Promise<number> {
    const n = (await this.redis.eval(
      RECOVER_SCRIPT,
      4,
      inflightKey(this.workerId),
      QUEUE_KEY,
      `${heartbeatKey(this.workerId)}:none`,
      WORKERS_KEY,
      this.workerId,
    )) as number;
    await this.redis.del(heartbeatKey(this.workerId));
    return n;
  }

  /** Returns the jobs of every worker whose heartbeat expired; the number of jobs moved. */
  recoverDeadWorkers(): Promise<{ worker: string; jobs: number }[]> {
    return this.recoverFrom(WORKERS_KEY, inflightKey, heartbeatKey);
  }

  /**
   * Returns the jobs of dead workers of earlier versions, which kept their keys without the hash
   * tag (`processing_queue:workers`, `processing_queue:inflight:{worker}`, `…:heartbeat:{worker}`),
   * to the queue head; a live one is left to finish. Such keys exist only on a single Redis: on a
   * cluster those versions could not run at all. Returns whether any such worker is still live.
   */
  async recoverLegacyWorkers(): Promise<{
    recovered: { worker: string; jobs: number }[];
    pending: boolean;
  }> {
    if (this.redis instanceof Cluster) return { recovered: [], pending: false };
    const recovered = await this.recoverFrom(
      LEGACY_WORKERS_KEY,
      legacyInflightKey,
      legacyHeartbeatKey,
    );
    const left = await this.redis.scard(LEGACY_WORKERS_KEY);
    return { recovered, pending: left > 0 };
  }

  /**
   * Whether the Redis may have lost jobs since this worker last asked: true the first time, and
   * whenever the epoch marker is gone or another (the Redis restarted or was emptied).
   */
  async redisReset(): Promise<boolean> {
    let current = await this.counter.time('redis', 'get', () => this.redis.get(EPOCH_KEY));
    if (current === null) {
      const fresh = randomBytes(8).toString('hex');
      const set = await this.counter.time('redis', 'set', () =>
        this.redis.set(EPOCH_KEY, fresh, 'NX'),
      );
      current = set === 'OK' ? fresh : await this.redis.get(EPOCH_KEY);
    }
    const changed = current !== this.epoch;
    this.epoch = current;
    return changed;
  }

  private async recoverFrom(
    workersKey: string,
    inflight: (worker: string) => string,
    heartbeat: (worker: string) => string,
  ): Promise<{ worker: string; jobs: number }[]> {
    const workers = await this.redis.smembers(workersKey);
    const recovered: { worker: string; jobs: number }[] = [];
    for (const worker of workers) {
      if (worker === this.workerId) continue;
      const n = (await this.redis.eval(
        RECOVER_SCRIPT,
        4,
        inflight(worker),
        QUEUE_KEY,
        heartbeat(worker),
        workersKey,
        worker,
      )) as number;
      if (n >= 0) recovered.push({ worker, jobs: n });
    }
    return recovered;
  }
}
