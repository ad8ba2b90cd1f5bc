import { AsyncLocalStorage } from 'node:async_hooks';
import type { Deps } from '../src/deps.js';
import type { StoreCall } from '../src/stores/metrics.js';

/**
 * Attributes every store call (as the gateway's StoreCallCounter records it) to the step of the
 * request that made it. While tracing, the methods behind each step (the caches, the chat store,
 * the context cache, the rewriter, the retrievers, the turn store) are wrapped on their instances
 * so that the calls they make run under an AsyncLocalStorage label; calls made outside any wrapped
 * method are named by their operation (the session lock's SET NX, GET and release script, the
 * reply's model call, the rate limiter's script). Each top-level step's span (called → settled)
 * is kept too: it shows which steps the code started together, whatever the stores' speed. Only calls made for requests run through `runTraced` (the HTTP server does
 * so for requests with an `x-bench-trace` header) are kept, so that stragglers of an earlier load do
 * not count. `stop` restores the methods and returns the calls with their start and end times, in
 * ms from the first call.
 */
/** When a traced step (a wrapped method) was called and when its promise settled. */
export interface StepSpan {
  step: string;
  start: number;
  end: number;
}

export interface Trace {
  calls: TracedCall[];
  spans: StepSpan[];
}

export interface TracedCall {
  step: string;
  store: string;
  op: string;
  start: number;
  end: number;
  ok: boolean;
}

const UNWRAPPED_STEP: Record<string, string> = {
  'redis:set': 'lock take (SET NX PX)',
  'redis:get': 'lock check before saving',
  'redis:eval': 'lock release (compare-and-delete)',
  'llm:generate': 'reply (model)',
  'embeddings:embed': 'embed narrative query (in-process)',
};

export class CallTracer {
  private readonly als = new AsyncLocalStorage<string>();
  private readonly traced = new AsyncLocalStorage<true>();
  private restore: (() => void)[] = [];
  private calls: TracedCall[] = [];
  private spans: StepSpan[] = [];
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly deps: Deps) {}

  start(): void {
    this.stop();
    const d = this.deps;
    this.wrap(d.chatStore, 'sessionsByIds', 'session row');
    this.wrap(d.caches.book, 'getMany', 'book');
    this.wrap(d.caches.character, 'getMany', 'character');
    this.wrap(d.caches.book, 'write', 'book write-back');
    this.wrap(d.caches.character, 'write', 'character write-back');
    this.wrap(d.catalogStore, 'booksPage', 'books page (list)');
    this.wrap(d.catalogStore, 'categories', 'categories');
    this.wrap(d.catalogStore, 'charactersOfBooks', "book's characters");
    this.wrap(d.chatStore, 'messagesPage', 'messages page');
    this.wrap(d.chatPages, 'read', 'session row: chat page version');
    this.wrap(d.chat.turns, 'beginTurn', 'fence take and replay check (one call)');
    this.wrap(d.chat.context, 'load', 'session context read');
    this.wrap(d.chat.context, 'store', 'session context write');
    this.wrap(d.chat.rewriter, 'rewrite', 'query rewrite (cache, else model)');
    this.wrap(d.vectors, 'search', 'vector search');
    this.wrap(d.keywords, 'search', 'keyword search');
    this.wrap(d.chat.turns, 'saveTurn', 'save turn (one transaction)');
    this.unsubscribe = d.counter.onCall((call: StoreCall) => {
      if (!this.traced.getStore()) return;
      const end = performance.now();
      const key = `${call.store}:${call.op}`;
      this.calls.push({
        step: this.als.getStore() ?? UNWRAPPED_STEP[key] ?? '(outside any traced step)',
        store: call.store,
        op: call.op,
        start: end - call.ms,
        end,
        ok: call.ok,
      });
    });
  }

  /** Runs a request's handler so that its store calls are recorded (others' are not). */
  runTraced<T>(fn: () => T): T {
    return this.traced.run(true, fn);
  }

  stop(): Trace {
    for (const fn of this.restore.reverse()) fn();
    this.restore = [];
    this.unsubscribe?.();
    this.unsubscribe = null;
    // Off until the next trace, so that measurements after this one do not pay for them.
    this.als.disable();
    this.traced.disable();
    const calls = this.calls.sort((a, b) => a.start - b.start);
    const spans = this.spans.sort((a, b) => a.start - b.start);
    this.calls = [];
    this.spans = [];
    // The rate limiter's script runs before the turn takes its lock; the lock's release after.
    const lockTaken = calls.find((c) => c.step === UNWRAPPED_STEP['redis:set'])?.start ?? Infinity;
    for (const c of calls) {
      if (c.step === UNWRAPPED_STEP['redis:eval'] && c.start < lockTaken) {
        c.step = 'rate limit check (EVAL)';
      }
    }
    const t0 = Math.min(calls[0]?.start ?? 0, spans[0]?.start ?? Infinity);
    return {
      calls: calls.map((c) => ({ ...c, start: round(c.start - t0), end: round(c.end - t0) })),
      spans: spans.map((x) => ({ ...x, start: round(x.start - t0), end: round(x.end - t0) })),
    };
  }

  private wrap(target: object, method: string, label: string): void {
    const obj = target as Record<string, unknown>;
    const original = obj[method] as (...args: unknown[]) => unknown;
    const hadOwn = Object.hasOwn(obj, method);
    const { als, traced, spans } = this;
    obj[method] = function (this: unknown, ...args: unknown[]) {
      const outer = als.getStore();
      const start = performance.now();
      const out = als.run(outer ? `${outer} › ${label}` : label, () => original.apply(this, args));
      if (!outer && traced.getStore() && out instanceof Promise) {
        const done = () => spans.push({ step: label, start, end: performance.now() });
        out.then(done, done);
      }
      return out;
    };
    this.restore.push(() => {
      if (hadOwn) obj[method] = original;
      else delete obj[method];
    });
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
