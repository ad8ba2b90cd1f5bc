import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createYoga,
  type Plugin,
  type YogaServerInstance,
  maskError as yogaMaskError,
} from 'graphql-yoga';
import { schema } from '../schema/index.js';
import { AUTH_MESSAGES, createAuthenticator } from '../src/auth.js';
import { type Context, makeContextFactory } from '../src/context.js';
import type { Deps } from '../src/deps.js';
import { AppError } from '../src/errors.js';
import { selectOperation } from '../src/observability/operation.js';
import { limitSettings, useOperationLimits } from '../src/security/limits.js';
import { createApp } from '../src/yoga.js';

/**
 * The app variants the tuning scenario compares, each a yoga app over the same runtime.
 * - `shipped`: `createApp(deps)` as the gateway serves it.
 * - `shipped-unique-documents`: the same app, with every request's document made unique (a
 *   comment with a counter or random id), so yoga's parse and validation cache never hits.
 * - `without-token-memo`, `without-response-cache`: the shipped app with one of its tunings taken
 *   away (before and after, in the same run).
 * - `row-lru`: `createApp` with an in-process cache of the parsed book and character rows in front
 *   of Redis (a candidate, not shipped), taken away again by `dispose`.
 * - `shipped-jit`: createApp with graphql-jit, when installed and createApp takes extra plugins
 *   (`options.plugins`, detected). Otherwise the same plugins are measured on
 *   `minimal-yoga` (createYoga with only the schema, the context factory, error masking and the
 *   auth gate): `minimal-yoga-jit`, `minimal-yoga-response-cache`; each pair gives the saving.
 *   `minimal-yoga-limits` adds createApp's operation limits, to price them.
 * The optional plugins load from the project's dependencies, else from BENCH_EXTRA_MODULES (a
 * separate install whose graphql, graphql-yoga and @envelop/core are links to the project's).
 */
export interface AppVariant {
  name: string;
  description: string;
  /** Every document must be made unique (defeats the parse/validate cache). */
  uniqueDocuments?: boolean;
  /** Measured in process only (not worth an HTTP run of its own). */
  inProcessOnly?: boolean;
  app: YogaServerInstance<any, any>;
  dispose(): void;
}

type Builder = (deps: Deps) => Promise<Omit<AppVariant, 'name'>>;

const BUILDERS: Record<string, Builder> = {
  shipped: async (deps) => ({
    description: 'createApp(deps) as shipped (yoga defaults: parse and validation cache on)',
    app: createApp(deps),
    dispose: () => {},
  }),
  'shipped-unique-documents': async (deps) => ({
    description:
      'createApp(deps), every document made unique by a comment: the parse and validation cache never hits',
    uniqueDocuments: true,
    app: createApp(deps),
    dispose: () => {},
  }),
  'without-token-memo': async (deps) => {
    const original = deps.auth;
    deps.auth = createAuthenticator({
      ...(deps.config.auth.jwtSecret ? { jwtSecret: deps.config.auth.jwtSecret } : {}),
      ...(deps.config.auth.jwksUrl ? { jwksUrl: deps.config.auth.jwksUrl } : {}),
      rememberVerified: false,
    });
    return {
      description: 'createApp verifying the bearer token on every request (before the token memo)',
      app: createApp(deps),
      dispose: () => {
        deps.auth = original;
      },
    };
  },
  'without-response-cache': async (deps) => {
    const ttl = deps.config.responseCacheTtlMs;
    deps.config.responseCacheTtlMs = 0;
    const app = createApp(deps);
    deps.config.responseCacheTtlMs = ttl;
    return {
      description:
        'createApp without the per-reader catalog response cache (RESPONSE_CACHE_TTL_MS=0: before it)',
      app,
      dispose: () => {},
    };
  },
  'row-lru': async (deps) => {
    const undo = [
      lruInFront(deps.caches.book, 5_000, 5_000),
      lruInFront(deps.caches.character, 5_000, 20_000),
    ];
    return {
      description:
        'createApp with a 5 s in-process LRU of parsed book and character rows in front of Redis',
      app: createApp(deps),
      dispose: () => {
        for (const fn of undo) fn();
      },
    };
  },
  'shipped-jit': async (deps) => ({
    description: 'createApp + @envelop/graphql-jit (operations compiled on first use)',
    app: withPlugins(deps, [(await jitPlugin()) as Plugin<Context>])!,
    dispose: () => {},
  }),
  'minimal-yoga': async (deps) => ({
    description:
      "createYoga with the schema, context factory, masking and auth gate only (none of createApp's other plugins)",
    app: minimalApp(deps),
    dispose: () => {},
  }),
  'minimal-yoga-limits': async (deps) => ({
    description:
      "minimal-yoga + createApp's operation limits (depth, aliases, tokens, directives, cost)",
    inProcessOnly: true,
    app: minimalApp(
      deps,
      useOperationLimits(limitSettings(deps.config), selectOperation) as Plugin<Context>[],
    ),
    dispose: () => {},
  }),
  'minimal-yoga-jit': async (deps) => ({
    description: 'minimal-yoga + @envelop/graphql-jit (operations compiled on first use)',
    app: minimalApp(deps, [(await jitPlugin()) as Plugin<Context>]),
    dispose: () => {},
  }),
  'minimal-yoga-response-cache': async (deps) => ({
    description: `minimal-yoga + ${RESPONSE_CACHE_DESCRIPTION.replace('createApp + ', '')}`,
    app: minimalApp(deps, [(await responseCachePlugin()) as Plugin<Context>]),
    dispose: () => {},
  }),
};

const RESPONSE_CACHE_DESCRIPTION =
  'createApp + @graphql-yoga/plugin-response-cache (in memory, 5 s TTL, shared by readers; chat types not cached)';

async function jitPlugin(): Promise<Plugin> {
  const jit = await loadOptional<{ useGraphQlJit: () => Plugin }>('@envelop/graphql-jit');
  if (!jit) throw new Error('@envelop/graphql-jit is not installed');
  return jit.useGraphQlJit();
}

async function responseCachePlugin(): Promise<Plugin> {
  const rc = await loadOptional<{
    useResponseCache: (options: {
      session: () => null;
      ttl: number;
      ttlPerSchemaCoordinate: Record<string, number>;
    }) => Plugin;
  }>('@graphql-yoga/plugin-response-cache');
  if (!rc) throw new Error('@graphql-yoga/plugin-response-cache is not installed');
  // The catalog is the same for every signed-in reader; sessions and messages are per reader.
  return rc.useResponseCache({
    session: () => null,
    ttl: 5_000,
    ttlPerSchemaCoordinate: {
      ChatSession: 0,
      ChatSessionConnection: 0,
      Message: 0,
      MessageConnection: 0,
      SendMessagePayload: 0,
      Viewer: 0,
    },
  });
}

/**
 * createApp with extra plugins, if it takes them (an `options.plugins` list it appends); null when
 * it does not (a sentinel plugin shows whether they were used).
 */
function withPlugins(deps: Deps, plugins: Plugin<Context>[]): YogaServerInstance<any, any> | null {
  let used = false;
  const sentinel: Plugin<Context> = {
    onPluginInit() {
      used = true;
    },
  };
  const create = createApp as unknown as (
    deps: Deps,
    options: { plugins: Plugin<Context>[] },
  ) => YogaServerInstance<any, any>;
  const app = create(deps, { plugins: [sentinel, ...plugins] });
  if (used) return app;
  void app.dispose();
  return null;
}

const OPTIONAL: Record<string, string> = {
  'shipped-jit': '@envelop/graphql-jit',
  'minimal-yoga-jit': '@envelop/graphql-jit',
  'minimal-yoga-response-cache': '@graphql-yoga/plugin-response-cache',
};

/**
 * The variants this run can build: the optional plugins only when installed; with createApp
 * taking extra plugins, `shipped-*` (and no `minimal-yoga*`), else the `minimal-yoga*` pairs.
 */
export async function variantNames(deps: Deps): Promise<string[]> {
  const probe = withPlugins(deps, []);
  const extensible = probe !== null;
  await probe?.dispose();
  const names: string[] = [];
  for (const name of Object.keys(BUILDERS)) {
    if (name.startsWith('shipped-') && OPTIONAL[name] && !extensible) continue;
    if (name.startsWith('minimal-yoga') && extensible) continue;
    const needs = OPTIONAL[name];
    if (!needs || (await loadOptional(needs))) names.push(name);
  }
  return names;
}

export async function buildVariant(name: string, deps: Deps): Promise<AppVariant> {
  const build = BUILDERS[name];
  if (!build) throw new Error(`unknown variant ${name}`);
  return { name, ...(await build(deps)) };
}

/** createYoga with what every request of the gateway needs and nothing else, plus `plugins`. */
function minimalApp(deps: Deps, plugins: Plugin<Context>[] = []) {
  const { logger } = deps;
  return createYoga<Record<string, unknown>, Context>({
    schema,
    context: makeContextFactory(deps),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    maskedErrors: {
      maskError(error, message, isDev) {
        logger.error({ err: error }, 'unexpected error');
        return yogaMaskError(error, message, isDev);
      },
    },
    logging: false,
    graphiql: false,
    plugins: [authGate(), ...plugins],
  });
}

/** createApp's auth gate (introspection-only operations are not used by the benchmark). */
function authGate(): Plugin<Context> {
  const reject = (ctx: Context) =>
    new AppError('UNAUTHENTICATED', AUTH_MESSAGES[ctx.authFailure ?? 'missing']);
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (!args.contextValue.viewer) {
        setResultAndStopExecution({ errors: [reject(args.contextValue)] });
      }
    },
  };
}

/**
 * Puts an in-process LRU with a time to live in front of a read-through cache's `getMany`; hits
 * skip Redis. Returns the undo function.
 */
function lruInFront<T extends { id: string }>(
  cache: { getMany(ids: readonly string[]): Promise<(T | null)[]> },
  ttlMs: number,
  max: number,
): () => void {
  const hadOwn = Object.hasOwn(cache, 'getMany');
  const original = cache.getMany;
  const entries = new Map<string, { row: T; until: number }>();
  cache.getMany = async function (this: typeof cache, ids) {
    const now = Date.now();
    const out: (T | null)[] = new Array(ids.length).fill(null);
    const missing: number[] = [];
    ids.forEach((id, i) => {
      const e = entries.get(id);
      if (e && e.until > now) out[i] = e.row;
      else missing.push(i);
    });
    if (missing.length > 0) {
      const rows = await original.call(
        this,
        missing.map((i) => ids[i]!),
      );
      missing.forEach((i, k) => {
        const row = rows[k] ?? null;
        out[i] = row;
        if (row) {
          entries.delete(row.id);
          entries.set(row.id, { row, until: now + ttlMs });
          if (entries.size > max) entries.delete(entries.keys().next().value!);
        }
      });
    }
    return out;
  };
  return () => {
    if (hadOwn) cache.getMany = original;
    else delete (cache as { getMany?: unknown }).getMany;
  };
}

const loaded = new Map<string, unknown>();

/** A package by name from the project, else its ESM entry under BENCH_EXTRA_MODULES; or null. */
async function loadOptional<T>(specifier: string): Promise<T | null> {
  if (loaded.has(specifier)) return loaded.get(specifier) as T | null;
  let mod: unknown = null;
  try {
    mod = await import(specifier);
  } catch {
    const extra = process.env.BENCH_EXTRA_MODULES;
    if (extra) {
      try {
        const require = createRequire(join(extra, 'package.json'));
        const pkgPath = require.resolve(`${specifier}/package.json`);
        const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as {
          exports?: { '.'?: { import?: { default?: string } | string } };
          module?: string;
          main?: string;
        };
        const entry = pkg.exports?.['.']?.import;
        const file = (typeof entry === 'string' ? entry : entry?.default) ?? pkg.module ?? pkg.main;
        mod = file ? await import(pathToFileURL(join(dirname(pkgPath), file)).href) : null;
      } catch {
        mod = null;
      }
    }
  }
  loaded.set(specifier, mod);
  return mod as T | null;
}
