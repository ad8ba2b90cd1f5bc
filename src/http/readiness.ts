import type { Deps } from '../deps.js';

export type StoreName = 'supabase' | 'redis' | 'qdrant' | 'typesense';

interface StoreCheck {
  ok: boolean;
  ms: number;
  error?: string;
}

interface ReadinessReport {
  ready: boolean;
  stores: Record<StoreName, StoreCheck>;
  providers: { embeddings: string; llm: string };
}

const PROBE_TIMEOUT_MS = 2000;
const REUSE_MS = 1000;

/**
 * `/readyz`'s per-store report: each configured store is asked something cheap (Supabase: a HEAD
 * of one category; Redis: PING; Qdrant: its version; Typesense: /health), in parallel, each with
 * a short timeout. The model providers are not called (a probe must not cost money); they are
 * reported as configured. A report is reused for a second so probes cannot flood the stores.
 */
export class Readiness {
  private last: { at: number; report: Promise<ReadinessReport> } | null = null;

  constructor(
    private readonly deps: Deps,
    private readonly timeoutMs = Math.min(PROBE_TIMEOUT_MS, deps.config.storeTimeoutMs),
  ) {}

  check(): Promise<ReadinessReport> {
    const now = Date.now();
    if (this.last && now - this.last.at < REUSE_MS) return this.last.report;
    const report = this.run();
    this.last = { at: now, report };
    return report;
  }

  private async run(): Promise<ReadinessReport> {
    const { supabase, redis, vectors, keywords, config } = this.deps;
    const probes: Record<StoreName, () => Promise<unknown>> = {
      supabase: async () => {
        const { error } = await supabase.from('categories').select('id', { head: true }).limit(1);
        if (error) throw new Error(error.message || 'error');
      },
      redis: async () => {
        if ((await redis.ping()) !== 'PONG') throw new Error('unexpected PING reply');
      },
      qdrant: () => vectors.client.versionInfo(),
      typesense: async () => {
        const health = (await keywords.client.health.retrieve()) as { ok?: boolean };
        if (health.ok !== true) throw new Error('not ok');
      },
    };
    const names = Object.keys(probes) as StoreName[];
    const results = await Promise.all(names.map((name) => this.probe(probes[name])));
    const stores = Object.fromEntries(names.map((n, i) => [n, results[i]!])) as Record<
      StoreName,
      StoreCheck
    >;
    return {
      ready: results.every((r) => r.ok),
      stores,
      providers: { embeddings: config.embeddings.provider, llm: config.llm.provider },
    };
  }

  private async probe(fn: () => Promise<unknown>): Promise<StoreCheck> {
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer in ${this.timeoutMs} ms`)),
            this.timeoutMs,
          );
        }),
      ]);
      return { ok: true, ms: Math.round(performance.now() - t0) };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { ok: false, ms: Math.round(performance.now() - t0), error: message.slice(0, 200) };
    } finally {
      clearTimeout(timer);
    }
  }
}
