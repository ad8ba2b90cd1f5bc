export type StoreName = 'supabase' | 'redis' | 'qdrant' | 'typesense' | 'llm' | 'embeddings';

export interface StoreCall {
  store: StoreName;
  op: string;
  ms: number;
  ok: boolean;
}

/**
 * Counts the calls each store client makes (one HTTP request, one Redis command or pipeline =
 * one call), by store and operation. Tests and benchmarks read it to prove batching; the
 * `/metrics` endpoint exposes it.
 */
export class StoreCallCounter {
  private readonly counts = new Map<string, number>();
  private readonly listeners = new Set<(call: StoreCall) => void>();

  record(call: StoreCall): void {
    const key = `${call.store}:${call.op}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    for (const fn of this.listeners) fn(call);
  }

  /** Total calls to one store, or to one store operation (`supabase`, `redis:mget`). */
  count(storeOrKey: string): number {
    if (storeOrKey.includes(':')) return this.counts.get(storeOrKey) ?? 0;
    let n = 0;
    for (const [k, v] of this.counts) if (k.startsWith(`${storeOrKey}:`)) n += v;
    return n;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  reset(): void {
    this.counts.clear();
  }

  onCall(fn: (call: StoreCall) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Times `fn` and records it as one call. */
  async time<T>(store: StoreName, op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      const out = await fn();
      this.record({ store, op, ms: performance.now() - t0, ok: true });
      return out;
    } catch (err) {
      this.record({ store, op, ms: performance.now() - t0, ok: false });
      throw err;
    }
  }
}
