import { randomUUID } from 'node:crypto';
import type { Child } from './ipc.js';
import {
  type GqlRequest,
  type LoadResult,
  loadRun,
  median,
  percentile,
  post,
  postOk,
  round,
  sleep,
} from './load.js';
import {
  BOOK_PAGE,
  BOOKS_WITH_CHARACTERS,
  CHAT_PAGE,
  CHAT_PAGE_WITH_TEXT,
  charactersById,
  HELLO,
  PEER_BOOK_PAGE,
  PEER_CHAT_PAGE,
  SEND_MESSAGE,
} from './queries.js';
import type { ScalingRow } from './scaling.js';
import type { Trace, TracedCall } from './trace.js';

/** The scenarios of issue 6. Each returns plain data; report.ts turns it into RESULTS.md. */

export interface Settings {
  connections: number;
  warmupS: number;
  durationS: number;
  rounds: number;
  tuningDurationS: number;
  tuningRounds: number;
  tuningMicroRounds: number;
  turnSessions: number;
  turnsPerSession: number;
  turnTimeLimitS: number;
  chatHistoryTurns: number;
  soakWarmupS: number;
  soakS: number;
  soakConcurrency: number;
  /** The soak's request rate as a share of the book page's measured throughput. */
  soakRateShare: number;
  ingestBytes: number;
}

export interface SessionRef {
  sessionId: string;
  token: string;
}

export interface Bench {
  settings: Settings;
  log: (line: string) => void;
  gateway: Child;
  hello: Child;
  /** The peer (PostGraphile over the same PostgreSQL), or why it is not in this run. */
  peer: Child | null;
  peerSkipped: string | null;
  stores: Child;
  gwUrl: string;
  helloUrl: string;
  tokens: string[];
  readerToken: string;
  bookPageBookId: string;
  pageSession: string;
  pageToken: string;
  rowCounts: number[];
  rowBooks: Record<number, { bookId: string; characterIds: string[]; categoryId: string }>;
  turnSessions: SessionRef[];
  soakSessions: SessionRef[];
  startGateway: () => Promise<Child>;
  startIngestion: () => Promise<Child>;
  stop: (child: Child) => Promise<void>;
  megaBookId: string;
  megaBytes: number;
}

export interface Results {
  meta: Record<string, unknown>;
  throughput?: Awaited<ReturnType<typeof runThroughput>>;
  roundTrips?: Awaited<ReturnType<typeof runRoundTrips>>;
  chatTurn?: Awaited<ReturnType<typeof runChatTurns>>;
  tuning?: Awaited<ReturnType<typeof runTuning>>;
  ingestion?: Awaited<ReturnType<typeof runIngestion>>;
  soak?: Awaited<ReturnType<typeof runSoak>>;
  scaling?: ScalingRow[];
}

type Snapshot = Record<string, number>;

/** `record[key]`, made with `make` the first time. */
function entry<V>(record: Record<string, V>, key: string, make: () => V): V {
  let value = record[key];
  if (value === undefined) {
    value = make();
    record[key] = value;
  }
  return value;
}
const TRACE = { 'x-bench-trace': '1' };

interface Cpu {
  userMs: number;
  systemMs: number;
}
const cpuMs = (c: Cpu) => c.userMs + c.systemMs;

/**
 * A load run with the CPU time the server and the stores process spent on it, per request and as
 * a share of one core: it tells which process limits the throughput.
 */
async function loadWithCpu(
  b: Bench,
  server: Child,
  options: Parameters<typeof loadRun>[0],
): Promise<
  LoadResult & {
    cpu: {
      serverMsPerRequest: number;
      storesMsPerRequest: number;
      serverCoreShare: number;
      storesCoreShare: number;
    };
  }
> {
  const [s0, t0] = await Promise.all([server.call<Cpu>('cpu'), b.stores.call<Cpu>('cpu')]);
  const res = await loadRun(options);
  const [s1, t1] = await Promise.all([server.call<Cpu>('cpu'), b.stores.call<Cpu>('cpu')]);
  const n = Math.max(res.requests, 1);
  const wallMs = res.durationS * 1000;
  return {
    ...res,
    cpu: {
      serverMsPerRequest: round((cpuMs(s1) - cpuMs(s0)) / n, 3),
      storesMsPerRequest: round((cpuMs(t1) - cpuMs(t0)) / n, 3),
      serverCoreShare: round((cpuMs(s1) - cpuMs(s0)) / wallMs, 2),
      storesCoreShare: round((cpuMs(t1) - cpuMs(t0)) / wallMs, 2),
    },
  };
}

function perRequest(snapshot: Snapshot, requests: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(snapshot)) out[k] = round(v / Math.max(requests, 1), 2);
  return out;
}

function byStore(snapshot: Snapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(snapshot)) {
    const store = k.slice(0, k.indexOf(':'));
    out[store] = (out[store] ?? 0) + v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1-3: throughput of the baseline, the book page and the chat page, interleaved in rounds.

interface Target {
  key: 'baseline' | 'bookPage' | 'chatPage' | 'chatPageWithText' | 'peerBookPage' | 'peerChatPage';
  label: string;
  url: string;
  server: Child;
  req: GqlRequest;
  check: (data: any) => string | null;
}

export async function runThroughput(b: Bench) {
  const { settings: s, log } = b;
  const targets: Target[] = [
    {
      key: 'baseline',
      label: 'bare graphql-yoga hello-world',
      url: b.helloUrl,
      server: b.hello,
      req: { query: HELLO, token: b.readerToken },
      check: (d) => (d.hello === 'world' ? null : 'no hello'),
    },
    {
      key: 'bookPage',
      label: 'book page, warm (book + category + 20 characters)',
      url: b.gwUrl,
      server: b.gateway,
      req: { query: BOOK_PAGE, variables: { id: b.bookPageBookId }, token: b.readerToken },
      check: (d) =>
        d.book?.characters?.length === 20 && d.book?.category?.name
          ? null
          : 'book page is not book + category + 20 characters',
    },
    {
      key: 'chatPage',
      label: 'chat page, warm (session + character + book + last 50 messages)',
      url: b.gwUrl,
      server: b.gateway,
      req: { query: CHAT_PAGE, variables: { sessionId: b.pageSession }, token: b.pageToken },
      check: (d) =>
        d.chatSession?.messages?.edges?.length === 50 && d.chatSession?.character?.name
          ? null
          : 'chat page is not session + character + book + 50 messages',
    },
    {
      key: 'chatPageWithText',
      label: "chat page with every citation's passage text (the page before)",
      url: b.gwUrl,
      server: b.gateway,
      req: {
        query: CHAT_PAGE_WITH_TEXT,
        variables: { sessionId: b.pageSession },
        token: b.pageToken,
      },
      check: (d) =>
        d.chatSession?.messages?.edges?.some((e: any) => e.node.citations[0]?.text)
          ? null
          : 'chat page with text has no citation text',
    },
  ];
  if (b.peer) {
    targets.push(
      {
        key: 'peerBookPage',
        label: 'peer (PostGraphile): book page',
        url: String(b.peer.info.url),
        server: b.peer,
        req: { query: PEER_BOOK_PAGE, variables: { id: b.bookPageBookId }, token: b.readerToken },
        check: (d) =>
          d.book?.characters?.nodes?.length === 20 && d.book?.category?.name
            ? null
            : 'peer book page is not book + category + 20 characters',
      },
      {
        key: 'peerChatPage',
        label: 'peer (PostGraphile): chat page',
        url: String(b.peer.info.url),
        server: b.peer,
        req: {
          query: PEER_CHAT_PAGE,
          variables: { sessionId: b.pageSession },
          token: b.pageToken,
        },
        check: (d) =>
          d.chatSession?.messagesBySessionId?.edges?.length === 50 && d.chatSession?.character?.name
            ? null
            : 'peer chat page is not session + character + book + 50 messages',
      },
    );
  }
  const probes: Record<string, { bytes: number; body: string }> = {};
  for (const t of targets) {
    const r = await postOk(t.url, t.req);
    const problem = t.check(r.json.data);
    if (problem) throw new Error(`${t.key}: ${problem}`);
    probes[t.key] = { bytes: Buffer.byteLength(r.text), body: r.text };
  }
  log(
    `throughput: warm-up ${s.warmupS}s each, then ${s.rounds} rounds × ${s.durationS}s × ${targets.length} targets, ${s.connections} connections`,
  );
  for (const t of targets) {
    await loadRun({
      url: t.url,
      req: t.req,
      connections: s.connections,
      durationS: s.warmupS,
    });
  }
  const runs: Record<string, Awaited<ReturnType<typeof loadWithCpu>>[]> = Object.fromEntries(
    targets.map((t) => [t.key, []]),
  );
  const calls: Record<string, { snapshot: Snapshot; requests: number }> = {};
  for (let r = 0; r < s.rounds; r++) {
    for (const t of targets) {
      const counted = t.key !== 'baseline';
      if (counted) await t.server.call('counterReset');
      const profile = process.env.BENCH_PROFILE_DIR && t.server === b.gateway && r === 0;
      if (profile) await b.gateway.call('profileStart');
      const res = await loadWithCpu(b, t.server, {
        url: t.url,
        req: t.req,
        connections: s.connections,
        durationS: s.durationS,
        expectBody: probes[t.key]!.body,
      });
      runs[t.key]!.push(res);
      if (profile) {
        const path = `${process.env.BENCH_PROFILE_DIR}/${t.key}.cpuprofile`;
        log(`  profile: ${await b.gateway.call('profileStop', path)}`);
      }
      await sleep(300);
      if (counted) {
        const snap = await t.server.call<Snapshot>('counterSnapshot');
        const acc = entry(calls, t.key, () => ({ snapshot: {} as Snapshot, requests: 0 }));
        for (const [k, v] of Object.entries(snap)) acc.snapshot[k] = (acc.snapshot[k] ?? 0) + v;
        acc.requests += res.requests;
      }
      log(
        `  round ${r + 1} ${t.key}: ${res.rps} req/s, p50 ${res.p50} ms, p99 ${res.p99} ms, errors ${res.errors + res.non2xx + res.mismatches}; CPU per request: server ${res.cpu.serverMsPerRequest} ms, stores ${res.cpu.storesMsPerRequest} ms`,
      );
    }
  }
  const summarize = (t: Target) => {
    const list = runs[t.key]!;
    const base = runs.baseline!;
    const ratios = list.map((x, i) => round(x.rps / base[i]!.rps, 3));
    return {
      label: t.label,
      responseBytes: probes[t.key]!.bytes,
      rps: median(list.map((x) => x.rps)),
      p50: median(list.map((x) => x.p50)),
      p99: median(list.map((x) => x.p99)),
      throughputRatio: median(ratios),
      throughputRatioPerRound: ratios,
      p50Ratio: round(median(list.map((x, i) => x.p50 / Math.max(base[i]!.p50, 0.01))), 2),
      p99Ratio: round(median(list.map((x, i) => x.p99 / Math.max(base[i]!.p99, 0.01))), 2),
      errors: list.reduce((n, x) => n + x.errors + x.non2xx + x.mismatches + x.timeouts, 0),
      cpu: {
        serverMsPerRequest: median(list.map((x) => x.cpu.serverMsPerRequest)),
        storesMsPerRequest: median(list.map((x) => x.cpu.storesMsPerRequest)),
        serverCoreShare: median(list.map((x) => x.cpu.serverCoreShare)),
        storesCoreShare: median(list.map((x) => x.cpu.storesCoreShare)),
      },
      storeCallsPerRequest: calls[t.key]
        ? perRequest(calls[t.key]!.snapshot, calls[t.key]!.requests)
        : {},
      runs: list,
    };
  };
  return {
    connections: s.connections,
    durationS: s.durationS,
    rounds: s.rounds,
    baseline: summarize(targets[0]!),
    bookPage: summarize(targets[1]!),
    chatPage: summarize(targets[2]!),
    chatPageWithText: summarize(targets[3]!),
    peerBookPage: targets[4] ? summarize(targets[4]) : null,
    peerChatPage: targets[5] ? summarize(targets[5]) : null,
    peerSkipped: b.peer ? null : b.peerSkipped,
    cold: b.peer ? await coldAgainstPeer(b, targets) : null,
  };
}

/**
 * Cold requests, one at a time, gateway and peer taking turns: before each gateway request its
 * Redis caches and in-process lists are emptied, and every document (both servers') is made new
 * by a comment so that no parse, plan or response cache answers it. The median latency of each and
 * the store round trips each cold request made.
 */
async function coldAgainstPeer(b: Bench, targets: Target[]) {
  const n = 15;
  const pages: [string, Target, Target][] = [
    ['book page', targets[1]!, targets[4]!],
    ['chat page', targets[2]!, targets[5]!],
  ];
  const out = [];
  for (const [page, gw, peer] of pages) {
    const ms: Record<'gateway' | 'peer', number[]> = { gateway: [], peer: [] };
    const calls: Record<'gateway' | 'peer', Snapshot> = { gateway: {}, peer: {} };
    for (let i = 0; i < n; i++) {
      for (const [who, t] of [
        ['gateway', gw],
        ['peer', peer],
      ] as const) {
        if (who === 'gateway') await b.gateway.call('cold');
        await t.server.call('counterReset');
        const t0 = performance.now();
        const r = await postOk(t.url, {
          ...t.req,
          query: `${t.req.query}\n# cold ${randomUUID()}`,
        });
        ms[who].push(performance.now() - t0);
        const problem = t.check(r.json.data);
        if (problem) throw new Error(`cold ${t.key}: ${problem}`);
        await sleep(50);
        const snap = await t.server.call<Snapshot>('counterSnapshot');
        for (const [k, v] of Object.entries(byStore(snap))) {
          calls[who][k] = (calls[who][k] ?? 0) + v;
        }
      }
    }
    const gatewayMs = median(ms.gateway);
    const peerMs = median(ms.peer);
    out.push({
      page,
      requests: n,
      gatewayMs: round(gatewayMs, 1),
      peerMs: round(peerMs, 1),
      /** The gateway's speed as a share of the peer's (peer latency over gateway latency). */
      gatewayVsPeer: round(peerMs / gatewayMs, 2),
      gatewayCallsPerRequest: perRequest(calls.gateway, n),
      peerCallsPerRequest: perRequest(calls.peer, n),
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 4: store round trips per request, counted at the store clients, by entity type.

const ENTITY_OF_STEP: [RegExp, string][] = [
  [/^session row/, 'ChatSession'],
  [/^messages page/, 'Message'],
  [/^book's characters|^character/, 'Character'],
  [/^books page|^book/, 'Book'],
  [/^categories/, 'Category'],
];
const REDIS_READS = new Set(['mget', 'get']);

export interface EntityCounts {
  redisReads: number;
  redisWrites: number;
  supabase: number;
  supabaseOps: string[];
}

function entityCounts(calls: TracedCall[]): Record<string, EntityCounts> {
  const out: Record<string, EntityCounts> = {};
  for (const c of calls) {
    const top = c.step.split(' › ')[0]!;
    const entity = ENTITY_OF_STEP.find(([re]) => re.test(top))?.[1] ?? `other (${top})`;
    const e = entry(out, entity, () => ({
      redisReads: 0,
      redisWrites: 0,
      supabase: 0,
      supabaseOps: [] as string[],
    }));
    if (c.store === 'redis') {
      if (REDIS_READS.has(c.op)) e.redisReads++;
      else e.redisWrites++;
    } else if (c.store === 'supabase') {
      e.supabase++;
      e.supabaseOps.push(c.op);
    }
  }
  return out;
}

interface RoundTripCase {
  name: string;
  /** Entity types whose warm reads are list queries or rows the design does not cache. */
  uncached: Record<string, string>;
  request: (n: number) => GqlRequest;
  check: (data: any, n: number) => boolean;
}

export async function runRoundTrips(b: Bench) {
  const { log } = b;
  const cases: RoundTripCase[] = [
    {
      name: 'book page: a book + its category + its N characters',
      uncached: {},
      request: (n) => ({
        query: BOOK_PAGE,
        variables: { id: b.rowBooks[n]!.bookId },
        token: b.readerToken,
      }),
      check: (d, n) => d.book?.characters?.length === n,
    },
    {
      name: 'N characters by id, each with its book and category',
      uncached: {},
      request: (n) => ({ ...charactersById(b.rowBooks[n]!.characterIds), token: b.readerToken }),
      check: (d, n) => Object.keys(d).length === n && Object.values(d).every((c: any) => c?.book),
    },
    {
      name: 'a page of N books of a category, each with its characters',
      uncached: { Book: 'the page is a keyset list query; only rows by id are cached' },
      request: (n) => ({
        query: BOOKS_WITH_CHARACTERS,
        variables: { categoryId: b.rowBooks[n]!.categoryId, first: n },
        token: b.readerToken,
      }),
      check: (d, n) =>
        d.books?.edges?.length === n &&
        d.books.edges.every((e: any) => e.node.characters.length === 2),
    },
    {
      name: 'chat page: a session + character + book + its last N messages',
      // Warm: the whole page from the in-process chat page cache, after one Redis read of the
      // session's version token (counted under ChatSession).
      uncached: {},
      request: (n) => ({
        query: CHAT_PAGE,
        variables: { sessionId: b.pageSession, last: n },
        token: b.pageToken,
      }),
      check: (d, n) => d.chatSession?.messages?.edges?.length === n,
    },
  ];
  log('round trips: each request cold (caches emptied) then warm, traced at the store clients');
  const out = [];
  for (const c of cases) {
    const perN = [];
    for (const n of b.rowCounts) {
      await b.gateway.call('cold');
      const measure = async () => {
        await b.gateway.call('traceStart');
        const r = await postOk(b.gwUrl, { ...c.request(n), headers: TRACE });
        const { calls } = await b.gateway.call<Trace>('traceStop');
        if (!c.check(r.json.data, n)) throw new Error(`${c.name} (${n}): unexpected answer`);
        return { entities: entityCounts(calls), calls };
      };
      const cold = await measure();
      const warm = await measure();
      perN.push({ n, cold, warm });
    }
    out.push({ name: c.name, uncached: c.uncached, perN });
  }
  return out.map((c) => ({ ...c, verdict: roundTripVerdict(c) }));
}

function roundTripVerdict(c: {
  uncached: Record<string, string>;
  perN: {
    n: number;
    cold: { entities: Record<string, EntityCounts> };
    warm: { entities: Record<string, EntityCounts> };
  }[];
}) {
  // Each finding with the row counts it was seen at: "warm Book: 1 Supabase call (1, 10, 100 rows)".
  const found = new Map<string, { ns: number[]; why?: string }>();
  const note = (text: string, n: number, why?: string) => {
    const f = found.get(text) ?? { ns: [], ...(why ? { why } : {}) };
    f.ns.push(n);
    found.set(text, f);
  };
  for (const { n, cold, warm } of c.perN) {
    for (const [entity, e] of Object.entries(warm.entities)) {
      if (e.redisReads > 1) note(`warm ${entity}: ${e.redisReads} Redis reads`, n);
      if (e.supabase > 0) {
        note(`warm ${entity}: ${e.supabase} Supabase call(s)`, n, c.uncached[entity]);
      }
    }
    for (const [entity, e] of Object.entries(cold.entities)) {
      if (e.redisReads > 1) note(`cold ${entity}: ${e.redisReads} Redis reads`, n);
      if (e.supabase > 1) note(`cold ${entity}: ${e.supabase} Supabase calls`, n);
    }
  }
  const lines = [...found].map(([text, f]) => ({
    text: `${text} (${f.ns.join(', ')} rows)`,
    why: f.why ?? null,
  }));
  const shape = (x: Record<string, EntityCounts>) =>
    JSON.stringify(
      Object.entries(x)
        .sort()
        .map(([k, e]) => [k, e.redisReads, e.redisWrites, e.supabase]),
    );
  const sameForAllN =
    new Set(c.perN.map((p) => shape(p.cold.entities))).size === 1 &&
    new Set(c.perN.map((p) => shape(p.warm.entities))).size === 1;
  return {
    met: lines.length === 0 && sameForAllN,
    problems: lines.filter((l) => !l.why).map((l) => l.text),
    byDesign: lines.filter((l) => l.why).map((l) => `${l.text}: ${l.why}`),
    sameForAllN,
  };
}

// ---------------------------------------------------------------------------------------------
// 5: chat turns with a model that answers at once, 20 sessions at the same time.

/** The least each step of a turn needs, by store, per the chat-turn flow (cold: caches empty). */
export const TURN_LEAST: {
  step: string;
  warm: Record<string, number>;
  cold: Record<string, number>;
  why: string;
}[] = [
  {
    step: 'rate limit check (EVAL)',
    warm: { redis: 1 },
    cold: { redis: 1 },
    why: 'messages per reader per window (one script)',
  },
  {
    step: 'session row',
    warm: { supabase: 1 },
    cold: { supabase: 1 },
    why: 'ownership check; sessions are not cached',
  },
  {
    step: 'character',
    warm: { redis: 1 },
    cold: { redis: 2, supabase: 1 },
    why: 'chat:char (miss: Supabase + write-back)',
  },
  {
    step: 'book',
    warm: { redis: 1 },
    cold: { redis: 2, supabase: 1 },
    why: 'chat:book (miss: Supabase + write-back)',
  },
  {
    step: 'lock take (SET NX PX)',
    warm: { redis: 1 },
    cold: { redis: 1 },
    why: 'chat:lock SET NX PX',
  },
  {
    step: 'fence take and replay check (one call)',
    warm: { supabase: 1 },
    cold: { supabase: 1 },
    why: "begin_chat_turn RPC: this holding's fencing number, which save_chat_turn checks, and the turn saved with the clientMessageId (a retried message must not be answered twice)",
  },
  {
    step: 'session context read',
    warm: { redis: 1 },
    cold: { redis: 1, supabase: 1 },
    why: 'chat:sess (miss: last messages from Supabase)',
  },
  {
    step: 'query rewrite (cache, else model)',
    warm: { redis: 2, llm: 1 },
    cold: { redis: 2, llm: 1 },
    why: 'chat:qr read, model on a miss, chat:qr write',
  },
  {
    step: 'embed narrative query (in-process)',
    warm: { embeddings: 1 },
    cold: { embeddings: 1 },
    why: 'local embedder: no network',
  },
  {
    step: 'vector search',
    warm: { qdrant: 1 },
    cold: { qdrant: 1 },
    why: 'Qdrant nearest neighbours',
  },
  {
    step: 'keyword search',
    warm: { typesense: 1 },
    cold: { typesense: 1 },
    why: 'Typesense keyword search',
  },
  { step: 'reply (model)', warm: { llm: 1 }, cold: { llm: 1 }, why: 'the reply' },
  {
    step: 'save turn (one transaction)',
    warm: { supabase: 1, redis: 1 },
    cold: { supabase: 1, redis: 1 },
    why: "save_chat_turn RPC: messages + session counters; then the session's chat page version token replaced (SET)",
  },
  {
    step: 'session context write',
    warm: { redis: 1 },
    cold: { redis: 1 },
    why: 'refresh chat:sess',
  },
  {
    step: 'lock check before saving',
    warm: { redis: 1 },
    cold: { redis: 1 },
    why: 'just before saving, the token must still be ours (a lock overwritten less than a third of its TTL ago is not seen by the extension timer); the fencing number then refuses a save that is late all the same',
  },
  {
    step: 'lock release (compare-and-delete)',
    warm: { redis: 1 },
    cold: { redis: 1 },
    why: 'release chat:lock',
  },
];

/** Pairs of steps that do not depend on each other, so could overlap. */
const INDEPENDENT_PAIRS: { a: string; b: string; aOp?: string; note: string; fix: string }[] = [
  {
    a: 'character',
    b: 'book',
    note: 'both need only the session row',
    fix: 'load them together (Promise.all)',
  },
  {
    a: 'vector search',
    b: 'keyword search',
    note: "retrieval's two searches",
    fix: 'run both searches together',
  },
  {
    a: 'fence take and replay check (one call)',
    b: 'session context read',
    note: 'both need only the lock',
    fix: 'read them together',
  },
  {
    a: 'query rewrite (cache, else model)',
    aOp: 'redis:set',
    b: 'vector search',
    note: "the rewrite's cache write is not needed by retrieval",
    fix: "QueryRewriter.rewrite awaits its chat:qr write before returning; start retrieval without waiting for it (or write it in the turn's final pipeline)",
  },
  {
    a: 'book',
    b: 'lock take (SET NX PX)',
    note: 'the lock needs only the session id',
    fix: 'ChatTurnService.send takes the lock after the character and book loads; start the SET NX with them (release it if the book is not completed)',
  },
];

/** Why a step makes more round trips than the least it needs, and what would remove them. */
export const EXTRA_NOTES: Record<string, string> = {
  'session context read':
    'on a miss SessionContextCache.load writes the rebuilt context at once, and the turn writes the advanced one again after saving',
};

function stepSummary(trace: Trace, phase: 'warm' | 'cold') {
  const { calls, spans } = trace;
  const steps = new Map<string, TracedCall[]>();
  for (const c of calls) {
    const top = c.step.split(' › ')[0]!;
    steps.set(top, [...(steps.get(top) ?? []), c]);
  }
  const rows = [];
  for (const [step, list] of steps) {
    const actual: Record<string, number> = {};
    for (const c of list) actual[c.store] = (actual[c.store] ?? 0) + 1;
    const least = TURN_LEAST.find((l) => l.step === step)?.[phase] ?? {};
    const extra: Record<string, number> = {};
    for (const [store, n] of Object.entries(actual)) {
      const over = n - (least[store] ?? 0);
      if (over > 0) extra[store] = over;
    }
    rows.push({
      step,
      calls: list.map(
        (c) =>
          `${c.store}:${c.op}${c.step.includes(' › ') ? ` (${c.step.split(' › ').slice(1).join(' › ')})` : ''}`,
      ),
      start: Math.min(...list.map((c) => c.start)),
      end: Math.max(...list.map((c) => c.end)),
      actual,
      least,
      extra,
    });
  }
  for (const l of TURN_LEAST) {
    if (!steps.has(l.step) && Object.keys(l[phase]).length > 0) {
      rows.push({
        step: l.step,
        calls: [],
        start: Number.NaN,
        end: Number.NaN,
        actual: {},
        least: l[phase],
        extra: {},
      });
    }
  }
  rows.sort((x, y) => (Number.isNaN(x.start) ? 1 : Number.isNaN(y.start) ? -1 : x.start - y.start));
  // A step's interval: from the call of its method to its settling (when traced as a method),
  // else from its first store call's start to its last one's end.
  const interval = (step: string, op?: string) => {
    const span = op ? undefined : spans.find((x) => x.step === step);
    if (span) return { start: span.start, end: span.end };
    const list = calls.filter(
      (c) => c.step.split(' › ')[0] === step && (!op || `${c.store}:${c.op}` === op),
    );
    if (list.length === 0) return null;
    return {
      start: Math.min(...list.map((c) => c.start)),
      end: Math.max(...list.map((c) => c.end)),
    };
  };
  const pairs = INDEPENDENT_PAIRS.map((p) => {
    const a = interval(p.a, p.aOp);
    const bb = interval(p.b);
    if (!a || !bb) return { ...p, verdict: 'not seen' as const, gapMs: 0 };
    const overlap = a.start < bb.end && bb.start < a.end;
    return {
      ...p,
      verdict: overlap ? ('at once' as const) : ('one after the other' as const),
      gapMs: overlap ? 0 : round(Math.max(bb.start - a.end, a.start - bb.end), 2),
    };
  });
  const totals: Record<string, number> = {};
  for (const c of calls) totals[c.store] = (totals[c.store] ?? 0) + 1;
  const leastTotals: Record<string, number> = {};
  for (const l of TURN_LEAST) {
    for (const [store, n] of Object.entries(l[phase]))
      leastTotals[store] = (leastTotals[store] ?? 0) + n;
  }
  // The gateway's own work between retrieval and the model call: fusion and building the prompt.
  const retrievalEnd = Math.max(
    ...calls.filter((c) => c.store === 'qdrant' || c.store === 'typesense').map((c) => c.end),
  );
  const replyStart = calls.find((c) => c.step === 'reply (model)')?.start ?? Number.NaN;
  const promptBuildMs = round(replyStart - retrievalEnd, 2);
  return { rows, pairs, totals, leastTotals, promptBuildMs, calls, spans };
}

async function sendTurn(url: string, ref: SessionRef, content: string, traced = false) {
  const t0 = performance.now();
  try {
    const r = await post(url, {
      query: SEND_MESSAGE,
      variables: { input: { sessionId: ref.sessionId, content, clientMessageId: randomUUID() } },
      token: ref.token,
      ...(traced ? { headers: TRACE } : {}),
    });
    const ms = performance.now() - t0;
    const ok = r.status === 200 && !r.json.errors && r.json.data?.sendMessage?.reply?.id;
    return { ms, ok: Boolean(ok), error: ok ? null : r.text.slice(0, 300) };
  } catch (err) {
    return { ms: performance.now() - t0, ok: false, error: String(err) };
  }
}

export async function runChatTurns(b: Bench) {
  const { settings: s, log } = b;
  const [first] = b.turnSessions;
  if (!first) throw new Error('no chat sessions');

  log('chat turn: one traced cold turn, one traced warm turn');
  await b.gateway.call('cold');
  await b.gateway.call('traceStart');
  const coldTurn = await sendTurn(b.gwUrl, first, 'Who keeps the lamp at Salt Hollow?', true);
  const coldTrace = await b.gateway.call<Trace>('traceStop');
  await b.gateway.call('traceStart');
  const warmTurn = await sendTurn(
    b.gwUrl,
    first,
    'And what happened on the night of the storm?',
    true,
  );
  const warmTrace = await b.gateway.call<Trace>('traceStop');
  if (!coldTurn.ok || !warmTurn.ok)
    throw new Error(`traced turn failed: ${coldTurn.error ?? warmTurn.error}`);

  log(`chat turn: warm-up, one turn in each of ${b.turnSessions.length} sessions at once`);
  const warmup = await Promise.all(
    b.turnSessions.map((ref, i) =>
      sendTurn(b.gwUrl, ref, `Hello, I am reader ${i}. Tell me about the lamp.`),
    ),
  );

  // 1 and 5 sessions first (each level's own p50/p99), then the full load, which is also
  // profiled and whose calls are counted.
  const levels = [];
  for (const n of [1, 5].filter((x) => x < b.turnSessions.length)) {
    const level = await turnLoad(b, b.turnSessions.slice(0, n), `level ${n}`);
    levels.push(level.summary);
    log(
      `  ${n} session(s): p50 ${level.summary.p50} ms, p99 ${level.summary.p99} ms, ${level.summary.errors} errors in ${level.summary.turns} turns`,
    );
  }
  log(
    `chat turn: ${b.turnSessions.length} sessions × ${s.turnsPerSession} turns at once (at most ${s.turnTimeLimitS}s)`,
  );
  await b.gateway.call('counterReset');
  await b.stores.call('llmRequests');
  if (process.env.BENCH_PROFILE_DIR) await b.gateway.call('profileStart');
  const full = await turnLoad(b, b.turnSessions, 'full');
  levels.push(full.summary);
  const { latencies, errors, wallS, g0, g1, st0, st1 } = full;
  if (process.env.BENCH_PROFILE_DIR) {
    log(
      `  profile: ${await b.gateway.call('profileStop', `${process.env.BENCH_PROFILE_DIR}/chatTurn.cpuprofile`)}`,
    );
  }
  const snapshot = await b.gateway.call<Snapshot>('counterSnapshot');
  const llmRequests = await b.stores.call<number>('llmRequests');
  const turns = latencies.length + errors.length;
  const cold = stepSummary(coldTrace, 'cold');
  const warm = stepSummary(warmTrace, 'warm');
  return {
    sessions: b.turnSessions.length,
    turns,
    errors: errors.length,
    errorSamples: errors.slice(0, 3),
    turnsPerSecond: round(turns / wallS, 1),
    cpu: {
      gatewayMsPerTurn: round((cpuMs(g1) - cpuMs(g0)) / Math.max(turns, 1), 2),
      storesMsPerTurn: round((cpuMs(st1) - cpuMs(st0)) / Math.max(turns, 1), 2),
      gatewayCoreShare: round((cpuMs(g1) - cpuMs(g0)) / (wallS * 1000), 2),
      storesCoreShare: round((cpuMs(st1) - cpuMs(st0)) / (wallS * 1000), 2),
    },
    latencyMs: {
      median: round(median(latencies), 1),
      p99: round(percentile(latencies, 99), 1),
      mean: round(latencies.reduce((x, y) => x + y, 0) / Math.max(latencies.length, 1), 1),
      max: round(Math.max(...latencies), 1),
    },
    warmupLatencyMs: {
      median: round(median(warmup.map((w) => w.ms)), 1),
      errors: warmup.filter((w) => !w.ok).length,
    },
    tracedTurnMs: { cold: round(coldTurn.ms, 1), warm: round(warmTurn.ms, 1) },
    callsPerTurn: perRequest(snapshot, turns),
    roundTripsPerTurnByStore: perRequest(byStore(snapshot), turns),
    modelRequestsPerTurn: round(llmRequests / Math.max(turns, 1), 2),
    levels,
    cold,
    warm,
  };
}

/**
 * `sessions` send at the same time, each its next message as soon as the last is answered,
 * `turnsPerSession` each (within the time limit); latencies and the CPU of gateway and stores.
 */
async function turnLoad(b: Bench, sessions: SessionRef[], tag: string) {
  const { settings: s } = b;
  const [g0, st0] = await Promise.all([b.gateway.call<Cpu>('cpu'), b.stores.call<Cpu>('cpu')]);
  const deadline = Date.now() + s.turnTimeLimitS * 1000;
  const latencies: number[] = [];
  const errors: string[] = [];
  const wall0 = performance.now();
  await Promise.all(
    sessions.map(async (ref, i) => {
      for (let k = 0; k < s.turnsPerSession && Date.now() < deadline; k++) {
        const r = await sendTurn(
          b.gwUrl,
          ref,
          `Reader ${i}, ${tag} message ${k}: what did Mira see from the gallery when the ships came in?`,
        );
        if (r.ok) latencies.push(r.ms);
        else errors.push(r.error ?? 'error');
      }
    }),
  );
  const wallS = (performance.now() - wall0) / 1000;
  const [g1, st1] = await Promise.all([b.gateway.call<Cpu>('cpu'), b.stores.call<Cpu>('cpu')]);
  const turns = latencies.length + errors.length;
  return {
    latencies,
    errors,
    wallS,
    g0,
    g1,
    st0,
    st1,
    summary: {
      sessions: sessions.length,
      turns,
      errors: errors.length,
      p50: round(median(latencies), 1),
      p99: round(percentile(latencies, 99), 1),
      turnsPerSecond: round(turns / wallS, 1),
      gatewayCpuMsPerTurn: round((cpuMs(g1) - cpuMs(g0)) / Math.max(turns, 1), 2),
      storesCpuMsPerTurn: round((cpuMs(st1) - cpuMs(st0)) / Math.max(turns, 1), 2),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Tuning: the book page under each app variant, in the same process, interleaved in rounds.

export async function runTuning(b: Bench, results: Results) {
  const { settings: s, log } = b;
  const variants = (b.gateway.info.variants as string[]) ?? ['shipped'];
  const req: GqlRequest = {
    query: BOOK_PAGE,
    variables: { id: b.bookPageBookId },
    token: b.readerToken,
  };
  const expected = (await postOk(b.gwUrl, req)).text;
  const reference = (v: string) => (v.startsWith('minimal-yoga-') ? 'minimal-yoga' : 'shipped');
  const descriptions: Record<string, string> = {};
  const inProcessOnly = new Set<string>();
  const select = async (v: string) => {
    const chosen = await b.gateway.call<{
      description: string;
      uniqueDocuments: boolean;
      inProcessOnly: boolean;
    }>('variant', v);
    descriptions[v] = chosen.description;
    if (chosen.inProcessOnly) inProcessOnly.add(v);
    const probe = await postOk(b.gwUrl, req);
    if (probe.text !== expected) throw new Error(`variant ${v} answers differently`);
    return chosen.uniqueDocuments;
  };

  // In process: the cost of one request, sequentially, without sockets or a load generator (the
  // least of four batches: noise from other work on the machine only ever adds time). Many short
  // rounds, the order reversed every other round; each variant is compared with its reference in
  // the same round.
  const microRounds = s.tuningMicroRounds;
  const warmupRounds = 2;
  log(`tuning, in process: ${variants.join(', ')}; ${warmupRounds} + ${microRounds} rounds`);
  const micro: Record<string, { cpuUs: number; wallUs: number }[]> = {};
  for (let r = 0; r < warmupRounds + microRounds; r++) {
    for (const v of r % 2 ? [...variants].reverse() : variants) {
      await select(v);
      const batches = await b.gateway.call<{ wallUs: number; cpuUs: number }[]>('microbench', {
        query: req.query,
        variables: req.variables,
        token: req.token,
        expect: expected,
        n: 60,
        batches: 4,
      });
      // The first rounds warm every variant up (V8 is still optimising then).
      if (r >= warmupRounds) {
        entry(micro, v, () => []).push({
          cpuUs: Math.min(...batches.map((x) => x.cpuUs)),
          wallUs: Math.min(...batches.map((x) => x.wallUs)),
        });
      }
    }
  }

  // Over HTTP under load: throughput and latency.
  log(`tuning, over HTTP: ${s.tuningRounds} rounds × ${s.tuningDurationS}s per variant`);
  const runs: Record<
    string,
    (Awaited<ReturnType<typeof loadWithCpu>> & { calls: Record<string, number> })[]
  > = {};
  const overHttp = variants.filter((v) => !inProcessOnly.has(v));
  for (let r = 0; r < s.tuningRounds; r++) {
    for (const v of overHttp) {
      const uniqueDocuments = await select(v);
      await loadRun({
        url: b.gwUrl,
        req,
        connections: s.connections,
        durationS: 2,
        uniqueDocuments,
      });
      await b.gateway.call('counterReset');
      const res = await loadWithCpu(b, b.gateway, {
        url: b.gwUrl,
        req,
        connections: s.connections,
        durationS: s.tuningDurationS,
        expectBody: expected,
        uniqueDocuments,
      });
      await sleep(300);
      const snap = await b.gateway.call<Snapshot>('counterSnapshot');
      entry(runs, v, () => []).push({ ...res, calls: perRequest(byStore(snap), res.requests) });
      log(
        `  round ${r + 1} ${v}: ${res.rps} req/s, p50 ${res.p50} ms, p99 ${res.p99} ms, gateway CPU ${res.cpu.serverMsPerRequest} ms/request`,
      );
    }
  }
  await b.gateway.call('variant', 'shipped');
  const baselineRps = results.throughput?.baseline.rps;
  return variants.map((v) => {
    const list = runs[v] ?? [];
    const ref = runs[reference(v)] ?? list;
    const m = micro[v]!;
    const mRef = micro[reference(v)] ?? m;
    return {
      variant: v,
      reference: reference(v),
      description: descriptions[v]!,
      inProcess: {
        cpuUsPerRequest: round(median(m.map((x) => x.cpuUs)), 0),
        wallUsPerRequest: round(median(m.map((x) => x.wallUs)), 0),
        cpuVsReference: round(median(m.map((x, i) => x.cpuUs / mRef[i]!.cpuUs)), 3),
      },
      overHttp: list.length > 0,
      rps: median(list.map((x) => x.rps)),
      p50: median(list.map((x) => x.p50)),
      p99: median(list.map((x) => x.p99)),
      rpsVsReference: round(median(list.map((x, i) => x.rps / ref[i]!.rps)), 3),
      gatewayCpuMsPerRequest: median(list.map((x) => x.cpu.serverMsPerRequest)),
      vsBaseline:
        baselineRps && list.length > 0
          ? round(median(list.map((x) => x.rps)) / baselineRps, 3)
          : null,
      storeCallsPerRequest: list[list.length - 1]?.calls ?? {},
      errors: list.reduce((n, x) => n + x.errors + x.non2xx + x.mismatches, 0),
      runs: list,
      inProcessRounds: m,
    };
  });
}

// ---------------------------------------------------------------------------------------------
// 6: ingestion of about 1 MB with the local embedder, in a fresh process.

interface IngestOutcome {
  chunks: number;
  characters: number;
  ms: number;
  embedMs: number;
  before: Record<string, number>;
  after: Record<string, number>;
  peakRss: number;
  peakHeap: number;
  calls: Snapshot;
  callMs: Snapshot;
}

export async function runIngestion(b: Bench) {
  b.log(`ingestion: ${b.megaBytes} bytes with the local embedder, in a fresh process`);
  const child = await b.startIngestion();
  try {
    const out = await child.call<IngestOutcome>(
      'ingest',
      { bookId: b.megaBookId, sampleMs: 20 },
      600_000,
    );
    const mb = (n: number) => round(n / 2 ** 20, 1);
    return {
      bytes: b.megaBytes,
      chunks: out.chunks,
      characters: out.characters,
      seconds: round(out.ms / 1000, 2),
      chunksPerSecond: round(out.chunks / (out.ms / 1000), 1),
      embedShare: round(out.embedMs / out.ms, 3),
      memoryMb: {
        rssBefore: mb(out.before.rss!),
        rssPeak: mb(out.peakRss),
        rssGrowth: mb(out.peakRss - out.before.rss!),
        heapBefore: mb(out.before.heapUsed!),
        heapPeak: mb(out.peakHeap),
        heapGrowth: mb(out.peakHeap - out.before.heapUsed!),
        rssAfter: mb(out.after.rss!),
        maxRssOfProcess: mb(out.after.maxRss!),
      },
      storeCalls: out.calls,
      /** Time spent in each kind of call, summed (calls made at the same time overlap). */
      storeCallSeconds: Object.fromEntries(
        Object.entries(out.callMs).map(([k, v]) => [k, round(v / 1000, 2)]),
      ),
    };
  } finally {
    await b.stop(child);
  }
}

// ---------------------------------------------------------------------------------------------
// 7: soak at a moderate, paced load; memory after warm-up must not grow more than 10 %.

interface Memory {
  rss: number;
  heapUsed: number;
}

export async function runSoak(b: Bench, results: Results) {
  const { settings: s, log } = b;
  const child = await b.startGateway();
  const url = String(child.info.url);
  // The mix's capacity from this run's own figures (else rough defaults), and a share of it.
  const bookRps = results.throughput?.bookPage.rps ?? 500;
  const chatRps = results.throughput?.chatPage.rps ?? 50;
  const turnRps = results.chatTurn?.turnsPerSecond ?? 10;
  const capacity = 1 / (0.5 / bookRps + 0.4 / chatRps + 0.1 / turnRps);
  const rate = Math.round(Math.min(300, Math.max(10, capacity * s.soakRateShare)));
  log(
    `soak: ${s.soakWarmupS}s warm-up + ${s.soakS}s at ${rate} req/s (${Math.round(s.soakRateShare * 100)} % of the mix's measured capacity; ${s.soakConcurrency} clients: 50% book page, 40% chat page, 10% chat turns)`,
  );
  let errors = 0;
  const errorSamples: string[] = [];
  let requests = 0;
  let stop = false;
  const intervalMs = (s.soakConcurrency * 1000) / rate;
  const clients = b.soakSessions.map(async (ref, k) => {
    let next = performance.now() + (k * intervalMs) / s.soakConcurrency;
    for (let i = k; !stop; i++) {
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      next += intervalMs;
      const kind = i % 10;
      try {
        let ok: boolean;
        let text = '';
        if (kind === 0) {
          const r = await sendTurn(
            url,
            ref,
            `Soak message ${i}: what did the keeper write in the log?`,
          );
          ok = r.ok;
          text = r.error ?? '';
        } else {
          const req: GqlRequest =
            kind <= 5
              ? { query: BOOK_PAGE, variables: { id: b.bookPageBookId }, token: ref.token }
              : { query: CHAT_PAGE, variables: { sessionId: b.pageSession }, token: b.pageToken };
          const r = await post(url, req);
          ok = r.status === 200 && !r.json.errors && Boolean(r.json.data);
          text = r.text;
        }
        requests++;
        if (!ok) {
          errors++;
          if (errorSamples.length < 3) errorSamples.push(text.slice(0, 300));
        }
      } catch (err) {
        errors++;
        if (errorSamples.length < 3) errorSamples.push(String(err));
      }
    }
  });
  try {
    await sleep(s.soakWarmupS * 1000);
    const start = await child.call<Memory>('gc');
    const requestsAtStart = requests;
    const errorsAtStart = errors;
    const samples: { t: number; rss: number; heapUsed: number }[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < s.soakS * 1000) {
      await sleep(1000);
      const m = await child.call<Memory>('memory');
      samples.push({ t: round((Date.now() - t0) / 1000, 1), rss: m.rss, heapUsed: m.heapUsed });
    }
    const end = await child.call<Memory>('gc');
    stop = true;
    await Promise.all(clients);
    const mb = (n: number) => round(n / 2 ** 20, 1);
    const measured = requests - requestsAtStart;
    return {
      rate,
      capacity: round(capacity, 1),
      seconds: s.soakS,
      warmupS: s.soakWarmupS,
      requests: measured,
      achievedRps: round(measured / s.soakS, 1),
      errors: errors - errorsAtStart,
      errorsDuringWarmup: errorsAtStart,
      errorSamples,
      heapAfterGcMb: { start: mb(start.heapUsed), end: mb(end.heapUsed) },
      rssMb: {
        start: mb(start.rss),
        end: mb(end.rss),
        max: mb(Math.max(...samples.map((x) => x.rss))),
      },
      heapGrowth: round((end.heapUsed - start.heapUsed) / start.heapUsed, 4),
      rssGrowth: round((end.rss - start.rss) / start.rss, 4),
      samples: samples.map((x) => ({ t: x.t, rssMb: mb(x.rss), heapMb: mb(x.heapUsed) })),
    };
  } finally {
    stop = true;
    await Promise.allSettled(clients);
    await b.stop(child);
  }
}
