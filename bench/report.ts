import { EXTRA_NOTES, type Results } from './scenarios.js';

/** RESULTS.md and the console summary, from the results of one run. */

const fmt = (n: number | null | undefined, digits = 1) =>
  n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits);
const pct = (n: number) => `${(n * 100).toFixed(1)} %`;
const counts = (o: Record<string, number>) =>
  Object.entries(o)
    .filter(([, v]) => v > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || '–';
const yes = (met: boolean) => (met ? '**met**' : '**not met**');

/** What each tuning variant's figure means. */
const TUNING_READING: Record<string, string> = {
  'shipped-unique-documents':
    "what yoga's parse and validation cache saves (it is on by default: keep it; TRUSTED_DOCUMENTS would make it certain)",
  'without-token-memo':
    'what remembering verified tokens saves (verifying the same bearer token again on every request: jose HS256 over WebCrypto)',
  'without-response-cache':
    'what the per-reader catalog response cache saves on a repeated book page (execution and data loading skipped)',
  'row-lru':
    'reading and parsing (JSON + zod) the book and character rows from Redis on every request; the LRU makes warm requests skip Redis, at the price of up to 5 s of staleness per instance',
  'minimal-yoga':
    "the price of createApp's plugins beyond schema, context, masking and auth gate (observability, metrics, limits, CSRF, body limit, rate limit)",
  'minimal-yoga-limits':
    'the price of the operation limits (the cost is computed on every request)',
  'minimal-yoga-jit': 'what graphql-jit saves in execution',
  'minimal-yoga-response-cache':
    'what a response cache saves on a repeated catalog query (execution and data loading skipped)',
  'shipped-jit': 'what graphql-jit saves in execution',
};

/** Calls per request summed by store (`redis:mget` → `redis`). */
function byStoreName(o: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) {
    const store = k.slice(0, k.indexOf(':'));
    out[store] = Math.round(((out[store] ?? 0) + v) * 100) / 100;
  }
  return out;
}

export interface TargetLine {
  scenario: string;
  target: string;
  figure: string;
  met: boolean | null;
  note?: string;
}

export function targets(r: Results): TargetLine[] {
  const out: TargetLine[] = [];
  const t = r.throughput;
  if (t) {
    const met = t.bookPage.throughputRatio >= 0.8 && t.bookPage.errors === 0;
    const savings = (r.tuning ?? []).filter(
      (v) =>
        !['shipped', 'shipped-unique-documents', 'minimal-yoga'].includes(v.variant) &&
        v.inProcess.cpuVsReference < 0.97,
    );
    out.push({
      scenario: '2 book page',
      target: "throughput ≥ 0.8 × the bare yoga hello-world's",
      figure: `${fmt(t.bookPage.throughputRatio, 2)} × (${fmt(t.bookPage.rps, 0)} vs ${fmt(t.baseline.rps, 0)} req/s), p50 ${fmt(t.bookPage.p50)} ms (${fmt(t.bookPage.p50Ratio, 2)} ×), p99 ${fmt(t.bookPage.p99)} ms (${fmt(t.bookPage.p99Ratio, 2)} ×)`,
      met,
      ...(met
        ? {}
        : {
            note: `both servers are CPU-bound; the gateway spends ${fmt(t.bookPage.cpu.serverMsPerRequest / t.baseline.cpu.serverMsPerRequest, 1)} × the hello-world's CPU per request (${fmt(t.bookPage.cpu.serverMsPerRequest, 2)} vs ${fmt(t.baseline.cpu.serverMsPerRequest, 2)} ms)${savings.length ? `; measured savings (CPU per request vs reference, in process): ${savings.map((v) => `${v.variant} ${fmt(v.inProcess.cpuVsReference, 2)} ×`).join(', ')}` : ''}`,
          }),
    });
    out.push({
      scenario: '3 chat page',
      target: "throughput ≥ 0.3 × the bare yoga hello-world's",
      figure: `${fmt(t.chatPage.throughputRatio, 2)} × (${fmt(t.chatPage.rps, 0)} req/s), p50 ${fmt(t.chatPage.p50)} ms, p99 ${fmt(t.chatPage.p99)} ms, ${t.chatPage.responseBytes} bytes per answer`,
      met: t.chatPage.throughputRatio >= 0.3 && t.chatPage.errors === 0,
      note: `the whole page from the per-reader chat page cache after one Redis read of the session's version token; CPU per request: gateway ${fmt(t.chatPage.cpu.serverMsPerRequest, 2)} ms, stores ${fmt(t.chatPage.cpu.storesMsPerRequest, 2)} ms${t.chatPageWithText ? `; before, with every citation's text: ${fmt(t.chatPageWithText.throughputRatio, 2)} ×, ${t.chatPageWithText.responseBytes} bytes, CPU gateway ${fmt(t.chatPageWithText.cpu.serverMsPerRequest, 2)} ms, stores ${fmt(t.chatPageWithText.cpu.storesMsPerRequest, 2)} ms` : ''}`,
    });
    if (t.peerSkipped) {
      out.push({
        scenario: 'peer',
        target: 'PostGraphile over the same PostgreSQL, same pages',
        figure: `skipped: ${t.peerSkipped}`,
        met: null,
      });
    }
    for (const [page, gw, peer] of [
      ['book page', t.bookPage, t.peerBookPage],
      ['chat page', t.chatPage, t.peerChatPage],
    ] as const) {
      if (!peer) continue;
      const cold = t.cold?.find((c) => c.page === page);
      out.push({
        scenario: `peer, ${page}`,
        target: "the gateway's throughput as a ratio to PostGraphile's, warm and cold (reported)",
        figure: `warm ${fmt(gw.rps / peer.rps, 2)} × (${fmt(gw.rps, 0)} vs ${fmt(peer.rps, 0)} req/s; gateway CPU ${fmt(gw.cpu.serverMsPerRequest, 2)} + stores ${fmt(gw.cpu.storesMsPerRequest, 2)} ms, peer ${fmt(peer.cpu.serverMsPerRequest, 2)} ms per request; ${gw.responseBytes} vs ${peer.responseBytes} bytes; round trips per request: gateway ${counts(byStoreName(gw.storeCallsPerRequest))}, peer ${counts(peer.storeCallsPerRequest)})${cold ? `; cold ${fmt(cold.gatewayVsPeer, 2)} × (${fmt(cold.gatewayMs)} vs ${fmt(cold.peerMs)} ms, round trips: gateway ${counts(cold.gatewayCallsPerRequest)}, peer ${counts(cold.peerCallsPerRequest)})` : ''}`,
        met: null,
      });
    }
  }
  for (const c of r.roundTrips ?? []) {
    out.push({
      scenario: `4 ${c.name}`,
      target:
        'warm: ≤ 1 Redis read and 0 Supabase calls per entity type; cold: ≤ 1 of each; same for 1, 10, 100',
      figure: c.verdict.met
        ? 'as targeted, for 1, 10 and 100 rows alike'
        : [
            ...c.verdict.problems,
            ...c.verdict.byDesign,
            ...(c.verdict.sameForAllN ? [] : ['the counts differ between 1, 10 and 100 rows']),
          ].join('; '),
      met: c.verdict.met,
    });
  }
  const ct = r.chatTurn;
  if (ct) {
    const extraWarm = ct.warm.rows.filter((x) => Object.keys(x.extra).length > 0);
    const extraCold = ct.cold.rows.filter(
      (x) => Object.keys(x.extra).length > 0 && !extraWarm.some((w) => w.step === x.step),
    );
    const extras = [...extraWarm, ...extraCold];
    const serial = ct.warm.pairs.filter((p) => p.verdict === 'one after the other');
    out.push({
      scenario: '5 chat turn',
      target: 'no round trip beyond the least set (warm; cold)',
      figure:
        extras.length === 0
          ? 'none beyond'
          : [
              ...extraWarm.map((x) => `warm and cold, ${x.step}: +${counts(x.extra)}`),
              ...extraCold.map((x) => `cold, ${x.step}: +${counts(x.extra)}`),
            ].join('; '),
      met: extras.length === 0,
      ...(extras.length > 0
        ? {
            note: extras
              .map((x) => EXTRA_NOTES[x.step])
              .filter(Boolean)
              .join('; '),
          }
        : {}),
    });
    out.push({
      scenario: '5 chat turn',
      target: 'no two independent steps one after the other',
      figure:
        serial.length === 0
          ? 'all independent pairs overlap'
          : serial.map((p) => `${p.a}${p.aOp ? ` (${p.aOp})` : ''} → ${p.b}`).join('; '),
      met: serial.length === 0,
      ...(serial.length > 0 ? { note: serial.map((p) => p.fix).join('; ') } : {}),
    });
    out.push({
      scenario: '5 chat turn',
      target: '1, 5 and 20 sessions at once: p50 and p99, no errors',
      figure: (ct.levels ?? [])
        .map(
          (l) =>
            `${l.sessions}: p50 ${fmt(l.p50)} ms, p99 ${fmt(l.p99)} ms (${l.errors} errors in ${l.turns} turns, gateway CPU ${fmt(l.gatewayCpuMsPerTurn)} ms per turn)`,
        )
        .join('; '),
      met: ct.errors === 0 && (ct.levels ?? []).every((l) => l.errors === 0) ? null : false,
    });
  }
  const ing = r.ingestion;
  if (ing) {
    out.push({
      scenario: '6 ingestion',
      target: 'chunks per second and peak memory for ~1 MB (no target set)',
      figure: `${fmt(ing.chunksPerSecond)} chunks/s (${ing.chunks} chunks in ${fmt(ing.seconds)} s), peak RSS ${fmt(ing.memoryMb.rssPeak)} MB (+${fmt(ing.memoryMb.rssGrowth)}), peak heap ${fmt(ing.memoryMb.heapPeak)} MB`,
      met: null,
    });
  }
  const soak = r.soak;
  if (soak) {
    out.push({
      scenario: '7 soak',
      target: 'memory growth after warm-up ≤ 10 %, no errors',
      figure: `heap after GC ${pct(soak.heapGrowth)}, RSS ${pct(soak.rssGrowth)}, ${soak.errors} errors in ${soak.requests} requests (${soak.seconds} s)`,
      met: soak.heapGrowth <= 0.1 && soak.rssGrowth <= 0.1 && soak.errors === 0,
    });
  }
  return out;
}

export function summaryLines(r: Results): string[] {
  return [
    'Falsafa gateway benchmark',
    ...targets(r).map(
      (t) =>
        `  ${t.met === null ? '·' : t.met ? '✓' : '✗'} ${t.scenario}: ${t.figure}${t.note ? ` [${t.note}]` : ''}`,
    ),
    ...(r.tuning ?? []).map(
      (v) =>
        `  tuning ${v.variant}: ${fmt(v.inProcess.cpuUsPerRequest, 0)} µs CPU/request in process (${fmt(v.inProcess.cpuVsReference, 2)} × ${v.reference}); over HTTP ${fmt(v.rps, 0)} req/s (${fmt(v.rpsVsReference, 2)} × ${v.reference}), p99 ${fmt(v.p99)} ms`,
    ),
  ];
}

export function renderMarkdown(r: Results): string {
  const m = r.meta as Record<string, any>;
  const lines: string[] = [];
  const p = (...l: string[]) => lines.push(...l);
  p(
    '# Benchmark results',
    '',
    `One run of \`${m.command}\` on ${m.date} (${m.durationS} s). Node ${m.node}, ${m.cpus}, ${m.memoryGb} GB; load average ${m.loadAverageAtStart?.join(' / ')} at the start, ${m.loadAverageAtEnd?.join(' / ')} at the end.`,
    'The machine is shared and noisy: every throughput figure is a ratio to a run of the same settings in the same run, interleaved in rounds (the median round is quoted), and round trips are counted at the store clients, not timed.',
    '',
    'Stores:',
    '',
    ...Object.entries(m.stores as Record<string, string>).map(([k, v]) => `- ${k}: ${v}`),
    '',
    "The gateway under load runs in its own process (`bench/gateway-process.ts`: the project's `loadConfig` + `startRuntime` + `createApp`, served by node:http on 127.0.0.1); the stores run in another (`bench/stores-process.ts`); autocannon and the other clients run in the parent.",
    '',
    '## Targets',
    '',
    '| scenario | target | figure | verdict |',
    '| --- | --- | --- | --- |',
    ...targets(r).map(
      (t) =>
        `| ${t.scenario} | ${t.target} | ${t.figure}${t.note ? ` (${t.note})` : ''} | ${t.met === null ? 'reported' : yes(t.met)} |`,
    ),
    '',
  );

  const t = r.throughput;
  if (t) {
    p(
      '## 1–3. Throughput against a bare graphql-yoga hello-world',
      '',
      `autocannon, ${t.connections} connections, no pipelining, ${t.rounds} rounds of ${t.durationS} s per target after a warm-up; every response is checked against the probe's body.`,
      '',
      '| request | response bytes | req/s | × baseline | per round | p50 ms | p99 ms | p50 × | p99 × | errors | server CPU ms/request (core share) | stores CPU ms/request (core share) | store calls per request |',
      '| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    );
    for (const x of [
      t.baseline,
      t.bookPage,
      t.chatPage,
      t.chatPageWithText,
      t.peerBookPage,
      t.peerChatPage,
    ]) {
      if (!x) continue;
      p(
        `| ${x.label} | ${x.responseBytes} | ${fmt(x.rps, 0)} | ${fmt(x.throughputRatio, 2)} | ${x.throughputRatioPerRound.join(', ')} | ${fmt(x.p50)} | ${fmt(x.p99)} | ${fmt(x.p50Ratio, 2)} | ${fmt(x.p99Ratio, 2)} | ${x.errors} | ${fmt(x.cpu.serverMsPerRequest, 3)} (${fmt(x.cpu.serverCoreShare, 2)}) | ${fmt(x.cpu.storesMsPerRequest, 3)} (${fmt(x.cpu.storesCoreShare, 2)}) | ${counts(x.storeCallsPerRequest)} |`,
      );
    }
    p(
      '',
      `CPU per request is the server process's (the hello-world's, the gateway's or the peer's) and the stores process's CPU time over the run divided by the requests; the core share is that CPU time over the run's wall time. The book page costs ${fmt(t.bookPage.cpu.serverMsPerRequest / t.baseline.cpu.serverMsPerRequest, 1)} × the hello-world's CPU per request.`,
      '',
    );
  }

  if (r.roundTrips) {
    p(
      '## 4. Round trips per request, by entity type',
      '',
      'Counted at the store clients while the request runs (each call attributed to the step that made it). Cold: the Redis caches and the in-process lists emptied first; warm: the same request again. Reads / write-backs / Supabase calls.',
      '',
    );
    for (const c of r.roundTrips) {
      p(
        `### ${c.name}`,
        '',
        '| rows | entity | cold: Redis reads | cold: Redis writes | cold: Supabase | warm: Redis reads | warm: Redis writes | warm: Supabase |',
        '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      );
      for (const { n, cold, warm } of c.perN) {
        const entities = [
          ...new Set([...Object.keys(cold.entities), ...Object.keys(warm.entities)]),
        ].sort();
        for (const e of entities) {
          const cc = cold.entities[e];
          const ww = warm.entities[e];
          p(
            `| ${n} | ${e} | ${cc?.redisReads ?? 0} | ${cc?.redisWrites ?? 0} | ${cc?.supabase ?? 0} | ${ww?.redisReads ?? 0} | ${ww?.redisWrites ?? 0} | ${ww?.supabase ?? 0} |`,
          );
        }
      }
      p(
        '',
        `Verdict: ${c.verdict.met ? 'within the target' : 'not within the target'}${c.verdict.problems.length ? `; beyond it: ${c.verdict.problems.join('; ')}` : ''}${c.verdict.byDesign.length ? `; beyond it by design: ${c.verdict.byDesign.join('; ')}` : ''}. Same counts for 1, 10 and 100 rows: ${c.verdict.sameForAllN ? 'yes' : 'no'}.`,
        '',
      );
    }
  }

  const ct = r.chatTurn;
  if (ct) {
    p(
      '## 5. Chat turn, model answering at once',
      '',
      `${ct.sessions} sessions sending at the same time, ${ct.turns} turns (each session one after the other, a new message each time, with a clientMessageId), over HTTP: **median ${fmt(ct.latencyMs.median)} ms, p99 ${fmt(ct.latencyMs.p99)} ms** (mean ${fmt(ct.latencyMs.mean)}, max ${fmt(ct.latencyMs.max)}), ${fmt(ct.turnsPerSecond)} turns/s, ${ct.errors} errors. Warm-up turns (first of each session, at once): median ${fmt(ct.warmupLatencyMs.median)} ms. Alone: cold turn ${fmt(ct.tracedTurnMs.cold)} ms, warm turn ${fmt(ct.tracedTurnMs.warm)} ms.`,
      '',
      `CPU per turn: gateway ${fmt(ct.cpu.gatewayMsPerTurn)} ms (${fmt(ct.cpu.gatewayCoreShare, 2)} of a core over the run), stores process ${fmt(ct.cpu.storesMsPerTurn)} ms (${fmt(ct.cpu.storesCoreShare, 2)}). With every session sending its next message as soon as the last is answered, the median latency is about the sessions over the throughput (${ct.sessions} / ${fmt(ct.turnsPerSecond)} per s = ${fmt((ct.sessions / ct.turnsPerSecond) * 1000, 0)} ms): it measures how much CPU a turn costs on this machine, shared with the other sessions' work, more than any wait inside a turn.`,
      '',
      `Store calls per turn under load: ${counts(ct.roundTripsPerTurnByStore)} (model requests that reached the model server: ${ct.modelRequestsPerTurn} per turn). By operation: ${counts(ct.callsPerTurn)}.`,
      '',
    );
    for (const phase of ['warm', 'cold'] as const) {
      const s = ct[phase];
      p(
        `### ${phase === 'warm' ? 'Warm turn' : 'Cold turn (caches emptied)'}: each step's round trips against the least it needs`,
        '',
        `Total: ${counts(s.totals)}; least: ${counts(s.leastTotals)} ("embeddings" is the in-process local embedder, not a round trip). Between the end of retrieval and the model call (fusion and prompt building in the gateway): ${fmt(s.promptBuildMs, 2)} ms.`,
        '',
        '| step | calls | start ms | end ms | actual | least | beyond the least |',
        '| --- | --- | ---: | ---: | --- | --- | --- |',
        ...s.rows.map(
          (x) =>
            `| ${x.step} | ${x.calls.join(', ') || '–'} | ${fmt(x.start, 2)} | ${fmt(x.end, 2)} | ${counts(x.actual)} | ${counts(x.least)} | ${Object.keys(x.extra).length ? `**${counts(x.extra)}**` : '–'} |`,
        ),
        '',
        'Independent steps (could run at once; the session row must come before the character and book, whose ids it holds):',
        '',
        ...s.pairs.map(
          (x) =>
            `- ${x.a}${x.aOp ? ` (${x.aOp})` : ''} / ${x.b} (${x.note}): ${x.verdict === 'one after the other' ? `**one after the other** (${x.gapMs} ms apart): ${x.fix}` : x.verdict}`,
        ),
        '',
      );
    }
  }

  if (r.tuning) {
    p(
      '## Tuning candidates, measured on the book page',
      '',
      'One gateway process, the app swapped between variants (`bench/variants.ts`); each checked to answer byte for byte like the shipped app. In process: 60 book-page requests one after the other through `app.fetch`, the least of four batches, in interleaved rounds (order reversed every other round), compared with the reference variant of the same round (median of the rounds): the least noisy figure on a shared machine. Over HTTP: autocannon as above, interleaved rounds after a 2 s warm-up each.',
      '',
      '| variant | what | in process: CPU µs/request | × reference | over HTTP: req/s | × reference | × baseline | p50 ms | p99 ms | gateway CPU ms/request | store calls per request | errors |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
      ...r.tuning.map(
        (v) =>
          `| ${v.variant} | ${v.description} | ${fmt(v.inProcess.cpuUsPerRequest, 0)} | ${fmt(v.inProcess.cpuVsReference, 2)} (${v.reference}) | ${fmt(v.rps, 0)} | ${fmt(v.rpsVsReference, 2)} | ${fmt(v.vsBaseline, 2)} | ${fmt(v.p50)} | ${fmt(v.p99)} | ${fmt(v.gatewayCpuMsPerRequest, 3)} | ${v.overHttp ? counts(v.storeCallsPerRequest) : '–'} | ${v.overHttp ? v.errors : '–'} |`,
      ),
      '',
      'In CPU per request, in process (median of the rounds, each variant against its reference of the same round):',
      '',
      ...r.tuning
        .filter((v) => v.variant !== v.reference)
        .map((v) => {
          const refUs = v.inProcess.cpuUsPerRequest / v.inProcess.cpuVsReference;
          const delta = v.inProcess.cpuUsPerRequest - refUs;
          return `- ${v.variant}: ${delta <= 0 ? 'saves' : 'costs'} about ${fmt(Math.abs(delta), 0)} µs per book page (${fmt((v.inProcess.cpuVsReference - 1) * 100, 0)} % against ${v.reference})${TUNING_READING[v.variant] ? `: ${TUNING_READING[v.variant]}` : ''}.`;
        }),
      '',
    );
  }

  const ing = r.ingestion;
  if (ing) {
    p(
      '## 6. Ingestion of about 1 MB with the local embedder',
      '',
      `${ing.bytes} bytes of Markdown (the demo book repeated under part headings), one job in a fresh process with the offline model and the local embedder: **${ing.chunks} chunks in ${fmt(ing.seconds, 2)} s = ${fmt(ing.chunksPerSecond)} chunks/s**; ${ing.characters} characters found; embedding took ${pct(ing.embedShare)} of the time.`,
      '',
      `Memory (sampled every 20 ms): RSS ${fmt(ing.memoryMb.rssBefore)} MB before, **peak ${fmt(ing.memoryMb.rssPeak)} MB** (+${fmt(ing.memoryMb.rssGrowth)}); heap ${fmt(ing.memoryMb.heapBefore)} MB before, **peak ${fmt(ing.memoryMb.heapPeak)} MB** (+${fmt(ing.memoryMb.heapGrowth)}); the process's max RSS ${fmt(ing.memoryMb.maxRssOfProcess)} MB.`,
      '',
      `Store calls: ${counts(ing.storeCalls)}. Seconds spent in them (summed; the Qdrant and Typesense writes of a batch overlap): ${Object.entries(
        ing.storeCallSeconds,
      )
        .filter(([, v]) => v >= 0.01)
        .map(([k, v]) => `${k} ${fmt(v, 2)}`)
        .join(', ')}.`,
      '',
    );
  }

  const soak = r.soak;
  if (soak) {
    p(
      '## 7. Soak',
      '',
      `A fresh gateway process, ${soak.warmupS} s warm-up then ${soak.seconds} s at a paced ${soak.rate} req/s (achieved ${fmt(soak.achievedRps)}): 50 % book page, 40 % chat page, 10 % chat turns. Memory after a forced GC at the start and the end of the measured part: heap ${fmt(soak.heapAfterGcMb.start)} → ${fmt(soak.heapAfterGcMb.end)} MB (**${pct(soak.heapGrowth)}**), RSS ${fmt(soak.rssMb.start)} → ${fmt(soak.rssMb.end)} MB (**${pct(soak.rssGrowth)}**, max ${fmt(soak.rssMb.max)}). Errors: ${soak.errors} in ${soak.requests} requests (${soak.errorsDuringWarmup} during the warm-up).`,
      '',
    );
  }
  const scaling = r.scaling;
  if (scaling) {
    p(
      '## 9. Scaling of the pure CPU steps',
      '',
      'Each step timed (best of 5) on an input and on one ten times larger, in the same run: a linear step takes about 10× as long, a quadratic one about 100×.',
      '',
      '| step | small (chars) | large (chars) | small ms | large ms | time ratio |',
      '| --- | --- | --- | --- | --- | --- |',
      ...scaling.map(
        (row) =>
          `| ${row.step} | ${row.smallChars} | ${row.largeChars} | ${fmt(row.smallMs, 2)} | ${fmt(row.largeMs, 2)} | **${fmt(row.timeRatio, 1)}×** |`,
      ),
      '',
    );
  }
  return `${lines.join('\n')}\n`;
}
