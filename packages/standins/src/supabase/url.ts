/**
 * PostgREST's URL grammar, parsed into plain data: `select` (columns, aliases, casts, JSON paths,
 * embedded resources), horizontal filters with `not.` and operator modifiers, `or`/`and` logic
 * trees (values may be double-quoted), `order`, `limit`, `offset`, `columns`, `on_conflict`,
 * the same for embedded resources (`embed.col=...`, `embed.order=...`), and the `Prefer` header.
 * Nothing here touches SQL; a malformed parameter is a 400 PGRST100.
 */
import { parseError } from './errors.js';

export interface JsonStep {
  arrow: '->' | '->>';
  key: string;
}

export interface Field {
  column: string;
  path: JsonStep[];
}

export type SelectItem =
  | { kind: 'star' }
  | { kind: 'field'; field: Field; alias?: string; cast?: string }
  /** `count()`: the number of rows, grouped by the level's other fields. */
  | { kind: 'count'; alias?: string }
  | {
      kind: 'embed';
      target: string;
      alias?: string;
      hint?: string;
      inner: boolean;
      items: SelectItem[];
    };

export const OPERATORS = [
  'eq',
  'neq',
  'gt',
  'gte',
  'lt',
  'lte',
  'like',
  'ilike',
  'match',
  'imatch',
  'in',
  'is',
  'isdistinct',
  'cs',
  'cd',
  'ov',
  'sl',
  'sr',
  'nxr',
  'nxl',
  'adj',
  'fts',
  'plfts',
  'phfts',
  'wfts',
] as const;
export type Operator = (typeof OPERATORS)[number];

const QUANTIFIABLE = new Set<Operator>([
  'eq',
  'like',
  'ilike',
  'gt',
  'gte',
  'lt',
  'lte',
  'match',
  'imatch',
]);
const TEXT_SEARCH = new Set<Operator>(['fts', 'plfts', 'phfts', 'wfts']);

export type Condition =
  | {
      kind: 'filter';
      field: Field;
      negate: boolean;
      op: Operator;
      quantifier?: 'any' | 'all';
      language?: string;
      /** A list for `in` and quantified operators, else the raw value. */
      value: string | string[];
    }
  | { kind: 'logic'; op: 'and' | 'or'; negate: boolean; children: Condition[] };

export interface OrderTerm {
  field: Field;
  descending: boolean;
  nulls?: 'first' | 'last';
}

/** Filters, order and range for one level: the top-level resource or one embedded resource. */
export interface Shape {
  conditions: Condition[];
  order: OrderTerm[];
  limit?: number;
  offset?: number;
}

export interface ParsedQuery {
  select: SelectItem[];
  /** Whether `select` was given (mutations return nothing selectable without it). */
  selectGiven: boolean;
  root: Shape;
  /** Keyed by the embed path joined with '.', e.g. `characters` or `roles.actors`. */
  embedded: Map<string, Shape>;
  columns?: string[];
  onConflict?: string[];
}

export function emptyShape(): Shape {
  return { conditions: [], order: [] };
}

/** Splits on `separator` at parenthesis depth 0, outside double quotes (backslash escapes). */
function splitTopLevel(input: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === separator && depth === 0) {
      parts.push(input.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(input.slice(start));
  return parts;
}

/** `"a \"b\""` → `a "b"`; other strings unchanged. */
function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return value.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return value;
}

function parseIdentifier(raw: string, what: string): string {
  const name = unquote(raw.trim());
  if (name === '') throw parseError(`failed to parse ${what}`, `empty identifier in "${raw}"`);
  return name;
}

/** `col`, `col->a->>b`, `"odd col"->0`. */
export function parseField(raw: string): Field {
  const parts = raw.split(/(->>|->)/);
  const column = parseIdentifier(parts[0] ?? '', 'field');
  const path: JsonStep[] = [];
  for (let i = 1; i < parts.length; i += 2) {
    const arrow = parts[i] as JsonStep['arrow'];
    const key = unquote(parts[i + 1] ?? '');
    if (key === '') throw parseError(`failed to parse json path (${raw})`);
    path.push({ arrow, key });
  }
  return { column, path };
}

/** Index of the alias colon: the first `:` not part of `::`, outside quotes and parentheses. */
function aliasColon(item: string): number {
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < item.length; i++) {
    const ch = item[i];
    if (ch === '"') quoted = !quoted;
    else if (quoted) continue;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (depth === 0 && ch === ':') {
      if (item[i + 1] === ':') return -1;
      return i;
    }
  }
  return -1;
}

function parseSelectItem(raw: string): SelectItem {
  const item = raw.trim();
  if (item === '*') return { kind: 'star' };
  if (item.startsWith('...')) {
    throw parseError(
      `failed to parse select parameter (${raw})`,
      'spread embeds are not supported',
    );
  }
  const colon = aliasColon(item);
  const alias = colon >= 0 ? parseIdentifier(item.slice(0, colon), 'alias') : undefined;
  const rest = colon >= 0 ? item.slice(colon + 1) : item;
  if (rest.trim() === 'count()')
    return { kind: 'count', ...(alias === undefined ? {} : { alias }) };
  if (/^(?:[^()]*\.)?(?:count|sum|avg|min|max)\(\)(?:::[^()]*)?$/.test(rest.trim())) {
    throw parseError(
      `failed to parse select parameter (${raw})`,
      'aggregate functions are not supported',
    );
  }
  const open = rest.indexOf('(');
  if (open >= 0 && rest.endsWith(')') && !rest.startsWith('"')) {
    const [targetRaw = '', ...marks] = rest.slice(0, open).split('!');
    let inner = false;
    let hint: string | undefined;
    for (const mark of marks) {
      if (mark === 'inner') inner = true;
      else if (mark === 'left') inner = false;
      else hint = parseIdentifier(mark, 'embed hint');
    }
    const body = rest.slice(open + 1, -1);
    const items = body.trim() === '' ? [] : splitTopLevel(body, ',').map(parseSelectItem);
    return {
      kind: 'embed',
      target: parseIdentifier(targetRaw, 'embedded resource'),
      ...(alias === undefined ? {} : { alias }),
      ...(hint === undefined ? {} : { hint }),
      inner,
      items,
    };
  }
  const castAt = rest.lastIndexOf('::');
  const fieldRaw = castAt >= 0 ? rest.slice(0, castAt) : rest;
  const cast = castAt >= 0 ? rest.slice(castAt + 2).trim() : undefined;
  if (cast !== undefined && !/^[A-Za-z_][A-Za-z0-9_ ]*(\[\])?$/.test(cast)) {
    throw parseError(`failed to parse select parameter (${raw})`, `invalid cast "${cast}"`);
  }
  return {
    kind: 'field',
    field: parseField(fieldRaw),
    ...(alias === undefined ? {} : { alias }),
    ...(cast === undefined ? {} : { cast }),
  };
}

export function parseSelect(value: string): SelectItem[] {
  if (value.trim() === '') return [{ kind: 'star' }];
  const parts = splitTopLevel(value, ',');
  if (parts.some((part) => part.trim() === '')) {
    throw parseError(`failed to parse select parameter (${value})`, 'empty item');
  }
  return parts.map(parseSelectItem);
}

/** `(a,"b,c",d)` → `['a', 'b,c', 'd']`. */
function parseList(raw: string, wrap: '()' | '{}'): string[] {
  if (!raw.startsWith(wrap[0] as string) || !raw.endsWith(wrap[1] as string)) {
    throw parseError(`failed to parse filter (${raw})`, `expected a list in ${wrap}`);
  }
  const inner = raw.slice(1, -1);
  if (inner.trim() === '') return [];
  return splitTopLevel(inner, ',').map((item) => unquote(item.trim()));
}

/** `[not.]op[(modifier)].value` → the operator part of a filter. */
function parseOperation(
  field: Field,
  raw: string,
  inLogicTree: boolean,
): Extract<Condition, { kind: 'filter' }> {
  let rest = raw;
  let negate = false;
  if (rest.startsWith('not.')) {
    negate = true;
    rest = rest.slice(4);
  }
  const match = /^([a-z]+)(?:\(([^)]*)\))?\.([\s\S]*)$/.exec(rest);
  if (!match) throw parseError(`failed to parse filter (${raw})`, 'expected operator.value');
  const [, opName = '', modifier, value = ''] = match;
  if (!(OPERATORS as readonly string[]).includes(opName)) {
    throw parseError(`failed to parse filter (${raw})`, `unknown operator "${opName}"`);
  }
  const op = opName as Operator;
  const condition: Extract<Condition, { kind: 'filter' }> = {
    kind: 'filter',
    field,
    negate,
    op,
    value,
  };
  if (modifier !== undefined) {
    if ((modifier === 'any' || modifier === 'all') && QUANTIFIABLE.has(op)) {
      condition.quantifier = modifier;
      condition.value = parseList(value, '{}');
      return condition;
    }
    if (TEXT_SEARCH.has(op) && /^[a-z_]+$/.test(modifier)) condition.language = modifier;
    else throw parseError(`failed to parse filter (${raw})`, `bad modifier "${modifier}"`);
  }
  if (op === 'in') condition.value = parseList(value, '()');
  else if (op === 'is') {
    const lowered = value.toLowerCase();
    if (!['null', 'true', 'false', 'unknown', 'not_null'].includes(lowered)) {
      throw parseError(
        `failed to parse filter (${raw})`,
        'is expects null, true, false or unknown',
      );
    }
    condition.value = lowered;
  } else if (inLogicTree) condition.value = unquote(value);
  return condition;
}

/** A logic tree body `(a.eq.1,and(b.gt.2,c.is.null))`. */
function parseLogicTree(op: 'and' | 'or', negate: boolean, raw: string): Condition {
  if (!raw.startsWith('(') || !raw.endsWith(')')) {
    throw parseError(`failed to parse logic tree (${raw})`, 'expected "(" ... ")"');
  }
  const inner = raw.slice(1, -1);
  if (inner.trim() === '') throw parseError(`failed to parse logic tree (${raw})`, 'empty');
  const children = splitTopLevel(inner, ',').map((item) => parseTreeItem(item.trim()));
  return { kind: 'logic', op, negate, children };
}

function parseTreeItem(item: string): Condition {
  const nested = /^(not\.)?(and|or)(\(.*\))$/s.exec(item);
  if (nested)
    return parseLogicTree(nested[2] as 'and' | 'or', nested[1] !== undefined, nested[3] ?? '');
  let fieldEnd: number;
  if (item.startsWith('"')) {
    fieldEnd = item.indexOf('"', 1) + 1;
    if (fieldEnd <= 0 || item[fieldEnd] !== '.')
      throw parseError(`failed to parse logic tree (${item})`);
  } else {
    fieldEnd = item.indexOf('.');
    if (fieldEnd <= 0)
      throw parseError(`failed to parse logic tree (${item})`, 'expected field.operator.value');
  }
  return parseOperation(parseField(item.slice(0, fieldEnd)), item.slice(fieldEnd + 1), true);
}

export function parseOrder(value: string): OrderTerm[] {
  return splitTopLevel(value, ',').map((term) => {
    const parts = term.trim().split('.');
    const modifiers: string[] = [];
    while (parts.length > 1) {
      const last = parts[parts.length - 1] as string;
      if (!['asc', 'desc', 'nullsfirst', 'nullslast'].includes(last)) break;
      modifiers.unshift(last);
      parts.pop();
    }
    const fieldRaw = parts.join('.');
    if (fieldRaw.includes('(')) {
      throw parseError(
        `failed to parse order (${value})`,
        'ordering by related tables is not supported',
      );
    }
    const order: OrderTerm = {
      field: parseField(fieldRaw),
      descending: modifiers.includes('desc'),
    };
    if (modifiers.includes('nullsfirst')) order.nulls = 'first';
    if (modifiers.includes('nullslast')) order.nulls = 'last';
    return order;
  });
}

function parseCount(value: string, what: 'limit' | 'offset'): number {
  if (!/^\d+$/.test(value)) throw parseError(`failed to parse ${what} parameter (${value})`);
  return Number(value);
}

/** `"a","b"` or `a,b` → `['a', 'b']`. */
export function parseColumnList(value: string): string[] {
  return splitTopLevel(value, ',').map((item) => parseIdentifier(item, 'columns parameter'));
}

const SHAPE_KEYS = ['not.or', 'not.and', 'or', 'and', 'order', 'limit', 'offset'] as const;

/** `characters.order` → { path: ['characters'], key: 'order' }; `id` → { path: [], key: 'id' }. */
function splitParamKey(key: string): { path: string[]; key: string } {
  for (const reserved of SHAPE_KEYS) {
    if (key === reserved) return { path: [], key: reserved };
    if (key.endsWith(`.${reserved}`)) {
      return { path: key.slice(0, -reserved.length - 1).split('.'), key: reserved };
    }
  }
  const dot = key.lastIndexOf('.');
  if (dot > 0 && !key.includes('->') && !key.startsWith('"')) {
    return { path: key.slice(0, dot).split('.'), key: key.slice(dot + 1) };
  }
  return { path: [], key };
}

function applyParam(shape: Shape, key: string, value: string): void {
  switch (key) {
    case 'order':
      shape.order.push(...parseOrder(value));
      return;
    case 'limit':
      shape.limit = parseCount(value, 'limit');
      return;
    case 'offset':
      shape.offset = parseCount(value, 'offset');
      return;
    case 'or':
    case 'and':
      shape.conditions.push(parseLogicTree(key, false, value));
      return;
    case 'not.or':
    case 'not.and':
      shape.conditions.push(parseLogicTree(key === 'not.or' ? 'or' : 'and', true, value));
      return;
    default:
      shape.conditions.push(parseOperation(parseField(key), value, false));
  }
}

/**
 * Parses a resource's query string. `skip` names parameters that are not filters (an RPC's
 * arguments in a GET call).
 */
export function parseQuery(params: URLSearchParams, skip: Set<string> = new Set()): ParsedQuery {
  const query: ParsedQuery = {
    select: [{ kind: 'star' }],
    selectGiven: false,
    root: emptyShape(),
    embedded: new Map(),
  };
  for (const [key, value] of params) {
    if (skip.has(key)) continue;
    if (key === 'select') {
      query.select = parseSelect(value);
      query.selectGiven = true;
    } else if (key === 'columns') query.columns = parseColumnList(value);
    else if (key === 'on_conflict') query.onConflict = parseColumnList(value);
    else {
      const { path, key: name } = splitParamKey(key);
      let shape = query.root;
      if (path.length > 0) {
        const id = path.join('.');
        shape = query.embedded.get(id) ?? emptyShape();
        query.embedded.set(id, shape);
      }
      applyParam(shape, name, value);
    }
  }
  return query;
}

export interface Preferences {
  return: 'minimal' | 'representation' | 'headers-only';
  count?: 'exact' | 'planned' | 'estimated';
  resolution?: 'merge-duplicates' | 'ignore-duplicates';
  missingDefault: boolean;
  /** How the transaction ends (`tx=rollback` rolls it back after the answer is computed). */
  tx?: 'commit' | 'rollback';
  /** The preferences honoured, for the Preference-Applied header. */
  applied: string[];
}

/** Parses (possibly repeated, comma-joined) `Prefer` headers; unknown preferences are ignored. */
export function parsePrefer(header: string | string[] | undefined): Preferences {
  const raw = Array.isArray(header) ? header.join(',') : (header ?? '');
  const prefs: Preferences = { return: 'minimal', missingDefault: false, applied: [] };
  for (const token of raw.split(',')) {
    const [name = '', value = ''] = token
      .trim()
      .split('=', 2)
      .map((part) => part.trim());
    if (name === 'return' && ['minimal', 'representation', 'headers-only'].includes(value)) {
      prefs.return = value as Preferences['return'];
      prefs.applied.push(`return=${value}`);
    } else if (name === 'count' && ['exact', 'planned', 'estimated'].includes(value)) {
      prefs.count = value as NonNullable<Preferences['count']>;
      prefs.applied.push(`count=${value}`);
    } else if (name === 'resolution' && ['merge-duplicates', 'ignore-duplicates'].includes(value)) {
      prefs.resolution = value as NonNullable<Preferences['resolution']>;
      prefs.applied.push(`resolution=${value}`);
    } else if (name === 'tx' && (value === 'commit' || value === 'rollback')) {
      prefs.tx = value;
      prefs.applied.push(`tx=${value}`);
    } else if (name === 'missing' && value === 'default') {
      prefs.missingDefault = true;
      prefs.applied.push('missing=default');
    }
  }
  return prefs;
}
