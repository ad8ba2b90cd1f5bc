/**
 * `filter_by` of the Typesense stand-in: parses Typesense's filter language into a tree and
 * evaluates it against a collection. Supported: `f:value` (word match on strings), `f:=value`
 * (exact match), lists `f:[a, b]`, negation `f:!=x` / `f:!x`, numeric comparisons `>`, `>=`, `<`,
 * `<=`, ranges `f:[10..20]` and mixed lists `f:[<5, 10..20]`, booleans, `id:` filters, backtick
 * quoting, `&&`, `||` and parentheses. As in Typesense's shunting-yard parser, `&&` and `||` have
 * the same precedence and associate to the left. Error messages and codes follow Typesense.
 */
import type { Collection, StoredDoc } from './collection.js';
import { ApiError, badRequest } from './errors.js';
import { elementType, isNumericType, isStringType } from './types.js';

type NumOp = '=' | '!=' | '<' | '<=' | '>' | '>=';
type NumComparison = { op: NumOp; value: number } | { op: '..'; low: number; high: number };

export type FilterNode =
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'id'; ids: string[] | '*'; negate: boolean }
  | { kind: 'number'; field: string; comparisons: NumComparison[]; negate: boolean }
  | { kind: 'bool'; field: string; values: boolean[]; negate: boolean }
  | { kind: 'string'; field: string; exact: boolean; values: string[][]; negate: boolean };

/** Splits on commas outside backticks, trims, and removes backtick quoting. */
export function splitValues(raw: string): string[] {
  const out: string[] = [];
  let current = '';
  let inTick = false;
  for (const ch of raw) {
    if (ch === '`') inTick = !inTick;
    if (ch === ',' && !inTick) {
      out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out
    .map((v) => v.trim())
    .map((v) => (v.length >= 2 && v.startsWith('`') && v.endsWith('`') ? v.slice(1, -1) : v))
    .filter((v) => v !== '');
}

/** Splits a filter string into expressions, `&&`, `||`, `(` and `)`. */
function lex(query: string): string[] {
  const out: string[] = [];
  let buf = '';
  let inTick = false;
  let brackets = 0;
  let groups = 0;
  const flush = () => {
    if (buf.trim() !== '') out.push(buf.trim());
    buf = '';
  };
  for (let i = 0; i < query.length; i++) {
    const ch = query[i] as string;
    if (inTick) {
      buf += ch;
      if (ch === '`') inTick = false;
      continue;
    }
    if (ch === '`') inTick = true;
    else if (ch === '[') brackets++;
    else if (ch === ']') brackets = Math.max(0, brackets - 1);
    if (brackets === 0 && ch !== '`') {
      const two = query.slice(i, i + 2);
      if (two === '&&' || two === '||') {
        flush();
        out.push(two);
        i++;
        continue;
      }
      if (ch === '(' && buf.trim() === '') {
        groups++;
        out.push('(');
        continue;
      }
      if (ch === ')' && groups > 0) {
        groups--;
        flush();
        out.push(')');
        continue;
      }
    }
    buf += ch;
  }
  flush();
  return out;
}

function toPostfix(tokens: string[]): string[] {
  const ops: string[] = [];
  const out: string[] = [];
  for (const token of tokens) {
    if (token === '&&' || token === '||') {
      while (ops.length > 0 && ops[ops.length - 1] !== '(') out.push(ops.pop() as string);
      ops.push(token);
    } else if (token === '(') {
      ops.push(token);
    } else if (token === ')') {
      while (ops.length > 0 && ops[ops.length - 1] !== '(') out.push(ops.pop() as string);
      if (ops.pop() !== '(') {
        throw badRequest('Could not parse the filter query: unbalanced parentheses.');
      }
    } else {
      out.push(token);
    }
  }
  while (ops.length > 0) {
    const op = ops.pop() as string;
    if (op === '(') throw badRequest('Could not parse the filter query: unbalanced parentheses.');
    out.push(op);
  }
  return out;
}

function stripPrefix(raw: string, length: number): string {
  return raw.slice(length).trimStart();
}

const INTEGER = /^-?\d+$/;

function parseNumber(field: string, type: string, raw: string): number {
  const value = raw.trim();
  if (type === 'int32' || type === 'int64') {
    if (!INTEGER.test(value)) {
      throw badRequest(`Error with filter field \`${field}\`: Not an ${type}.`);
    }
    const n = Number(value);
    if (type === 'int32' && (n > 2147483647 || n < -2147483648)) {
      throw badRequest(
        `Error with filter field \`${field}\`: \`${value}\` exceeds the range of an int32.`,
      );
    }
    return n;
  }
  if (value === '' || !Number.isFinite(Number(value))) {
    throw badRequest(`Error with filter field \`${field}\`: Not a float.`);
  }
  return Number(value);
}

function parseComparison(field: string, type: string, raw: string): NumComparison {
  const value = raw.trim();
  const isNum = value !== '' && Number.isFinite(Number(value));
  if (isNum) return { op: '=', value: parseNumber(field, type, value) };
  for (const op of ['<=', '>=', '!=', '<', '>'] as const) {
    if (value.startsWith(op))
      return { op, value: parseNumber(field, type, value.slice(op.length)) };
  }
  if (value.includes('..')) {
    const [low = '', high = ''] = value.split('..');
    return { op: '..', low: parseNumber(field, type, low), high: parseNumber(field, type, high) };
  }
  throw badRequest(
    `Error with filter field \`${field}\`: Numerical field has an invalid comparator.`,
  );
}

function parseExpression(expression: string, collection: Collection): FilterNode {
  const colon = expression.indexOf(':');
  if (colon < 0) throw badRequest('Could not parse the filter query.');
  const name = expression.slice(0, colon).trim();
  let raw = expression.slice(colon + 1).trim();
  const empty = () =>
    badRequest(`Error with filter field \`${name}\`: Filter value cannot be empty.`);

  if (name === 'id') {
    let negate = false;
    if (raw.startsWith('!=')) {
      negate = true;
      raw = stripPrefix(raw, 2);
    } else if (raw.startsWith('=')) {
      raw = stripPrefix(raw, 1);
    }
    if (raw === '') throw empty();
    const ids =
      raw.startsWith('[') && raw.endsWith(']') ? splitValues(raw.slice(1, -1)) : splitValues(raw);
    if (ids.length === 0) throw empty();
    return { kind: 'id', ids: ids.includes('*') ? '*' : ids, negate };
  }

  const field = collection.field(name);
  if (!field) {
    throw new ApiError(404, `Could not find a filter field named \`${name}\` in the schema.`);
  }
  const type = elementType(field.type);

  if (isNumericType(field.type)) {
    if (raw.startsWith('=')) raw = stripPrefix(raw, 1);
    let negate = false;
    if (raw.startsWith('!') && !raw.startsWith('!=')) {
      negate = true;
      raw = stripPrefix(raw, 1);
    }
    if (raw === '') throw empty();
    if (raw.startsWith('!=') && stripPrefix(raw, 2).startsWith('[')) {
      negate = true;
      raw = stripPrefix(raw, 2);
    }
    let comparisons: NumComparison[];
    if (raw.startsWith('[') && raw.endsWith(']')) {
      comparisons = raw
        .slice(1, -1)
        .split(',')
        .map((v) => parseComparison(name, type, v));
    } else {
      comparisons = [parseComparison(name, type, raw)];
    }
    // a lone `!=` is the negation of `=`
    if (comparisons.length === 1 && comparisons[0]?.op === '!=') {
      return {
        kind: 'number',
        field: name,
        comparisons: [{ op: '=', value: comparisons[0].value }],
        negate: !negate,
      };
    }
    return { kind: 'number', field: name, comparisons, negate };
  }

  if (type === 'bool') {
    let negate = false;
    if (raw.startsWith('!=')) {
      negate = true;
      raw = stripPrefix(raw, 2);
    } else if (raw.startsWith('=')) {
      raw = stripPrefix(raw, 1);
    } else if (raw.startsWith('!')) {
      negate = true;
      raw = stripPrefix(raw, 1);
    }
    if (raw === '') throw empty();
    const list = raw.startsWith('[') && raw.endsWith(']');
    const values = (list ? raw.slice(1, -1).split(',') : [raw]).map((v) => v.trim());
    for (const v of values) {
      if (v !== 'true' && v !== 'false') {
        throw badRequest(
          list
            ? `Values of filter field \`${name}\`: must be \`true\` or \`false\`.`
            : `Value of filter field \`${name}\` must be \`true\` or \`false\`.`,
        );
      }
    }
    return { kind: 'bool', field: name, values: values.map((v) => v === 'true'), negate };
  }

  if (isStringType(field.type)) {
    let exact = false;
    let negate = false;
    if (raw.startsWith('=')) {
      exact = true;
      raw = stripPrefix(raw, 1);
    } else if (raw.startsWith('!=')) {
      exact = true;
      negate = true;
      raw = stripPrefix(raw, 2);
    } else if (raw.startsWith('!')) {
      negate = true;
      raw = stripPrefix(raw, 1);
    }
    if (raw === '') throw empty();
    const rawValues =
      raw.startsWith('[') && raw.endsWith(']') ? splitValues(raw.slice(1, -1)) : splitValues(raw);
    const values = rawValues.map((v) => collection.tokensOf(v)[0]?.map((t) => t.text) ?? []);
    return { kind: 'string', field: name, exact, values, negate };
  }

  throw badRequest(
    `Error with filter field \`${name}\`: Unidentified field data type, see docs for supported data types.`,
  );
}

/** Parses a `filter_by` string; an empty or blank string means no filter (null). */
export function parseFilter(query: string | undefined, collection: Collection): FilterNode | null {
  if (query === undefined || query.trim() === '') return null;
  const stack: FilterNode[] = [];
  for (const token of toPostfix(lex(query))) {
    if (token === '&&' || token === '||') {
      const right = stack.pop();
      const left = stack.pop();
      if (!left || !right) {
        throw badRequest(`Could not parse the filter query: unbalanced \`${token}\` operands.`);
      }
      stack.push({ kind: token === '&&' ? 'and' : 'or', left, right });
    } else {
      stack.push(parseExpression(token, collection));
    }
  }
  if (stack.length !== 1) throw badRequest('Could not parse the filter query.');
  return stack[0] as FilterNode;
}

function compare(c: NumComparison, v: number): boolean {
  switch (c.op) {
    case '=':
      return v === c.value;
    case '!=':
      return v !== c.value;
    case '<':
      return v < c.value;
    case '<=':
      return v <= c.value;
    case '>':
      return v > c.value;
    case '>=':
      return v >= c.value;
    case '..':
      return v >= c.low && v <= c.high;
  }
}

function asList(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function containsRun(haystack: string[], needle: string[]): boolean {
  if (needle.length === 0) return false;
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return true;
  }
  return false;
}

function matches(node: FilterNode, stored: StoredDoc, collection: Collection): boolean {
  switch (node.kind) {
    case 'and':
      return matches(node.left, stored, collection) && matches(node.right, stored, collection);
    case 'or':
      return matches(node.left, stored, collection) || matches(node.right, stored, collection);
    case 'id': {
      const hit = node.ids === '*' || node.ids.includes(stored.doc.id);
      return hit !== node.negate;
    }
    case 'number': {
      const values = asList(stored.doc[node.field]).filter(
        (v): v is number => typeof v === 'number',
      );
      const hit = values.some((v) => node.comparisons.some((c) => compare(c, v)));
      return hit !== node.negate;
    }
    case 'bool': {
      const values = asList(stored.doc[node.field]);
      const hit = values.some((v) => node.values.includes(v as boolean));
      return hit !== node.negate;
    }
    case 'string': {
      const elements = (
        stored.tokens.get(node.field) ?? collection.tokensOf(stored.doc[node.field])
      ).map((tokens) => tokens.map((t) => t.text));
      const hit = node.values.some((wanted) =>
        elements.some((have) =>
          node.exact
            ? wanted.length === have.length && wanted.every((t, i) => t === have[i])
            : containsRun(have, wanted),
        ),
      );
      return hit !== node.negate;
    }
  }
}

/** Sequence ids of the documents that pass the filter (all documents when there is none). */
export function applyFilter(node: FilterNode | null, collection: Collection): Set<number> {
  const out = new Set<number>();
  for (const stored of collection.bySeq.values()) {
    if (!node || matches(node, stored, collection)) out.add(stored.seq);
  }
  return out;
}
