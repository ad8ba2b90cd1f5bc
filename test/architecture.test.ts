import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ArrowRule,
  findCycles,
  forbiddenArrows,
  type ImportGraph,
  readImportGraph,
} from './support/import-graph.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GATEWAY_DIRS = ['src', 'schema', 'resolvers'];

// The stand-ins, wherever they live, and the gateway modules that may start them.
const STANDIN_PACKAGES = ['@falsafa/standins'];
const STANDIN_DIRS = ['src/embedded/', 'packages/standins/'];
const STANDIN_IMPORTERS = ['src/embedded-default.ts'];

// GraphQL itself, as the stores must not see it.
const GRAPHQL_PACKAGES = ['graphql', 'graphql-yoga', '@pothos/core'];
const IN_PROCESS_REDIS = 'ioredis-mock';
const PACKAGES = [...STANDIN_PACKAGES, ...GRAPHQL_PACKAGES, IN_PROCESS_REDIS];

const isStandIn = (id: string) =>
  STANDIN_PACKAGES.includes(id) || STANDIN_DIRS.some((d) => id.startsWith(d));
const under = (dir: string) => (id: string) => id.startsWith(dir);

const RULES: ArrowRule[] = [
  { name: 'resolvers -> stores', from: under('resolvers/'), to: under('src/stores/') },
  { name: 'services -> schema', from: under('src/services/'), to: under('schema/') },
  { name: 'stores -> schema', from: under('src/stores/'), to: under('schema/') },
  {
    name: 'stores -> client errors',
    from: under('src/stores/'),
    to: (id) => id === 'src/errors.ts',
  },
  {
    name: 'stores -> GraphQL',
    from: under('src/stores/'),
    to: (id) => GRAPHQL_PACKAGES.includes(id),
  },
  {
    name: 'gateway -> in-process Redis',
    from: (id) => id !== IN_PROCESS_REDIS,
    to: (id) => id === IN_PROCESS_REDIS,
    allowedFrom: STANDIN_IMPORTERS,
  },
  {
    name: 'gateway -> stand-ins',
    from: (id) => !isStandIn(id),
    to: isStandIn,
    allowedFrom: STANDIN_IMPORTERS,
  },
];

const withArrow = (graph: ImportGraph, from: string, to: string): ImportGraph => {
  const copy: ImportGraph = new Map([...graph].map(([k, v]) => [k, new Set(v)]));
  copy.get(from)!.add(to);
  return copy;
};

describe('the import graph of the gateway', () => {
  const graph = readImportGraph(ROOT, GATEWAY_DIRS, PACKAGES);

  it('is read from the sources', () => {
    expect(graph.get('schema/index.ts')).toContain('schema/book.ts');
    expect(graph.get('resolvers/catalog.ts')).toContain('src/models.ts');
    expect(graph.get('src/services/pagination.ts')).toContain('src/errors.ts');
  });

  it('has no import cycle', () => {
    expect(findCycles(graph)).toEqual([]);
  });

  it('has none of the forbidden arrows', () => {
    expect(forbiddenArrows(graph, RULES)).toEqual([]);
  });

  it('lets only the listed modules import the stand-ins, and each of them does', () => {
    for (const id of STANDIN_IMPORTERS) {
      expect(existsSync(path.join(ROOT, id)), `${id} is listed but missing`).toBe(true);
      expect([...(graph.get(id) ?? [])].some(isStandIn), `${id} no longer needs the entry`).toBe(
        true,
      );
    }
  });
});

describe('the checker', () => {
  const graph = readImportGraph(ROOT, GATEWAY_DIRS, PACKAGES);

  it.each([
    ['resolvers -> stores', 'resolvers/catalog.ts', 'src/stores/redis.ts'],
    ['services -> schema', 'src/services/catalog-service.ts', 'schema/refs.ts'],
    ['stores -> schema', 'src/stores/catalog-store.ts', 'schema/builder.ts'],
    ['stores -> client errors', 'src/stores/chat-store.ts', 'src/errors.ts'],
    ['stores -> GraphQL', 'src/stores/postgrest.ts', 'graphql'],
    ['gateway -> in-process Redis', 'src/stores/redis.ts', 'ioredis-mock'],
    ['gateway -> stand-ins', 'src/yoga.ts', '@falsafa/standins'],
    ['gateway -> stand-ins', 'schema/builder.ts', 'src/embedded/postgres.ts'],
  ])('fails when the arrow %s is added (%s imports %s)', (rule, from, to) => {
    expect(forbiddenArrows(withArrow(graph, from, to), RULES)).toEqual([{ rule, from, to }]);
  });

  it('fails when a cycle is added', () => {
    const cycles = findCycles(withArrow(graph, 'schema/refs.ts', 'schema/book.ts'));
    expect(cycles).toEqual([['schema/book.ts', 'schema/refs.ts']]);
    expect(findCycles(new Map([['a.ts', new Set(['a.ts'])]]))).toEqual([['a.ts']]);
  });

  describe('on source files', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'falsafa-arch-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const write = (file: string, text: string) => {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), text);
    };
    write('src/stores/store.ts', "import type { X } from '../../schema/types.js';\nexport {};\n");
    write('schema/types.ts', "export type X = 'x';\n");
    write(
      'resolvers/field.ts',
      [
        '// import { gone } from "../src/stores/commented-out.js";',
        'import {',
        '  a,',
        '  type B,',
        "} from '../src/stores/store.js';",
        "export const start = () => import('@falsafa/standins');",
        '',
      ].join('\n'),
    );
    write('src/a.ts', "export * from './b.js';\n");
    write('src/b.ts', "import './a.js';\n");

    it('reads static, type-only, multi-line, re-export and dynamic imports, not comments', () => {
      const g = readImportGraph(dir, GATEWAY_DIRS, PACKAGES);
      expect(forbiddenArrows(g, RULES)).toEqual(
        expect.arrayContaining([
          { rule: 'resolvers -> stores', from: 'resolvers/field.ts', to: 'src/stores/store.ts' },
          { rule: 'gateway -> stand-ins', from: 'resolvers/field.ts', to: '@falsafa/standins' },
          { rule: 'stores -> schema', from: 'src/stores/store.ts', to: 'schema/types.ts' },
        ]),
      );
      expect(forbiddenArrows(g, RULES)).toHaveLength(3);
      expect(findCycles(g)).toEqual([['src/a.ts', 'src/b.ts']]);
    });
  });
});
