import { randomUUID } from 'node:crypto';
import {
  buildClientSchema,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  getIntrospectionQuery,
  getNamedType,
  getNullableType,
  type IntrospectionQuery,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isUnionType,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../src/services/pagination.js';
import { ingestDemoBook } from './support/books.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';
import { storeSnapshot } from './support/snapshot.js';

/**
 * A schema-aware fuzzer. Operations are generated from the introspected schema (random root
 * fields, aliases, nested selections, fragments on unions), with hostile argument values (malformed
 * and foreign ids, empty and oversized text, injection strings, page sizes past the limits, wrong
 * types through variables), sent as POST, GET or SSE, mixed with broken transport. Seeded
 * (FUZZ_SEED) and bounded (FUZZ_OPERATIONS, a few hundred by default). Every answer must be under
 * 500 with a code on each error; an operation that may write and reports no success must have
 * written nothing (tables, vectors, keywords and the job queue compared before and after); at the
 * end every session's messageCount equals its message rows. The figures are printed.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
const OPERATIONS = Number(process.env.FUZZ_OPERATIONS ?? 300);
const URL_ = 'http://gateway.test/graphql';
const GQL_ACCEPT = 'application/graphql-response+json';

/** mulberry32: small, fast, and the same sequence for the same seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick<T>(items: readonly T[]): T {
      return items[Math.floor(next() * items.length)]!;
    },
  };
}
type Rng = ReturnType<typeof prng>;

let gw: TestGateway;
let schema: GraphQLSchema;
const reader = randomUUID();
const stranger = randomUUID();
let token: string;
let strangerToken: string;
const ids: Record<string, string> = {};

beforeAll(async () => {
  gw = await startTestGateway({ worker: true });
  token = await gw.token(reader);
  strangerToken = await gw.token(stranger);
  ids.book = await ingestDemoBook(gw, reader);
  await gw.runtime.stopWorker(5000); // queued jobs stay queued: nothing writes in the background
  const chars = await gw.db.sql<{ id: string }[]>`
    select id from characters where book_id = ${ids.book} order by name limit 2`;
  ids.character = chars[0]!.id;
  ids.character2 = chars[1]?.id ?? chars[0]!.id;
  ids.session = await gw.seed.session(reader, ids.character, ids.book);
  ids.strangerSession = await gw.seed.session(stranger, ids.character, ids.book);
  ids.pendingBook = await gw.seed.book({ userId: reader, status: 'pending' });
  await gw.db
    .sql`update books set storage_path = ${`${reader}/p.txt`} where id = ${ids.pendingBook}`;
  ids.strangerBook = await gw.seed.book({ userId: stranger, status: 'pending' });
  ids.category = await gw.seed.category();
  const res = await gw.gql(getIntrospectionQuery(), {}, { token });
  schema = buildClientSchema(res.body.data as unknown as IntrospectionQuery);
}, 90_000);
afterAll(async () => {
  await gw?.close();
});

const INJECTIONS = [
  "'; drop table messages; --",
  'id=eq.1&or=(user_id.neq.0)',
  '*',
  '\r\nFLUSHALL\r\n',
  "]]..redis.call('FLUSHALL')..[[",
  '../../../../etc/passwd',
  '<script>alert(1)</script>',
  '") { id } __schema { types { name } } #',
  '\u202Egnp.exe',
  '\u200B\u200B',
  'Ω≈ç√∫˜µ≤≥÷ 😀 עברית العربية',
  'hello\u0000there',
  'half \ud800 a pair',
];

/** The ids an argument of that name takes, the reader's and another reader's. */
function idsFor(argName: string): string[] {
  if (/session/i.test(argName)) return [ids.session!, ids.session!, ids.strangerSession!];
  if (/character/i.test(argName)) return [ids.character!, ids.character2!];
  if (/category/i.test(argName)) return [ids.category!];
  if (/book/i.test(argName)) return [ids.book!, ids.pendingBook!, ids.strangerBook!];
  if (/clientMessage/i.test(argName)) return [randomUUID(), '0a0a0a0a-0000-4000-8000-000000000001'];
  return Object.values(ids);
}

function hostileId(rng: Rng, argName: string): unknown {
  const valid = idsFor(argName);
  const any = Object.values(ids);
  return rng.pick<() => unknown>([
    () => rng.pick(valid),
    () => rng.pick(valid),
    () => rng.pick(valid),
    () => rng.pick(valid),
    () => rng.pick(any),
    () => rng.pick(valid).toUpperCase(),
    () => randomUUID(),
    () => '',
    () => '1 OR 1=1',
    () => rng.pick(INJECTIONS),
    () => 'x'.repeat(rng.pick([37, 500, 20_000])),
    () => 12345,
  ])();
}

function hostileString(rng: Rng, argName: string): unknown {
  const cursor = () =>
    rng.pick([
      encodeCursor([new Date().toISOString()]),
      encodeCursor(['2026-01-01T00:00:00.000Z', randomUUID()]),
      encodeCursor(['Character 000', randomUUID()]),
      encodeCursor(['not a time', randomUUID()]),
      'e30',
      Buffer.from('[1,2]').toString('base64url'),
    ]);
  if (/after|before|cursor/i.test(argName) && rng.chance(0.7)) return cursor();
  return rng.pick<() => unknown>([
    () => 'Who is Mira, and what happened in the storm?',
    () => 'What did you just say about the lamp?',
    () => 'Where is the lamp kept?',
    () => 'A title',
    () => '',
    () => '   \n\t ',
    () => rng.pick(INJECTIONS),
    () => 'y'.repeat(rng.pick([199, 201, 4000, 4001, 30_000])),
    () => cursor(),
  ])();
}

function hostileInt(rng: Rng): unknown {
  return rng.pick([0, 1, -1, 2, 5, 20, 50, 99, 100, 101, 1000, 2147483647, -2147483648]);
}

/** A value for `type`, sometimes of the wrong kind (sent through variables, checked by coercion). */
function valueFor(
  rng: Rng,
  type: GraphQLInputType,
  name: string,
  asVariable: boolean,
  depth = 0,
): unknown {
  if (!isNonNullType(type) && rng.chance(0.15)) return null;
  const t = getNullableType(type) as GraphQLInputType;
  if (asVariable && rng.chance(0.04)) {
    return rng.pick<unknown>([{ $ne: null }, [1, 2], 'not a number', 1.5]);
  }
  if (isListType(t)) return [valueFor(rng, t.ofType, name, asVariable, depth + 1)];
  if (isEnumType(t)) {
    return rng.chance(0.9) ? rng.pick(t.getValues()).name : 'completed';
  }
  if (isInputObjectType(t)) {
    const out: Record<string, unknown> = {};
    for (const f of Object.values(t.getFields())) {
      if (!isNonNullType(f.type) && rng.chance(0.4)) continue;
      if (isNonNullType(f.type) && rng.chance(0.03)) continue; // a required field left out
      out[f.name] = valueFor(rng, f.type, f.name, asVariable, depth + 1);
    }
    if (rng.chance(0.03)) out.unknownField = 'x';
    return out;
  }
  if (isScalarType(t)) {
    switch (t.name) {
      case 'ID':
        return hostileId(rng, name);
      case 'Int':
        return asVariable && rng.chance(0.05) ? rng.pick([2147483648, 1.5, '10']) : hostileInt(rng);
      case 'Float':
        return rng.pick([0, 0.5, -1, 1e308]);
      case 'Boolean':
        return !asVariable || rng.chance(0.95) ? rng.chance(0.5) : 'true';
      default:
        return hostileString(rng, name);
    }
  }
  return null;
}

/** A value written into the document: strings as JSON strings, enums bare, objects as literals. */
function literal(value: unknown, type: GraphQLInputType): string {
  if (value === null || value === undefined) return 'null';
  const t = getNullableType(type) as GraphQLInputType;
  if (isEnumType(t) && typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const of = isListType(t) ? t.ofType : t;
    return `[${value.map((v) => literal(v, of)).join(', ')}]`;
  }
  if (typeof value === 'object') {
    const fields = isInputObjectType(t) ? t.getFields() : {};
    return `{ ${Object.entries(value)
      .map(([k, v]) => `${k}: ${literal(v, fields[k]?.type ?? t)}`)
      .join(', ')} }`;
  }
  return JSON.stringify(value);
}

interface Built {
  text: string;
  variables: Record<string, unknown>;
  kind: 'query' | 'mutation' | 'subscription';
}

function buildOperation(rng: Rng): Built {
  const kind = rng.pick([
    'query',
    'query',
    'query',
    'mutation',
    'mutation',
    'subscription',
  ] as const);
  const root = (
    kind === 'query'
      ? schema.getQueryType()
      : kind === 'mutation'
        ? schema.getMutationType()
        : schema.getSubscriptionType()
  )!;
  const variables: Record<string, unknown> = {};
  const definitions: string[] = [];
  let n = 0;

  const args = (field: GraphQLField<unknown, unknown>): string => {
    const parts: string[] = [];
    for (const arg of field.args) {
      if (!isNonNullType(arg.type) && rng.chance(0.5)) continue;
      if (isNonNullType(arg.type) && rng.chance(0.02)) continue; // a required argument left out
      const asVariable = rng.chance(0.5);
      const value = valueFor(rng, arg.type, arg.name, asVariable);
      if (asVariable) {
        const name = `v${n++}`;
        definitions.push(`$${name}: ${String(arg.type)}`);
        variables[name] = value;
        parts.push(`${arg.name}: $${name}`);
      } else {
        parts.push(`${arg.name}: ${literal(value, arg.type)}`);
      }
    }
    return parts.length ? `(${parts.join(', ')})` : '';
  };

  const selection = (type: GraphQLNamedType, depth: number): string => {
    if (isLeafType(type)) return '';
    if (isUnionType(type)) {
      return `{ __typename ${type
        .getTypes()
        .map((m) => `... on ${m.name} ${selection(m, depth + 1)}`)
        .join(' ')} }`;
    }
    if (!isObjectType(type) && !isInterfaceType(type)) return '';
    const fields = Object.values((type as GraphQLObjectType).getFields());
    const leaves = fields.filter((f) => isLeafType(getNamedType(f.type)));
    const chosen = new Set<GraphQLField<unknown, unknown>>();
    chosen.add(rng.pick(leaves.length ? leaves : fields));
    const more = depth >= 4 ? 0 : rng.int(4);
    for (let i = 0; i < more; i++) chosen.add(rng.pick(fields));
    const parts = [...chosen].map((f) => {
      const alias = rng.chance(0.1) ? `a${n++}: ` : '';
      const sub = isLeafType(getNamedType(f.type))
        ? ''
        : selection(getNamedType(f.type), depth + 1);
      return `${alias}${f.name}${args(f)} ${sub}`;
    });
    return `{ ${parts.join(' ')} }`;
  };

  const rootFields = Object.values(root.getFields());
  const count = kind === 'subscription' ? 1 : 1 + (rng.chance(0.25) ? 1 : 0);
  const body: string[] = [];
  for (let i = 0; i < count; i++) {
    const f = rng.pick(rootFields);
    const sub = isLeafType(getNamedType(f.type)) ? '' : selection(getNamedType(f.type), 1);
    body.push(`r${i}: ${f.name}${args(f)} ${sub}`);
  }
  const vars = definitions.length ? `(${definitions.join(', ')})` : '';
  return { text: `${kind} Fuzz${vars} { ${body.join(' ')} }`, variables, kind };
}

interface Answer {
  status: number;
  errors: { message?: string; extensions?: { code?: string } }[];
  /** Some root field answered with data. */
  succeeded: boolean;
  text: string;
}

async function readSse(res: Response): Promise<string> {
  // A subscription that follows a book still pending never ends: read what comes within a moment.
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const stop = setTimeout(() => void reader.cancel().catch(() => {}), 1500);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // cancelled
  } finally {
    clearTimeout(stop);
  }
  return text;
}

function parseAnswer(status: number, type: string | null, text: string): Answer {
  const results: { data?: Record<string, unknown> | null; errors?: Answer['errors'] }[] = [];
  if (type?.includes('event-stream')) {
    for (const line of text.split('\n')) {
      if (line.startsWith('data:') && line.length > 6) results.push(JSON.parse(line.slice(5)));
    }
  } else if (text) {
    results.push(JSON.parse(text));
  }
  const errors = results.flatMap((r) => r.errors ?? []);
  const succeeded = results.some(
    (r) => r.data && Object.values(r.data).some((v) => v !== null && v !== undefined),
  );
  return { status, errors, succeeded, text };
}

async function send(rng: Rng, op: Built): Promise<Answer> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${rng.chance(0.1) ? strangerToken : token}`,
  };
  if (op.kind === 'query' && rng.chance(0.2)) {
    const qs = new URLSearchParams({ query: op.text, variables: JSON.stringify(op.variables) });
    const res = await gw.app.fetch(`${URL_}?${qs}`, {
      headers: { ...headers, accept: GQL_ACCEPT },
    });
    return parseAnswer(res.status, res.headers.get('content-type'), await res.text());
  }
  const accept = op.kind === 'subscription' ? 'text/event-stream' : GQL_ACCEPT;
  const res = await gw.app.fetch(URL_, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', accept },
    body: JSON.stringify({ query: op.text, variables: op.variables, operationName: 'Fuzz' }),
  });
  const type = res.headers.get('content-type');
  const text = type?.includes('event-stream') ? await readSse(res) : await res.text();
  return parseAnswer(res.status, type, text);
}

/** Broken transport: what a careless or hostile client sends around the GraphQL itself. */
async function sendBroken(rng: Rng): Promise<Answer> {
  const auth = { authorization: `Bearer ${token}` };
  const q = encodeURIComponent('{ viewer { id } }');
  const request = rng.pick<() => Promise<Response> | Response>([
    () =>
      gw.app.fetch(URL_, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', accept: GQL_ACCEPT },
        body: rng.pick(['{"query": "{ viewer { id } }"', '[]', 'null', '{"query": 1}', '']),
      }),
    () =>
      gw.app.fetch(
        `${URL_}?query=${q}&${rng.pick(['variables=%7Bbad', 'extensions=%7Bbad', 'variables=%5B1%5D', 'operationName=Nope', 'variables=%22x%22'])}`,
        { headers: { ...auth, accept: GQL_ACCEPT } },
      ),
    () =>
      gw.app.fetch(URL_, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', accept: GQL_ACCEPT },
        body: JSON.stringify({
          query: 'query A { viewer { id } } query B { viewer { id } }',
          operationName: rng.pick([null, 'C', 1]),
        }),
      }),
    () =>
      gw.app.fetch(URL_, {
        method: 'POST',
        headers: { ...auth, 'content-type': rng.pick(['text/plain', 'application/xml', 'x/y']) },
        body: JSON.stringify({ query: '{ viewer { id } }' }),
      }),
    () =>
      gw.app.fetch(URL_, {
        method: 'POST',
        headers: {
          ...auth,
          'content-type': 'application/json',
          accept: rng.pick(['application/xml', 'text/html', '*/*;q=0', 'text/event-stream']),
        },
        body: JSON.stringify({ query: '{ viewer { id } }' }),
      }),
    () =>
      gw.app.fetch(URL_, {
        method: rng.pick(['PUT', 'DELETE', 'PATCH']),
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ viewer { id } }' }),
      }),
    () =>
      gw.app.fetch(URL_, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', accept: GQL_ACCEPT },
        body: JSON.stringify({ query: '{ viewer { id } ', variables: { a: 1 } }),
      }),
  ]);
  const res = await request();
  return parseAnswer(res.status, res.headers.get('content-type'), await res.text());
}

/** What an operation could have written: rows, vectors, keywords and queued jobs. */
async function written() {
  const snap = await storeSnapshot(gw);
  return {
    tables: snap.tables,
    qdrant: snap.qdrant,
    typesense: snap.typesense,
    queue: await gw.redis.lrange('processing_queue', 0, -1),
  };
}

describe('the schema-aware fuzzer', () => {
  it(
    `${OPERATIONS} generated operations (seed ${SEED}): no 5xx, every error coded, no write behind a refusal`,
    async () => {
      const rng = prng(SEED);
      const figures = {
        operations: 0,
        byKind: {} as Record<string, number>,
        byStatus: {} as Record<string, number>,
        errorsByCode: {} as Record<string, number>,
        refusedMayWrite: 0,
        succeededMayWrite: 0,
      };
      const problems: string[] = [];
      for (let i = 0; i < OPERATIONS; i++) {
        const broken = rng.chance(0.1);
        const op = broken ? null : buildOperation(rng);
        const mayWrite = op !== null && op.kind !== 'query';
        const before = mayWrite ? await written() : null;
        const answer = op ? await send(rng, op) : await sendBroken(rng);
        const kind = op?.kind ?? 'transport';
        figures.operations++;
        figures.byKind[kind] = (figures.byKind[kind] ?? 0) + 1;
        figures.byStatus[answer.status] = (figures.byStatus[answer.status] ?? 0) + 1;
        const what = `#${i} ${op ? `${op.text} ${JSON.stringify(op.variables).slice(0, 300)}` : 'transport'}`;
        if (answer.status >= 500)
          problems.push(`${what}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
        for (const e of answer.errors) {
          const code = e.extensions?.code;
          figures.errorsByCode[code ?? '(none)'] =
            (figures.errorsByCode[code ?? '(none)'] ?? 0) + 1;
          if (!code) problems.push(`${what}: an error without a code: ${e.message}`);
          if (code === 'INTERNAL_SERVER_ERROR')
            problems.push(`${what}: ${answer.text.slice(0, 300)}`);
        }
        if (mayWrite && before) {
          if (answer.succeeded) figures.succeededMayWrite++;
          else {
            figures.refusedMayWrite++;
            const after = await written();
            try {
              expect(after).toEqual(before);
            } catch {
              problems.push(`${what}: refused (${answer.text.slice(0, 200)}) but wrote`);
            }
          }
        }
      }
      const counts = await gw.db.sql<{ id: string; message_count: number; rows: number }[]>`
      select s.id, s.message_count, (select count(*)::int from messages m where m.session_id = s.id) as rows
      from chat_sessions s`;
      for (const s of counts) {
        if (s.message_count !== s.rows) {
          problems.push(`session ${s.id}: messageCount ${s.message_count}, ${s.rows} rows`);
        }
      }
      console.log(
        `[fuzz] seed ${SEED}: ${figures.operations} operations ${JSON.stringify(figures.byKind)}; ` +
          `statuses ${JSON.stringify(figures.byStatus)}; errors by code ${JSON.stringify(figures.errorsByCode)}; ` +
          `operations that may write: ${figures.succeededMayWrite} answered, ${figures.refusedMayWrite} refused; ` +
          `${counts.length} sessions checked`,
      );
      expect(problems).toEqual([]);
    },
    Math.max(180_000, OPERATIONS * 250),
  );
});
