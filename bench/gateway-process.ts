import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startRuntime } from '../src/runtime.js';
import { failStartup, serveCommands } from './ipc.js';
import { CallTracer } from './trace.js';
import { type AppVariant, buildVariant, variantNames } from './variants.js';

/**
 * The gateway under test, in its own process: the project's own `loadConfig` + `startRuntime` with
 * the environment the parent gives (BENCH_GATEWAY_ENV, JSON), no worker, and (with BENCH_SERVE=1)
 * `createApp` served by node:http on 127.0.0.1. Over IPC the parent reads the store call counter,
 * traces a request's store calls step by step, empties the caches, reads memory, switches between
 * the app variants of the tuning scenario, and runs ingestion jobs with memory sampling.
 */
async function main() {
  const env = JSON.parse(process.env.BENCH_GATEWAY_ENV ?? '{}') as Record<string, string>;
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel);
  const runtime = await startRuntime(config, logger, { startWorker: false });
  const { deps } = runtime;
  const tracer = new CallTracer(deps);
  let profiler: Session | undefined;

  let variant: AppVariant = await buildVariant('shipped', deps);
  let server: ReturnType<typeof createServer> | undefined;
  let url: string | undefined;
  if (process.env.BENCH_SERVE === '1') {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.headers['x-bench-trace']) tracer.runTraced(() => variant.app(req, res));
      else variant.app(req, res);
    });
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  }

  const cpu = () => {
    const c = process.cpuUsage();
    return { userMs: c.user / 1000, systemMs: c.system / 1000 };
  };
  const memory = () => {
    const m = process.memoryUsage();
    return {
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      maxRss: process.resourceUsage().maxRSS * 1024,
    };
  };

  serveCommands(
    { url, stores: runtime.stores, variants: await variantNames(deps) },
    {
      memory,
      cpu,
      gc: () => {
        const gc = (globalThis as { gc?: () => void }).gc;
        if (!gc) throw new Error('start this process with --expose-gc');
        gc();
        gc();
        return memory();
      },
      counterReset: () => {
        deps.counter.reset();
        return true;
      },
      counterSnapshot: () => deps.counter.snapshot(),
      /**
       * Empties the Redis caches (chat:* keys, the chat page version tokens) and the in-process
       * lists: the next read is cold.
       */
      cold: async () => {
        const keys = await deps.redis.keys('chat:*');
        // New version tokens: every chat page cached in process is a miss too.
        const versions = await deps.redis.keys('chat_page_version:*');
        const cacheKeys = [...keys.filter((k) => !k.startsWith('chat:lock:')), ...versions];
        if (cacheKeys.length > 0) await deps.redis.del(...cacheKeys);
        deps.caches.characterIdsByBook.clear();
        deps.caches.categories.clear();
        return cacheKeys.length;
      },
      traceStart: () => {
        tracer.start();
        return true;
      },
      traceStop: () => tracer.stop(),
      /** CPU profile of what follows, written as a .cpuprofile by `profileStop` (a diagnosis aid). */
      profileStart: async () => {
        profiler ??= new Session();
        profiler.connect();
        await profiler.post('Profiler.enable');
        await profiler.post('Profiler.start');
        return true;
      },
      profileStop: async (path: string) => {
        if (!profiler) throw new Error('no profile running');
        const { profile } = await profiler.post('Profiler.stop');
        profiler.disconnect();
        await writeFile(path, JSON.stringify(profile));
        return path;
      },
      variant: async (name: string) => {
        variant.dispose();
        await variant.app.dispose();
        const next = await buildVariant(name, deps);
        variant = next;
        return {
          description: next.description,
          uniqueDocuments: next.uniqueDocuments ?? false,
          inProcessOnly: next.inProcessOnly ?? false,
        };
      },
      ingest: (args: { bookId: string; sampleMs: number }) => ingestMeasured(args),
      microbench,
      close: async () => {
        if (server) {
          server.closeAllConnections();
          await new Promise<void>((resolve) => server!.close(() => resolve()));
        }
        variant.dispose();
        await variant.app.dispose();
        await runtime.close();
        setTimeout(() => process.exit(0), 20).unref();
        return true;
      },
    },
  );

  /**
   * The current variant's cost per request without sockets or a load generator: `n` requests one
   * after the other through `app.fetch`, in `batches`; per batch the wall and CPU time per request
   * (µs). Every answer must equal `expect`.
   */
  async function microbench(args: {
    query: string;
    variables: Record<string, unknown>;
    token: string;
    expect: string;
    n: number;
    batches: number;
  }) {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      authorization: `Bearer ${args.token}`,
    };
    const out: { wallUs: number; cpuUs: number }[] = [];
    for (let b = 0; b < args.batches; b++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < args.n; i++) {
        const query = variant.uniqueDocuments
          ? `${args.query}\n# ${b}-${i}-${Date.now()}`
          : args.query;
        const res = await variant.app.fetch('http://127.0.0.1/graphql', {
          method: 'POST',
          headers,
          body: JSON.stringify({ query, variables: args.variables }),
        });
        const text = await res.text();
        if (text !== args.expect) throw new Error(`unexpected answer: ${text.slice(0, 300)}`);
      }
      const c = process.cpuUsage(c0);
      out.push({
        wallUs: ((performance.now() - t0) * 1000) / args.n,
        cpuUs: (c.user + c.system) / args.n,
      });
    }
    return out;
  }

  /** One ingestion job, timed, with memory sampled every `sampleMs` and the embedder timed. */
  async function ingestMeasured(args: { bookId: string; sampleMs: number }) {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = memory();
    let peakRss = before.rss;
    let peakHeap = before.heapUsed;
    const sample = () => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    };
    const timer = setInterval(sample, args.sampleMs);
    const embedder = deps.embedder;
    const embed = embedder.embed.bind(embedder);
    let embedMs = 0;
    embedder.embed = async (texts, options) => {
      const t0 = performance.now();
      try {
        return await embed(texts, options);
      } finally {
        embedMs += performance.now() - t0;
        sample();
      }
    };
    deps.counter.reset();
    const callMs: Record<string, number> = {};
    const unsubscribe = deps.counter.onCall((call) => {
      const key = `${call.store}:${call.op}`;
      callMs[key] = (callMs[key] ?? 0) + call.ms;
    });
    const t0 = performance.now();
    try {
      const out = await deps.ingestion.process({
        job_id: `bench-${Date.now()}`,
        book_id: args.bookId,
      });
      const ms = performance.now() - t0;
      sample();
      return {
        ...out,
        ms,
        embedMs,
        before,
        peakRss,
        peakHeap,
        after: memory(),
        calls: deps.counter.snapshot(),
        callMs,
      };
    } finally {
      unsubscribe();
      clearInterval(timer);
      embedder.embed = embed;
    }
  }
}

main().catch(failStartup);
