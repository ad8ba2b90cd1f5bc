import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { JobQueue } from '../queue/job-queue.js';
import type { StoreCallCounter } from '../stores/metrics.js';

interface MetricsSources {
  counter: StoreCallCounter;
  queue?: Pick<JobQueue, 'length'> | undefined;
  inFlightJobs?: (() => number) | undefined;
  heldLocks?: (() => number) | undefined;
  inFlightOperations?: (() => number) | undefined;
  /** Process metrics (CPU, memory, event loop); off in tests that make many apps. */
  processMetrics?: boolean;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const STORE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The gateway's Prometheus metrics, in a registry of its own (one per app, so several apps in one
 * process do not collide). Store calls come from the StoreCallCounter's `onCall`; the queue length
 * is read from Redis when scraped; in-flight jobs, turns and held locks from the sources given.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'operation' | 'type' | 'status'>;
  readonly requestDuration: Histogram<'operation' | 'type'>;
  readonly errors: Counter<'operation' | 'code'>;
  readonly storeCalls: Counter<'store' | 'op' | 'ok'>;
  readonly storeDuration: Histogram<'store' | 'op'>;
  readonly lockWaits: Counter<'outcome'>;
  readonly lockWaitDuration: Histogram;
  readonly rateLimited: Counter<'bucket'>;
  readonly searchDegraded: Counter<'retriever'>;
  private readonly unsubscribe: () => void;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'falsafa_graphql_requests_total',
      help: 'GraphQL requests by operation, operation type and HTTP status',
      labelNames: ['operation', 'type', 'status'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'falsafa_graphql_request_duration_seconds',
      help: 'Time to the response (for streams: to its first byte), by operation',
      labelNames: ['operation', 'type'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.errors = new Counter({
      name: 'falsafa_graphql_errors_total',
      help: 'GraphQL errors returned to clients, by operation and extensions.code',
      labelNames: ['operation', 'code'],
      registers,
    });
    this.storeCalls = new Counter({
      name: 'falsafa_store_calls_total',
      help: 'Calls to the stores (supabase, redis, qdrant, typesense, llm, embeddings) by operation',
      labelNames: ['store', 'op', 'ok'],
      registers,
    });
    this.storeDuration = new Histogram({
      name: 'falsafa_store_call_duration_seconds',
      help: 'Latency of store calls by store and operation',
      labelNames: ['store', 'op'],
      buckets: STORE_BUCKETS,
      registers,
    });
    this.lockWaits = new Counter({
      name: 'falsafa_session_lock_acquisitions_total',
      help: 'Session lock acquisitions: taken at once, taken after waiting, or given up (SESSION_BUSY)',
      labelNames: ['outcome'],
      registers,
    });
    this.lockWaitDuration = new Histogram({
      name: 'falsafa_session_lock_wait_seconds',
      help: 'Time spent waiting for a session lock before taking it',
      buckets: [0, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'falsafa_rate_limited_total',
      help: 'Requests refused with RATE_LIMITED, by rate-limit bucket',
      labelNames: ['bucket'],
      registers,
    });
    this.searchDegraded = new Counter({
      name: 'falsafa_search_degraded_total',
      help: 'Searches (searchBook, chat turns) answered without one retriever, by the retriever that failed or timed out',
      labelNames: ['retriever'],
      registers,
    });
    const { queue, inFlightJobs, heldLocks, inFlightOperations } = sources;
    new Gauge({
      name: 'falsafa_queue_length',
      help: 'Jobs waiting in processing_queue (read from Redis when scraped; -1 if unreachable)',
      registers,
      async collect() {
        if (!queue) return;
        this.set(await queue.length().catch(() => -1));
      },
    });
    new Gauge({
      name: 'falsafa_worker_inflight_jobs',
      help: "Ingestion jobs this process's worker is running",
      registers,
      collect() {
        this.set(inFlightJobs?.() ?? 0);
      },
    });
    new Gauge({
      name: 'falsafa_session_locks_held',
      help: 'Session locks this process holds (chat turns being answered)',
      registers,
      collect() {
        this.set(heldLocks?.() ?? 0);
      },
    });
    new Gauge({
      name: 'falsafa_graphql_inflight_operations',
      help: 'GraphQL operations being executed (streams until they end)',
      registers,
      collect() {
        this.set(inFlightOperations?.() ?? 0);
      },
    });
    if (sources.processMetrics)
      collectDefaultMetrics({ register: this.registry, prefix: 'falsafa_' });

    this.unsubscribe = sources.counter.onCall((call) => {
      this.storeCalls.inc({ store: call.store, op: call.op, ok: String(call.ok) });
      this.storeDuration.observe({ store: call.store, op: call.op }, call.ms / 1000);
    });
  }

  /** A lock taken after `ms` of waiting (0 when free), or given up after `ms`. */
  observeLockWait(ms: number, outcome: 'immediate' | 'waited' | 'busy'): void {
    this.lockWaits.inc({ outcome });
    if (outcome !== 'busy') this.lockWaitDuration.observe(ms / 1000);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.unsubscribe();
    this.registry.clear();
  }
}
