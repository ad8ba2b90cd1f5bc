import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signSupabaseJwt } from '@falsafa/standins';
import { DEMO_BOOK, loadDemoBook } from '../src/ingest/demo-book.js';
import { StoreCallCounter } from '../src/stores/metrics.js';
import { createSupabase } from '../src/stores/supabase.js';
import { BENCH_TYPESENSE_KEY, chooseStores, claimRedisDatabase, redact } from './environment.js';
import { Fixtures, megabyteBook } from './fixtures.js';
import { Child } from './ipc.js';
import { postOk, sleep } from './load.js';
import { SEND_MESSAGE } from './queries.js';
import { renderMarkdown, summaryLines } from './report.js';
import { runScaling } from './scaling.js';
import {
  type Bench,
  type Results,
  runChatTurns,
  runIngestion,
  runRoundTrips,
  runSoak,
  runThroughput,
  runTuning,
  type Settings,
} from './scenarios.js';

/**
 * `npm run bench`: starts the stores (embedded by default, real ones when their URLs are set; see
 * environment.ts), seeds them, starts the gateway and a bare graphql-yoga hello-world in child
 * processes on 127.0.0.1, runs the scenarios (bench/README.md) with a warm-up each, then times the pure CPU steps at two
 * input sizes (section 9, bench/scaling.ts), prints a summary and
 * writes bench/RESULTS.md and bench/results.json. Flags: `--soak-full` (5-minute soak), `--quick`
 * (short runs, for trying the suite; results go to the temp directory), `--only=2,4` (some
 * scenarios; also to the temp directory).
 */
const argv = process.argv.slice(2);
const soakFull = argv.includes('--soak-full');
const quick = argv.includes('--quick');
const onlyArg = argv.find((a) => a.startsWith('--only='));
const only = onlyArg ? new Set(onlyArg.slice('--only='.length).split(',').map(Number)) : null;
const wants = (n: number) => !only || only.has(n);

const settings: Settings = {
  connections: 8,
  warmupS: quick ? 1 : 3,
  durationS: quick ? 2 : 6,
  rounds: quick ? 1 : 3,
  tuningDurationS: quick ? 2 : 5,
  tuningRounds: quick ? 1 : 2,
  tuningMicroRounds: quick ? 2 : 12,
  turnSessions: 20,
  turnsPerSession: quick ? 3 : 10,
  turnTimeLimitS: 90,
  chatHistoryTurns: 50,
  soakWarmupS: quick ? 3 : 8,
  soakS: soakFull ? 300 : quick ? 8 : 30,
  soakConcurrency: 4,
  soakRateShare: 0.3,
  ingestBytes: 1_000_000,
};

/** The environment variables that change what the benchmark does (shown in the command line). */
const BENCH_ENV = [
  'BENCH_DATABASE_URL',
  'BENCH_REDIS_URL',
  'REDIS_URL',
  'SUPABASE_URL',
  'QDRANT_URL',
  'TYPESENSE_URL',
  'BENCH_EXTRA_MODULES',
];

const log = (line: string) => process.stdout.write(`[bench ${elapsed()}] ${line}\n`);
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0).padStart(3)}s`;

async function main() {
  const choice = chooseStores(process.env);
  const tmp = await mkdtemp(join(tmpdir(), 'falsafa-bench-'));
  const children: Child[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const start = async (
    name: string,
    script: string,
    options: Parameters<typeof Child.start>[2] = {},
  ) => {
    const child = await Child.start(name, script, options);
    children.push(child);
    return child;
  };
  const stop = async (child: Child) => {
    await child.stop();
    children.splice(children.indexOf(child), 1);
  };

  try {
    // Redis: a claimed logical database on a real server, or the gateway's in-process one.
    let redisUrl: string | undefined;
    if (choice.redisUrl) {
      const claim = await claimRedisDatabase(choice.redisUrl);
      cleanups.push(() => claim.release());
      redisUrl = claim.url;
    }

    log('starting the stores');
    const stores = await start('stores', './stores-process.ts', {
      env: {
        BENCH_DATA_DIR: join(tmp, 'stores'),
        BENCH_JWT_SECRET: choice.jwtSecret,
        BENCH_TYPESENSE_KEY,
        BENCH_START_SUPABASE: choice.supabase ? '0' : '1',
        BENCH_START_QDRANT: choice.qdrant ? '0' : '1',
        BENCH_START_TYPESENSE: choice.typesense ? '0' : '1',
        ...(choice.pgServerUrl ? { BENCH_PG_SERVER_URL: choice.pgServerUrl } : {}),
      },
    });
    const supabaseUrl = choice.supabase?.url ?? String(stores.info.supabaseUrl);
    const serviceRoleKey =
      choice.supabase?.serviceRoleKey ??
      (await signSupabaseJwt(choice.jwtSecret, { role: 'service_role' }));
    const storesUsed = describeStores(choice, stores, redisUrl);
    log(`stores: ${JSON.stringify(storesUsed)}`);

    const gatewayEnv = gatewayEnvironment({
      choice,
      stores,
      tmp,
      redisUrl,
      supabaseUrl,
      serviceRoleKey,
    });
    // Ingestion runs with the offline model (its local character finder) and the local embedder.
    const ingestEnv = () =>
      gatewayEnv({ LLM_PROVIDER: 'local', LLM_BASE_URL: '', LLM_MODEL: '', LLM_API_KEY: '' });
    const startGateway = (name: string, env: Record<string, string>, serve: boolean) =>
      start(name, './gateway-process.ts', {
        env: {
          BENCH_GATEWAY_ENV: JSON.stringify(env),
          BENCH_SERVE: serve ? '1' : '0',
          ...(process.env.BENCH_EXTRA_MODULES
            ? { BENCH_EXTRA_MODULES: process.env.BENCH_EXTRA_MODULES }
            : {}),
        },
        nodeArgs: [
          '--expose-gc',
          ...(process.env.BENCH_CPU_PROF
            ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
            : []),
        ],
      });

    // Rows: a catalog, two uploaded books, sessions.
    log('seeding');
    const db = createSupabase({
      url: supabaseUrl,
      serviceRoleKey,
      timeoutMs: 60_000,
      counter: new StoreCallCounter(),
    });
    const fixtures = new Fixtures(db);
    if (choice.supabase) cleanups.push(() => fixtures.cleanup());
    const { fiction, bookPageBook, rowCounts, rowBooks } = await seedCatalog(fixtures);
    // The uploaded books are a reader's own: their files lie under the owner's prefix.
    const uploader = randomUUID();
    const demoPath = `${uploader}/${DEMO_BOOK.fileName}`;
    const megaPath = `${uploader}/megabyte.md`;
    const megaBytes = await megabyteBook(settings.ingestBytes);
    await fixtures.upload(demoPath, await loadDemoBook(), DEMO_BOOK.contentType);
    await fixtures.upload(megaPath, megaBytes, 'text/markdown');
    const [demoBookId, megaBookId] = await fixtures.books([
      { title: DEMO_BOOK.title, categoryId: fiction, storagePath: demoPath, userId: uploader },
      {
        title: 'A Megabyte of Salt Hollow',
        categoryId: fiction,
        storagePath: megaPath,
        userId: uploader,
      },
    ]);

    log('ingesting the demo book (set-up for the chat scenarios)');
    const setupIngest = await startGateway('ingest-setup', ingestEnv(), false);
    await setupIngest.call('ingest', { bookId: demoBookId, sampleMs: 100 });
    await stop(setupIngest);
    const demoCharacters = await fixtures.charactersOf(demoBookId!);
    if (demoCharacters.length === 0) throw new Error('the demo book has no characters');

    const users = Array.from({ length: settings.turnSessions + settings.soakConcurrency + 1 }, () =>
      randomUUID(),
    );
    const tokens = await Promise.all(
      users.map((sub) =>
        signSupabaseJwt(choice.jwtSecret, {
          role: 'authenticated',
          sub,
          expiresInSeconds: 6 * 3600,
        }),
      ),
    );
    const sessionRows = users.map((userId, i) => ({
      userId,
      characterId: demoCharacters[i % demoCharacters.length]!.id,
      bookId: demoBookId!,
      title: `Bench chat ${i}`,
    }));
    const sessionIds = await fixtures.sessions(sessionRows);

    log('starting the gateway and the baseline');
    const gateway = await startGateway('gateway', gatewayEnv(), true);
    const hello = await start('hello', './hello-process.ts');
    const { peer, peerSkipped } = await startPeer(start, stores.info.databaseUrl, choice.jwtSecret);
    log(peer ? `peer: PostGraphile at ${String(peer.info.url)}` : `peer: skipped, ${peerSkipped}`);
    const gwUrl = String(gateway.info.url);

    const pageSession = sessionIds[users.length - 1]!;
    const pageToken = tokens[users.length - 1]!;
    log(`writing the chat page's history (${settings.chatHistoryTurns} turns)`);
    await writeChatHistory(gwUrl, pageSession, pageToken);

    const bench: Bench = {
      settings,
      log,
      gateway,
      hello,
      peer,
      peerSkipped,
      stores,
      gwUrl,
      helloUrl: String(hello.info.url),
      tokens,
      readerToken: tokens[0]!,
      bookPageBookId: bookPageBook!,
      pageSession,
      pageToken,
      rowCounts,
      rowBooks,
      turnSessions: sessionIds.slice(0, settings.turnSessions).map((id, i) => ({
        sessionId: id,
        token: tokens[i]!,
      })),
      soakSessions: sessionIds
        .slice(settings.turnSessions, settings.turnSessions + settings.soakConcurrency)
        .map((id, k) => ({ sessionId: id, token: tokens[settings.turnSessions + k]! })),
      startGateway: () => startGateway('gateway-soak', gatewayEnv(), true),
      startIngestion: () => startGateway('ingest', ingestEnv(), false),
      stop,
      megaBookId: megaBookId!,
      megaBytes: megaBytes.byteLength,
    };

    const results: Results = { meta: runMeta(storesUsed, gateway) };
    await sleep(200);
    if (wants(1) || wants(2) || wants(3)) results.throughput = await runThroughput(bench);
    if (wants(4)) results.roundTrips = await runRoundTrips(bench);
    if (wants(5)) results.chatTurn = await runChatTurns(bench);
    if (wants(8)) results.tuning = await runTuning(bench, results);
    await stop(hello);
    if (peer) await stop(peer);
    await stop(gateway);
    if (wants(6)) results.ingestion = await runIngestion(bench);
    if (wants(7)) results.soak = await runSoak(bench, results);
    if (wants(9)) {
      log('scaling of the pure CPU steps');
      results.scaling = runScaling();
    }
    results.meta.durationS = Math.round((Date.now() - t0) / 1000);
    results.meta.loadAverageAtEnd = loadavg().map((v) => Math.round(v * 100) / 100);

    await writeResults(results);
  } finally {
    for (const child of [...children].reverse()) await child.stop().catch(() => {});
    for (const fn of cleanups.reverse()) await fn().catch((err) => log(`clean-up: ${err}`));
    await rm(tmp, { recursive: true, force: true });
  }
}

/** What each store of the run is, for the results. */
function describeStores(
  choice: ReturnType<typeof chooseStores>,
  stores: Child,
  redisUrl: string | undefined,
): Record<string, string> {
  return {
    supabase: choice.supabase
      ? `real Supabase at ${choice.supabase.url}`
      : `Supabase stand-in over ${String(stores.info.database)}`,
    redis: redisUrl ? `real Redis ${redact(redisUrl)}` : 'embedded (in-process, as npm start)',
    qdrant: choice.qdrant ? `real Qdrant at ${choice.qdrant.url}` : 'Qdrant stand-in',
    typesense: choice.typesense
      ? `real Typesense at ${choice.typesense.url}`
      : 'Typesense stand-in',
    llm: 'OpenAI-compatible test server answering at once (test/support/openai-server.ts)',
    embeddings: 'local embedder (in-process)',
  };
}

/** The run's command line, machine, stores and settings. */
function runMeta(storesUsed: Record<string, string>, gateway: Child): Results['meta'] {
  return {
    date: new Date().toISOString(),
    command: [
      ...BENCH_ENV.filter((k) => process.env[k]).map((k) => `${k}=${redact(process.env[k]!)}`),
      `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    ].join(' '),
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    loadAverageAtStart: loadavg().map((v) => Math.round(v * 100) / 100),
    stores: storesUsed,
    settings,
    gatewayStores: gateway.info.stores,
  };
}

/** The gateway child's environment over the run's stores, with `overrides` on top. */
function gatewayEnvironment(run: {
  choice: ReturnType<typeof chooseStores>;
  stores: Child;
  tmp: string;
  redisUrl: string | undefined;
  supabaseUrl: string;
  serviceRoleKey: string;
}) {
  const { choice, stores, tmp, redisUrl, supabaseUrl, serviceRoleKey } = run;
  return (overrides: Record<string, string> = {}): Record<string, string> => ({
    NODE_ENV: 'production',
    LOG_LEVEL: 'error',
    HOST: '127.0.0.1',
    PORT: '0',
    GRAPHIQL: 'false',
    SEED_DEMO: 'false',
    WORKER_CONCURRENCY: '0',
    FALSAFA_DATA_DIR: join(tmp, 'gateway'),
    SYSTEM_PROMPT_STORAGE_PATH: join(tmp, 'prompts'),
    STORE_TIMEOUT_MS: '10000',
    SUPABASE_URL: supabaseUrl,
    SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey,
    SUPABASE_JWT_SECRET: choice.jwtSecret,
    QDRANT_URL: choice.qdrant?.url ?? String(stores.info.qdrantUrl),
    ...(choice.qdrant?.apiKey ? { QDRANT_API_KEY: choice.qdrant.apiKey } : {}),
    TYPESENSE_URL: choice.typesense?.url ?? String(stores.info.typesenseUrl),
    TYPESENSE_API_KEY: choice.typesense?.apiKey ?? BENCH_TYPESENSE_KEY,
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    EMBEDDING_PROVIDER: 'local',
    LLM_PROVIDER: 'openai',
    LLM_BASE_URL: String(stores.info.llmUrl),
    LLM_MODEL: 'instant',
    LLM_API_KEY: 'bench',
    // The limiter stays in the path (its Redis calls are counted) but never refuses: the
    // benchmark's readers send more messages per minute than a person would.
    RATE_LIMIT_MESSAGES: '1000000',
    RATE_LIMIT_SESSIONS: '1000000',
    // Scenario 4 asks for 100 characters by alias in one request (a batching probe, not a
    // client's query): the operation limits are raised so that it passes; they are still checked.
    LIMIT_MAX_ALIASES: '1000',
    LIMIT_MAX_TOKENS: '100000',
    LIMIT_MAX_COST: '10000000',
    ...overrides,
  });
}

/** The catalog rows: the book page's book with 20 characters, and a book and a shelf per row count. */
async function seedCatalog(fixtures: Fixtures) {
  const fiction = await fixtures.category('Fiction');
  const [bookPageBook] = await fixtures.books([
    { title: 'The Book Page Book', categoryId: fiction },
  ]);
  await fixtures.characters([bookPageBook!], 20);
  const rowCounts = [1, 10, 100];
  const rowBooks: Record<number, { bookId: string; characterIds: string[]; categoryId: string }> =
    {};
  for (const n of rowCounts) {
    const [bookId] = await fixtures.books([{ title: `Book with ${n}`, categoryId: fiction }]);
    const characterIds = (await fixtures.characters([bookId!], n)).get(bookId!)!;
    const categoryId = await fixtures.category(`Shelf of ${n}`);
    const shelf = await fixtures.books(
      Array.from({ length: n }, (_, i) => ({ title: `Shelf ${n} book ${i}`, categoryId })),
    );
    await fixtures.characters(shelf, 2);
    rowBooks[n] = { bookId: bookId!, characterIds, categoryId };
  }
  return { fiction, bookPageBook, rowCounts, rowBooks };
}

/** The chat page's session gets its history from real turns (replies with citations). */
async function writeChatHistory(gwUrl: string, pageSession: string, pageToken: string) {
  for (let i = 0; i < settings.chatHistoryTurns; i++) {
    await postOk(gwUrl, {
      query: SEND_MESSAGE,
      variables: {
        input: {
          sessionId: pageSession,
          content: `Question ${i}: what did the keeper say about the storm and the lamp?`,
          clientMessageId: randomUUID(),
        },
      },
      token: pageToken,
    });
  }
}

/** RESULTS.md and results.json (in the temp directory for a partial run), and the summary. */
async function writeResults(results: Results) {
  const markdown = renderMarkdown(results);
  const partial = quick || only !== null;
  const dir = partial ? tmpdir() : fileURLToPath(new URL('.', import.meta.url));
  const mdPath = join(dir, partial ? 'falsafa-bench-RESULTS.md' : 'RESULTS.md');
  const jsonPath = join(dir, partial ? 'falsafa-bench-results.json' : 'results.json');
  await writeFile(mdPath, markdown);
  await writeFile(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(
    `\n${summaryLines(results).join('\n')}\n\nwrote ${mdPath} and ${jsonPath}\n`,
  );
}

/**
 * The peer (PostGraphile 5 over the same PostgreSQL database) when it is installed under
 * BENCH_EXTRA_MODULES and the run's PostgreSQL is a server it can reach (BENCH_DATABASE_URL);
 * else null and the reason.
 */
async function startPeer(
  start: (
    name: string,
    script: string,
    options?: Parameters<typeof Child.start>[2],
  ) => Promise<Child>,
  databaseUrl: unknown,
  jwtSecret: string,
): Promise<{ peer: Child | null; peerSkipped: string | null }> {
  const extra = process.env.BENCH_EXTRA_MODULES;
  let installed = false;
  try {
    if (extra) createRequire(join(extra, 'package.json')).resolve('postgraphile');
    installed = Boolean(extra);
  } catch {
    installed = false;
  }
  if (!installed) {
    return {
      peer: null,
      peerSkipped:
        'PostGraphile is not installed (bench/install-candidates.sh <dir>, then BENCH_EXTRA_MODULES=<dir>)',
    };
  }
  if (typeof databaseUrl !== 'string') {
    return {
      peer: null,
      peerSkipped: 'it needs a PostgreSQL server (BENCH_DATABASE_URL); this run uses PGlite',
    };
  }
  const peer = await start('peer', './peer-process.ts', {
    env: {
      BENCH_EXTRA_MODULES: extra!,
      BENCH_PEER_DATABASE_URL: databaseUrl,
      BENCH_JWT_SECRET: jwtSecret,
    },
  });
  return { peer, peerSkipped: null };
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
