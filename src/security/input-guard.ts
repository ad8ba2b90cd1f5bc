/**
 * Text the stores cannot hold is refused before execution, touching no store: a NUL character
 * (PostgreSQL text refuses it) or a lone UTF-16 surrogate (not Unicode, mangled on the way to the
 * database), anywhere in the variables or in the document's string arguments. BAD_USER_INPUT,
 * HTTP 400.
 */
import { type DocumentNode, Kind, visit } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { requestError } from './errors.js';

const MAX_WALK_DEPTH = 32;

function isBadText(s: string): boolean {
  return s.includes('\u0000') || !(s as string & { isWellFormed(): boolean }).isWellFormed();
}

function badValue(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return isBadText(value);
  if (depth > MAX_WALK_DEPTH || value === null || typeof value !== 'object') return false;
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    if (badValue(v, depth + 1)) return true;
  }
  return false;
}

function badDocument(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    [Kind.STRING]: (node) => {
      if (isBadText(node.value)) found = true;
    },
  });
  return found;
}

/**
 * The deepest nesting of arrays and objects accepted in `variables` and `extensions`: the
 * schema's inputs need 2 levels. Deeper requests are refused with BAD_REQUEST (HTTP 400) as soon
 * as their parameters are parsed, before anything walks them recursively (caches, cost check).
 */
const MAX_VARIABLES_DEPTH = 32;

/** True when `value` nests arrays or objects deeper than `max`; iterative, stops at the first. */
function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, depth] = item;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

export function useVariablesDepthLimit(max = MAX_VARIABLES_DEPTH): Plugin {
  return {
    onParams({ params }) {
      if (nestsDeeperThan(params.variables, max) || nestsDeeperThan(params.extensions, max)) {
        throw requestError(
          'BAD_REQUEST',
          `Variables and extensions may nest arrays and objects at most ${max} levels deep`,
          { limit: 'variablesDepth', max },
        );
      }
    },
  };
}

export function useTextGuard(): Plugin {
  const check = (args: {
    document: DocumentNode;
    variableValues?: Record<string, unknown> | null | undefined;
  }) =>
    badValue(args.variableValues) || badDocument(args.document)
      ? requestError('BAD_USER_INPUT', 'Text must be valid Unicode without NUL characters')
      : null;
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = check(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = check(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}
