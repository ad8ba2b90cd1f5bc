import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * The gateway's import graph, read from the sources: module ids are repository-relative paths
 * (`src/stores/redis.ts`), or a package name for the workspace packages listed in `packages`.
 * Static imports, re-exports, `import type` and dynamic `import()` all count as arrows.
 */
export type ImportGraph = Map<string, Set<string>>;

export interface Arrow {
  from: string;
  to: string;
}

export interface ArrowRule {
  name: string;
  from: (id: string) => boolean;
  to: (id: string) => boolean;
  /** Modules allowed to take such an arrow anyway. */
  allowedFrom?: readonly string[];
}

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'node_modules' ? [] : sourceFiles(full);
    return /\.(ts|mts|tsx)$/.test(name) && !name.endsWith('.d.ts') ? [full] : [];
  });
}

function resolveRelative(root: string, fromFile: string, spec: string): string {
  const base = path.resolve(path.dirname(fromFile), spec);
  const candidates = [
    base.replace(/\.(m?)js$/, '.$1ts'),
    base,
    `${base}.ts`,
    path.join(base, 'index.ts'),
  ];
  // A module that is not there still counts as an arrow, under its source name.
  const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? candidates[0]!;
  return path.relative(root, hit).split(path.sep).join('/');
}

export function readImportGraph(
  root: string,
  dirs: readonly string[],
  packages: readonly string[] = [],
): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of dirs.flatMap((d) => sourceFiles(path.join(root, d)))) {
    const id = path.relative(root, file).split(path.sep).join('/');
    const targets = new Set<string>();
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName: spec } of info.importedFiles) {
      if (spec.startsWith('.')) {
        targets.add(resolveRelative(root, file, spec));
      } else {
        const pkg = packages.find((p) => spec === p || spec.startsWith(`${p}/`));
        if (pkg) targets.add(pkg);
      }
    }
    graph.set(id, targets);
  }
  return graph;
}

/** Every import cycle (strongly connected component of two or more modules, or a self-import). */
export function findCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.has(v)) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

/** The arrows of the graph that a rule forbids, named by the rule. */
export function forbiddenArrows(
  graph: ImportGraph,
  rules: readonly ArrowRule[],
): (Arrow & { rule: string })[] {
  const found: (Arrow & { rule: string })[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      for (const rule of rules) {
        if (rule.from(from) && rule.to(to) && !rule.allowedFrom?.includes(from)) {
          found.push({ rule: rule.name, from, to });
        }
      }
    }
  }
  return found;
}
