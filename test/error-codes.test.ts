import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/errors.js';
import { REQUEST_ERROR_STATUS } from '../src/security/errors.js';

/**
 * The README's tables of error codes list exactly the codes the gateway can emit: its own
 * (src/errors.ts, src/security/errors.ts and any code literal in the sources but the stand-ins') and those of the
 * GraphQL server libraries it runs (graphql-yoga, its plugins, graphql-armor), read from their
 * code. A code added anywhere without a line in the README, or a line for a code nothing emits,
 * fails here.
 */
const root = new URL('..', import.meta.url).pathname;

function files(dir: string, keep: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'node_modules' && name !== 'cjs' && name !== 'typings') {
        out.push(...files(path, keep));
      }
    } else if (keep(path)) out.push(path);
  }
  return out;
}

const CODE_LITERAL = /\bcode['"]?\s*[:=]\s*['"]([A-Z][A-Z0-9_]+)['"]/g;

function codeLiterals(paths: string[]): Set<string> {
  const found = new Set<string>();
  for (const path of paths) {
    for (const m of readFileSync(path, 'utf8').matchAll(CODE_LITERAL)) found.add(m[1]!);
  }
  return found;
}

/** The GraphQL server libraries whose errors reach clients. */
const SERVER_LIBRARIES = [
  'graphql-yoga',
  '@graphql-yoga/plugin-csrf-prevention',
  '@graphql-yoga/plugin-disable-introspection',
  '@graphql-yoga/plugin-persisted-operations',
  '@graphql-yoga/plugin-response-cache',
  '@escape.tech/graphql-armor',
  '@escape.tech/graphql-armor-block-field-suggestions',
  '@escape.tech/graphql-armor-cost-limit',
  '@escape.tech/graphql-armor-max-aliases',
  '@escape.tech/graphql-armor-max-depth',
  '@escape.tech/graphql-armor-max-directives',
  '@escape.tech/graphql-armor-max-tokens',
  'graphql-query-complexity',
  'graphql-ws',
];
/**
 * Imported, but set no code: graphql-js leaves `extensions` to servers (the `code: 'INTERNAL'`
 * in it is a doc comment's example), and GraphiQL's page runs in the browser.
 */
const WITHOUT_CODES = ['graphql', '@graphql-yoga/render-graphiql'];

/** Library codes the gateway's configuration keeps from ever being sent, and why. */
const NEVER_SENT: Record<string, string> = {
  REQUEST_ENTITY_TOO_LARGE:
    "yoga's own 25 MB body limit and multipart parser: the body limit answers PAYLOAD_TOO_LARGE first, and multipart is off",
  PERSISTED_QUERY_NOT_IN_LIST: 'replaced by customErrors in src/security/trusted-documents.ts',
  PERSISTED_QUERY_ID_REQUIRED: 'replaced by customErrors in src/security/trusted-documents.ts',
  CANNOT_SEND_PQ_ID_AND_BODY: 'replaced by customErrors in src/security/trusted-documents.ts',
};

function emittedCodes(): Set<string> {
  const ours = ['src', 'schema', 'resolvers'].flatMap((dir) =>
    files(join(root, dir), (p) => p.endsWith('.ts')),
  );
  const codes = new Set<string>([
    ...ERROR_CODES,
    ...Object.keys(REQUEST_ERROR_STATUS),
    ...codeLiterals(ours),
  ]);
  for (const lib of SERVER_LIBRARIES) {
    const dir = join(root, 'node_modules', lib);
    for (const code of codeLiterals(files(dir, (p) => /\.(m?js)$/.test(p)))) codes.add(code);
  }
  for (const code of Object.keys(NEVER_SENT)) codes.delete(code);
  return codes;
}

/** Every backticked UPPER_SNAKE code in the `code` column of the README's tables. */
function documentedCodes(): Set<string> {
  const lines = readFileSync(join(root, 'README.md'), 'utf8').split('\n');
  const codes = new Set<string>();
  let column = -1;
  for (const line of lines) {
    if (!line.startsWith('|')) {
      column = -1;
      continue;
    }
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    if (column < 0) {
      column = cells.indexOf('code');
      if (column < 0) column = -2; // a table without a code column: skip to its end
      continue;
    }
    if (column === -2) continue;
    for (const m of (cells[column] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)) codes.add(m[1]!);
  }
  return codes;
}

describe("the README's error codes", () => {
  it('are exactly the codes the gateway can emit', () => {
    const emitted = [...emittedCodes()].sort();
    const documented = [...documentedCodes()].sort();
    expect(emitted.length).toBeGreaterThan(10);
    expect(documented).toEqual(emitted);
  });

  it('cover every GraphQL library the sources import', () => {
    const ours = files(join(root, 'src'), (p) => p.endsWith('.ts'));
    const imported = new Set<string>();
    for (const path of ours) {
      for (const m of readFileSync(path, 'utf8').matchAll(/from '((?:@[\w.-]+\/)?[\w.-]+)'/g)) {
        if (/graphql|yoga|envelop|armor/.test(m[1]!)) imported.add(m[1]!);
      }
    }
    const known = new Set([...SERVER_LIBRARIES, ...WITHOUT_CODES]);
    expect([...imported].filter((lib) => !known.has(lib))).toEqual([]);
  });
});
