import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger.js';
import type { BookJobs } from './queue/book-jobs.js';
import { type JobQueue, processBookJob } from './queue/job-queue.js';
import { type IngestionService, JobRejectedError } from './services/ingestion-service.js';
import type { RedisClient } from './stores/redis.js';

/** Heartbeats between two lost-job sweeps when nothing suggests a loss. */
export const FULL_SWEEP_EVERY = 12;

/**
 * Runs ingestion jobs from the shared queue with `concurrency` loops. Each job is taken onto this
 * worker's in-flight list and removed when it ends, whatever the outcome: a malformed job is logged
 * and dropped, a failed one is logged with its job id (the book is marked failed); neither is
 * retried. A heartbeat keeps this worker alive in others' eyes; it returns dead workers' jobs to
 * the queue, and re-queues the open book jobs (PostgreSQL's record) that the queue lost, as after
 * a Redis restart; both also run at start. That sweep reads the whole queue, so a heartbeat runs
 * it only when jobs may have been lost (the Redis lost its data, or a worker died) and otherwise
 * once every `FULL_SWEEP_EVERY` heartbeats. `stop` lets running jobs finish within a deadline,
 * then returns the rest to the queue.
 */
export class Worker {
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly blockingClients: RedisClient[] = [];
  private running = 0;
  private rounds = 0;
  /** Whether workers of earlier versions (keys without the hash tag) may still hold jobs. */
  private legacyWorkers = true;

  constructor(
    private readonly options: {
      queue: JobQueue;
      jobs: BookJobs;
      ingestion: IngestionService;
      logger: Logger;
      concurrency: number;
      heartbeatMs: number;
      deadAfterMs: number;
      /** A new connection for blocking pops (real Redis); without it the loops poll. */
      blockingClient?: (() => RedisClient) | undefined;
    },
  ) {}

  get inFlight(): number {
    return this.running;
  }

  async start(): Promise<void> {
    const { queue, logger, heartbeatMs, deadAfterMs } = this.options;
    this.stopping = false;
    this.loops.length = 0;
    this.timers.length = 0;
    await queue.heartbeat(deadAfterMs);
    await this.recover().catch((err) => logger.warn({ err: String(err) }, 'recovery failed'));
    this.timers.push(
      setInterval(() => {
        queue
          .heartbeat(deadAfterMs)
          .catch((err) => logger.warn({ err: String(err) }, 'heartbeat failed'));
        this.recover().catch((err) => logger.warn({ err: String(err) }, 'recovery failed'));
      }, heartbeatMs),
    );
    for (let i = 0; i < this.options.concurrency; i++) this.loops.push(this.loop());
    logger.info(
      { worker: queue.workerId, concurrency: this.options.concurrency },
      'worker started',
    );
  }

  private async recover(): Promise<void> {
    const { queue, jobs, logger } = this.options;
    const dead = await queue.recoverDeadWorkers();
    if (this.legacyWorkers) {
      const legacy = await queue.recoverLegacyWorkers();
      dead.push(...legacy.recovered);
      this.legacyWorkers = legacy.pending;
    }
    for (const r of dead) {
      logger.warn(
        { deadWorker: r.worker, jobs: r.jobs },
        "returned a dead worker's jobs to the queue",
      );
    }
    const reset = await queue.redisReset();
    const round = this.rounds++;
    if (reset || dead.length > 0 || round % FULL_SWEEP_EVERY === 0) await jobs.requeueLost();
  }

  private async loop(): Promise<void> {
    const { queue, logger } = this.options;
    const client = this.options.blockingClient?.();
    if (client) this.blockingClients.push(client);
    let idle = 25;
    while (!this.stopping) {
      let raw: string | null;
      try {
        raw = await queue.take(client ? { client, blockSeconds: 1 } : undefined);
      } catch (err) {
        if (this.stopping) break;
        logger.warn({ err: String(err) }, 'could not take a job; retrying');
        await sleep(1000);
        continue;
      }
      if (raw === null) {
        if (!client) {
          await sleep(idle);
          idle = Math.min(idle * 2, 500);
        }
        continue;
      }
      idle = 25;
      this.running++;
      try {
        await this.handle(raw);
      } catch (err) {
        // Only a Redis that stays unreachable through shutdown gets here; the loop goes on.
        logger.warn({ err: String(err) }, 'could not finish a job');
      } finally {
        this.running--;
      }
    }
  }

  private async handle(raw: string): Promise<void> {
    const { queue, ingestion, logger } = this.options;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      logger.error({ job: raw.slice(0, 200) }, 'malformed job (not JSON) dropped');
      await queue.done(raw);
      return;
    }
    const job = processBookJob.safeParse(parsed);
    if (!job.success) {
      const jobId = (parsed as { job_id?: unknown } | null)?.job_id;
      logger.error(
        {
          jobId: typeof jobId === 'string' ? jobId : null,
          problems: job.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
        },
        'malformed job dropped',
      );
      await queue.done(raw);
      return;
    }
    try {
      await ingestion.process(job.data);
    } catch (err) {
      logger.error(
        {
          jobId: job.data.job_id,
          bookId: job.data.book_id,
          reason: err instanceof Error ? err.message : String(err),
          rejected: err instanceof JobRejectedError,
        },
        'job failed',
      );
    }
    // Ended either way: failed jobs are logged, not retried.
    await this.finish(raw);
  }

  /**
   * Removes the ended job from the in-flight list, retrying while Redis does not answer (a
   * cluster failing over): left there, a live worker's job would be held forever.
   */
  private async finish(raw: string): Promise<void> {
    const { queue, logger } = this.options;
    for (;;) {
      try {
        await queue.done(raw);
        return;
      } catch (err) {
        if (this.stopping) throw err;
        logger.warn({ err: String(err) }, 'could not mark a job done; retrying');
        await sleep(500);
      }
    }
  }

  /** Stops taking jobs, waits for running ones up to `deadlineMs`, returns the rest to the queue. */
  async stop(deadlineMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    const finished = Promise.all(this.loops).then(() => true);
    const inTime = await Promise.race([finished, sleep(deadlineMs).then(() => false)]);
    for (const c of this.blockingClients) c.disconnect();
    const returned = await this.options.queue.release().catch(() => 0);
    this.options.logger.info({ inTime, returned }, 'worker stopped');
  }
}
