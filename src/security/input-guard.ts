import { type DocumentNode, Kind, visit } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { requestError } from './errors.js';

/**
 * Text the stores cannot hold is refused before execution, touching no store: a NUL character
 * (PostgreSQL text refuses it) or a lone UTF-16 surrogate (not Unicode, mangled on the way to the
 * database), anywhere in the variables or in the document's string arguments. BAD_USER_INPUT,
 * HTTP 400.
 */
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
