import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { StoreCallCounter } from '../stores/metrics.js';
import type { RedisClient } from '../stores/redis.js';

const QUEUE_KEY = 'processing_queue';
const WORKERS_KEY = `${QUEUE_KEY}:workers`;
const inflightKey = (worker: string) => `${QUEUE_KEY}:inflight:${worker}`;
const heartbeatKey = (worker: string) => `${QUEUE_KEY}:heartbeat:${worker}`;

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
 * (`processing_queue:inflight:{worker}`), removes it there when done, and keeps a heartbeat key
 * (`processing_queue:heartbeat:{worker}`, PX). Live workers return the in-flight jobs of a worker
 * whose heartbeat expired to the head of the queue, so a worker that dies loses nothing.
 */
export class JobQueue {
  readonly workerId: string;

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
    await this.counter.time('redis', 'rpush', () =>
      this.redis.rpush(QUEUE_KEY, JSON.stringify(job)),
    );
  }

  /** The ids of the jobs waiting in the queue or held in a registered worker's in-flight list. */
  async liveJobIds(): Promise<Set<string>> {
    const workers = await this.counter.time('redis', 'smembers', () =>
      this.redis.smembers(WORKERS_KEY),
    );
    const lists = await this.counter.time('redis', 'pipeline', async () => {
      const pipeline = this.redis.pipeline().lrange(QUEUE_KEY, 0, -1);
      for (const w of workers) pipeline.lrange(inflightKey(w), 0, -1);
      return (await pipeline.exec()) ?? [];
    });
    const ids = new Set<string>();
    for (const [err, raws] of lists) {
      if (err) throw err;
      for (const raw of raws as string[]) {
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
    return this.counter.time('redis', 'llen', () => this.redis.llen(QUEUE_KEY));
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
  async recoverDeadWorkers(): Promise<{ worker: string; jobs: number }[]> {
    const workers = await this.redis.smembers(WORKERS_KEY);
    const recovered: { worker: string; jobs: number }[] = [];
    for (const worker of workers) {
      if (worker === this.workerId) continue;
      const n = (await this.redis.eval(
        RECOVER_SCRIPT,
        4,
        inflightKey(worker),
        QUEUE_KEY,
        heartbeatKey(worker),
        WORKERS_KEY,
        worker,
      )) as number;
      if (n >= 0) recovered.push({ worker, jobs: n });
    }
    return recovered;
  }
}
