/**
 * Builds the SQL PostgREST would run for a parsed request. Every value becomes a bind parameter
 * (`$n`, sent untyped so PostgreSQL infers the column's type, as PostgREST does); identifiers are
 * looked up in the catalog first and then quoted. Each statement returns one row
 * `(total, page_total, body)`, where `body` is the JSON text PostgreSQL rendered (json_agg), so
 * values are formatted exactly as PostgREST formats them.
 */
import {
  type Catalog,
  type ForeignKey,
  quoteIdent as q,
  type Relation,
  type Routine,
} from './catalog.js';
import { parseError, RestError, restError } from './errors.js';
import type { Condition, Field, OrderTerm, SelectItem, Shape } from './url.js';
import { emptyShape } from './url.js';

export class Params {
  readonly values: string[] = [];

  add(value: string): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** A relation in a FROM clause: its SQL, the alias it is referred to by, and its columns. */
export interface Source {
  from: string;
  alias: string;
  relation: Relation;
}

export interface Relationship {
  fk: ForeignKey;
  target: Relation;
  toOne: boolean;
  /** The source holds the foreign key (the target is its parent). */
  manyToOne: boolean;
  /** The join condition, given the parent's and the child's aliases. */
  join(parent: string, child: string): string;
}

export interface BuildContext {
  catalog: Catalog;
  params: Params;
  embedded: Map<string, Shape>;
  aliasCount: number;
}

export interface BodyOptions {
  singular: boolean;
  stripNulls: boolean;
}

function columnMissing(relation: Relation, column: string): RestError {
  return restError(400, '42703', `column ${relation.name}.${column} does not exist`);
}

function requireColumn(relation: Relation, column: string) {
  const found = relation.columnByName.get(column);
  if (!found) throw columnMissing(relation, column);
  return found;
}

function sameColumns(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((column) => b.includes(column));
}

/** A relationship as PostgREST names it: from the embedding side, then the embedded side. */
function describeFk(fk: ForeignKey, toParent: boolean): string {
  const child = `${fk.table}(${fk.columns.join(', ')})`;
  const parent = `${fk.refTable}(${fk.refColumns.join(', ')})`;
  return `${fk.name} using ${toParent ? `${child} and ${parent}` : `${parent} and ${child}`}`;
}

/**
 * Finds the foreign-key relationship `source` → `target`: a table name, an FK column, or the
 * FK constraint's name.
 */
export function resolveRelationship(
  catalog: Catalog,
  source: Relation,
  target: string,
  hint: string | undefined,
): Relationship {
  const candidates: Relationship[] = [];
  for (const fk of catalog.foreignKeys) {
    const manyToOne =
      fk.table === source.name &&
      (fk.refTable === target ||
        fk.name === target ||
        (fk.columns.length === 1 && fk.columns[0] === target));
    const oneToMany = fk.refTable === source.name && (fk.table === target || fk.name === target);
    const matchesHint =
      hint === undefined || hint === fk.name || (fk.columns.length === 1 && fk.columns[0] === hint);
    if (!matchesHint) continue;
    if (manyToOne) {
      const parent = catalog.relations.get(fk.refTable);
      if (parent) {
        candidates.push({
          fk,
          target: parent,
          toOne: true,
          manyToOne: true,
          join: (p, c) =>
            fk.columns
              .map((col, i) => `${q(c)}.${q(fk.refColumns[i] as string)} = ${q(p)}.${q(col)}`)
              .join(' AND '),
        });
      }
    }
    if (oneToMany) {
      const child = catalog.relations.get(fk.table);
      if (child) {
        candidates.push({
          fk,
          target: child,
          toOne: child.uniqueKeys.some((key) => sameColumns(key, fk.columns)),
          manyToOne: false,
          join: (p, c) =>
            fk.columns
              .map((col, i) => `${q(c)}.${q(col)} = ${q(p)}.${q(fk.refColumns[i] as string)}`)
              .join(' AND '),
        });
      }
    }
  }
  if (candidates.length === 1) return candidates[0] as Relationship;
  if (candidates.length === 0) {
    throw restError(
      400,
      'PGRST200',
      `Could not find a relationship between '${source.name}' and '${target}' in the schema cache`,
      `Searched for a foreign key relationship between '${source.name}' and '${target}'${hint ? ` using the hint '${hint}'` : ''} in the schema 'public', but no matches were found.`,
      null,
    );
  }
  throw new RestError(300, {
    code: 'PGRST201',
    details: candidates.map((rel) => ({
      cardinality: rel.manyToOne ? 'many-to-one' : rel.toOne ? 'one-to-one' : 'one-to-many',
      embedding: `${source.name} with ${target}`,
      relationship: describeFk(rel.fk, rel.manyToOne),
    })),
    hint: `Try changing '${target}' to one of the following: ${candidates.map((rel) => `'${target}!${rel.fk.name}'`).join(', ')}. Find the desired relationship in the 'details' key.`,
    message: `Could not embed because more than one relationship was found for '${source.name}' and '${target}'`,
  });
}

function isJsonType(type: string): boolean {
  return type === 'json' || type === 'jsonb';
}

/** SQL for a column with an optional JSON path (`->`, `->>`), keys bound as parameters. */
function fieldSql(ctx: BuildContext, source: Source, field: Field): string {
  const column = requireColumn(source.relation, field.column);
  let sql = `${q(source.alias)}.${q(column.name)}`;
  if (field.path.length === 0) return sql;
  if (!isJsonType(column.type)) sql = `to_jsonb(${sql})`;
  for (const step of field.path) {
    const key = /^-?\d+$/.test(step.key)
      ? `${ctx.params.add(step.key)}::int`
      : `${ctx.params.add(step.key)}::text`;
    sql = `${sql}${step.arrow}${key}`;
  }
  return sql;
}

function fieldName(field: Field): string {
  const last = field.path[field.path.length - 1];
  return last ? last.key : field.column;
}

const COMPARISON: Record<string, string> = {
  eq: '=',
  neq: '<>',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  like: 'LIKE',
  ilike: 'ILIKE',
  match: '~',
  imatch: '~*',
  isdistinct: 'IS DISTINCT FROM',
  cs: '@>',
  cd: '<@',
  ov: '&&',
  sl: '<<',
  sr: '>>',
  nxr: '&<',
  nxl: '&>',
  adj: '-|-',
};

const TEXT_SEARCH: Record<string, string> = {
  fts: 'to_tsquery',
  plfts: 'plainto_tsquery',
  phfts: 'phraseto_tsquery',
  wfts: 'websearch_to_tsquery',
};

function patternValue(op: string, value: string): string {
  return op === 'like' || op === 'ilike' ? value.replaceAll('*', '%') : value;
}

/** The embed (by alias or name) a condition on `name` refers to, at this level. */
function embedNamed(items: SelectItem[], name: string) {
  return items.find(
    (item): item is Extract<SelectItem, { kind: 'embed' }> =>
      item.kind === 'embed' && (item.alias ?? item.target) === name,
  );
}

function filterSql(
  ctx: BuildContext,
  source: Source,
  items: SelectItem[],
  path: string[],
  cond: Extract<Condition, { kind: 'filter' }>,
): string {
  const embed = cond.field.path.length === 0 ? embedNamed(items, cond.field.column) : undefined;
  if (embed && !source.relation.columnByName.has(cond.field.column)) {
    if (cond.op !== 'is' || (cond.value !== 'null' && cond.value !== 'not_null')) {
      throw restError(
        400,
        'PGRST120',
        'Bad operator on the embedded resource',
        'Only is null or not is null filters are allowed on embedded resources',
      );
    }
    const exists = existsSql(ctx, source, embed, path);
    const wantsRows = (cond.value === 'null') === cond.negate;
    return wantsRows ? exists : `NOT ${exists}`;
  }
  const expr = fieldSql(ctx, source, cond.field);
  const value = cond.value;
  let sql: string;
  if (cond.op === 'in') {
    const list = value as string[];
    sql =
      list.length === 0 ? 'false' : `${expr} IN (${list.map((v) => ctx.params.add(v)).join(', ')})`;
  } else if (cond.op === 'is') {
    const is = {
      null: 'NULL',
      not_null: 'NOT NULL',
      true: 'TRUE',
      false: 'FALSE',
      unknown: 'UNKNOWN',
    };
    sql = `${expr} IS ${is[value as keyof typeof is]}`;
  } else if (cond.quantifier) {
    const column = source.relation.columnByName.get(cond.field.column);
    const elementType =
      cond.field.path.length === 0 && column
        ? column.type
        : cond.field.path.at(-1)?.arrow === '->'
          ? 'jsonb'
          : 'text';
    const list = (value as string[]).map((v) => ctx.params.add(patternValue(cond.op, v)));
    sql = `${expr} ${COMPARISON[cond.op]} ${cond.quantifier.toUpperCase()}(ARRAY[${list.join(', ')}]::${elementType}[])`;
  } else if (TEXT_SEARCH[cond.op]) {
    const fn = TEXT_SEARCH[cond.op] as string;
    const query = ctx.params.add(value as string);
    const args = cond.language ? `${ctx.params.add(cond.language)}::regconfig, ${query}` : query;
    sql = `${expr} @@ ${fn}(${args})`;
  } else {
    sql = `${expr} ${COMPARISON[cond.op]} ${ctx.params.add(patternValue(cond.op, value as string))}`;
  }
  return cond.negate ? `NOT (${sql})` : sql;
}

function conditionSql(
  ctx: BuildContext,
  source: Source,
  items: SelectItem[],
  path: string[],
  cond: Condition,
): string {
  if (cond.kind === 'filter') return filterSql(ctx, source, items, path, cond);
  const joined = cond.children
    .map((child) => `(${conditionSql(ctx, source, items, path, child)})`)
    .join(cond.op === 'and' ? ' AND ' : ' OR ');
  return cond.negate ? `NOT (${joined})` : `(${joined})`;
}

function shapeFor(ctx: BuildContext, path: string[]): Shape {
  return ctx.embedded.get(path.join('.')) ?? emptyShape();
}

/** Conditions of one level: its filters and its `!inner` embeds. */
function whereParts(
  ctx: BuildContext,
  source: Source,
  items: SelectItem[],
  path: string[],
  shape: Shape,
): string[] {
  const parts = shape.conditions.map((cond) => conditionSql(ctx, source, items, path, cond));
  for (const item of items) {
    if (item.kind === 'embed' && item.inner) parts.push(existsSql(ctx, source, item, path));
  }
  return parts;
}

function whereClause(parts: string[]): string {
  return parts.length > 0 ? ` WHERE ${parts.join(' AND ')}` : '';
}

function orderClause(ctx: BuildContext, source: Source, order: OrderTerm[]): string {
  if (order.length === 0) return '';
  const terms = order.map((term) => {
    const nulls = term.nulls ? ` NULLS ${term.nulls.toUpperCase()}` : '';
    return `${fieldSql(ctx, source, term.field)} ${term.descending ? 'DESC' : 'ASC'}${nulls}`;
  });
  return ` ORDER BY ${terms.join(', ')}`;
}

function rangeClause(ctx: BuildContext, shape: Shape): string {
  let sql = '';
  if (shape.limit !== undefined) sql += ` LIMIT ${ctx.params.add(String(shape.limit))}::bigint`;
  if (shape.offset !== undefined) sql += ` OFFSET ${ctx.params.add(String(shape.offset))}::bigint`;
  return sql;
}

function childSource(ctx: BuildContext, rel: Relationship): Source {
  ctx.aliasCount += 1;
  return {
    from: `"public".${q(rel.target.name)} AS ${q(`pgrst_${ctx.aliasCount}`)}`,
    alias: `pgrst_${ctx.aliasCount}`,
    relation: rel.target,
  };
}

/** An embedded resource resolved under `parent`: its relationship, source, path and WHERE. */
function embedScope(
  ctx: BuildContext,
  parent: Source,
  embed: Extract<SelectItem, { kind: 'embed' }>,
  parentPath: string[],
) {
  const rel = resolveRelationship(ctx.catalog, parent.relation, embed.target, embed.hint);
  const child = childSource(ctx, rel);
  const path = [...parentPath, embed.alias ?? embed.target];
  const shape = shapeFor(ctx, path);
  const where = whereClause([
    rel.join(parent.alias, child.alias),
    ...whereParts(ctx, child, embed.items, path, shape),
  ]);
  return { rel, child, path, shape, where };
}

function existsSql(
  ctx: BuildContext,
  parent: Source,
  embed: Extract<SelectItem, { kind: 'embed' }>,
  parentPath: string[],
): string {
  const { child, where } = embedScope(ctx, parent, embed, parentPath);
  return `EXISTS (SELECT 1 FROM ${child.from}${where})`;
}

function embedSql(
  ctx: BuildContext,
  parent: Source,
  embed: Extract<SelectItem, { kind: 'embed' }>,
  parentPath: string[],
): string {
  const { rel, child, path, shape, where } = embedScope(ctx, parent, embed, parentPath);
  const list = selectList(ctx, child, embed.items, path);
  const inner = `SELECT ${list} FROM ${child.from}${where}${groupClause(child, embed.items, true)}${orderClause(ctx, child, shape.order)}${rangeClause(ctx, shape)}`;
  return rel.toOne
    ? `(SELECT row_to_json(pgrst_e) FROM (${inner}) pgrst_e)`
    : `(SELECT coalesce(json_agg(pgrst_e), '[]') FROM (${inner}) pgrst_e)`;
}

/** `count()`, or, inside an embed, a bare `count` where the relation has no such column. */
function countAlias(source: Source, item: SelectItem, embedded: boolean): string | undefined {
  if (item.kind === 'count') return item.alias ?? 'count';
  if (
    embedded &&
    item.kind === 'field' &&
    item.field.column === 'count' &&
    item.field.path.length === 0 &&
    item.cast === undefined &&
    !source.relation.columnByName.has('count')
  ) {
    return item.alias ?? 'count';
  }
  return undefined;
}

/**
 * ` GROUP BY` for a level that counts: its other columns, by position in the select list. A
 * counting level cannot embed.
 */
function groupClause(source: Source, items: SelectItem[], embedded: boolean): string {
  if (!items.some((item) => countAlias(source, item, embedded) !== undefined)) return '';
  const positions: number[] = [];
  let position = 0;
  for (const item of items) {
    if (countAlias(source, item, embedded) !== undefined) position += 1;
    else if (item.kind === 'star') {
      for (const _ of source.relation.columns) positions.push(++position);
    } else if (item.kind === 'field') positions.push(++position);
    else {
      throw parseError(
        'failed to parse select parameter',
        'count() cannot be combined with embedded resources at the same level',
      );
    }
  }
  return positions.length > 0 ? ` GROUP BY ${positions.join(', ')}` : '';
}

/** The select list of one level, `expr AS "name", ...`. */
export function selectList(
  ctx: BuildContext,
  source: Source,
  items: SelectItem[],
  path: string[],
): string {
  const parts: string[] = [];
  for (const item of items) {
    const count = countAlias(source, item, path.length > 0);
    if (item.kind === 'count' || count !== undefined) {
      parts.push(`count(*) AS ${q(count ?? 'count')}`);
    } else if (item.kind === 'star') {
      for (const column of source.relation.columns) {
        parts.push(`${q(source.alias)}.${q(column.name)} AS ${q(column.name)}`);
      }
    } else if (item.kind === 'field') {
      let expr = fieldSql(ctx, source, item.field);
      if (item.cast) {
        if (!ctx.catalog.typeNames.has(item.cast.replace(/\[\]$/, '').toLowerCase())) {
          throw restError(400, '42704', `type "${item.cast}" does not exist`);
        }
        expr = `(${expr})::${item.cast}`;
      }
      parts.push(`${expr} AS ${q(item.alias ?? fieldName(item.field))}`);
    } else if (item.items.length > 0) {
      parts.push(`${embedSql(ctx, source, item, path)} AS ${q(item.alias ?? item.target)}`);
    }
  }
  return parts.join(', ');
}

function bodySql(options: BodyOptions, column = 'pgrst_t'): string {
  const agg = `json_agg(${column})`;
  const stripped = options.stripNulls ? `json_strip_nulls(${agg})` : agg;
  return options.singular
    ? `coalesce((${stripped}->0)::text, 'null')`
    : `coalesce(${stripped}, '[]')::text`;
}

export interface Statement {
  text: string;
  params: string[];
}

export interface ReadPlan {
  source: Source;
  items: SelectItem[];
  shape: Shape;
  count: boolean;
  body: BodyOptions;
}

/** A read of a table, view or table function, with filters, order, range and optional count. */
export function buildRead(ctx: BuildContext, plan: ReadPlan): string {
  const { source, items, shape } = plan;
  const where = whereClause(whereParts(ctx, source, items, [], shape));
  const list = selectList(ctx, source, items, []);
  const page = `SELECT ${list} FROM ${source.from}${where}${groupClause(source, items, false)}${orderClause(ctx, source, shape.order)}${rangeClause(ctx, shape)}`;
  const total = plan.count ? `(SELECT count(*) FROM ${source.from}${where})` : 'NULL::bigint';
  return `SELECT ${total} AS total, count(*) AS page_total, ${bodySql(plan.body)} AS body FROM (${page}) pgrst_t`;
}

/** Scalar function results: one column `pgrst_scalar` (none for `void`, whose body is null). */
export function buildScalarRead(
  ctx: BuildContext,
  source: Source,
  shape: Shape,
  options: { count: boolean; singular: boolean; isVoid: boolean },
): string {
  const range = rangeClause(ctx, shape);
  const column = options.isVoid ? '1 AS pgrst_scalar' : 'pgrst_call.pgrst_scalar';
  const page = `SELECT ${column} FROM ${source.from}${range}`;
  const total = options.count ? `(SELECT count(*) FROM ${source.from})` : 'NULL::bigint';
  const agg = 'json_agg(pgrst_t.pgrst_scalar)';
  const body = options.isVoid
    ? `'null'::text`
    : options.singular
      ? `coalesce((${agg}->0)::text, 'null')`
      : `coalesce(${agg}, '[]')::text`;
  return `SELECT ${total} AS total, count(*) AS page_total, ${body} AS body FROM (${page}) pgrst_t`;
}

export interface MutationResult {
  /** Select list over the mutated rows (`pgrst_source`), or null for return=minimal. */
  items: SelectItem[] | null;
  body: BodyOptions;
}

/** Wraps a data-modifying statement (with RETURNING) and shapes its rows like a read. */
function wrapMutation(
  ctx: BuildContext,
  relation: Relation,
  mutation: string,
  result: MutationResult,
  countInserted = false,
): string {
  const source: Source = {
    from: `pgrst_source AS ${q(relation.name)}`,
    alias: relation.name,
    relation,
  };
  const inner =
    result.items === null
      ? 'SELECT 1 FROM pgrst_source'
      : `SELECT ${selectList(ctx, source, result.items, [])} FROM ${source.from}`;
  const body = result.items === null ? `''::text` : bodySql(result.body);
  // An upsert's rows report whether they were inserted (xmax is 0 for a new row version).
  const inserted = countInserted
    ? '(SELECT count(*) FROM pgrst_source WHERE pgrst_inserted)'
    : 'NULL::bigint';
  return `WITH pgrst_source AS (${mutation}) SELECT (SELECT count(*) FROM pgrst_source) AS total, ${inserted} AS inserted, count(*) AS page_total, ${body} AS body FROM (${inner}) pgrst_t`;
}

function returning(relation: Relation, result: MutationResult, countInserted = false): string {
  const list = result.items === null ? ['1'] : [`${q(relation.name)}.*`];
  if (countInserted) list.push(`(${q(relation.name)}.xmax = 0) AS pgrst_inserted`);
  return `RETURNING ${list.join(', ')}`;
}

function target(relation: Relation): string {
  return `"public".${q(relation.name)} AS ${q(relation.name)}`;
}

function populated(relation: Relation, json: string, column: string): string {
  return `(json_populate_record(NULL::"public".${q(relation.name)}, ${json}::json)).${q(column)}`;
}

export interface InsertPlan {
  relation: Relation;
  columns: string[];
  rows: Record<string, unknown>[];
  missingDefault: boolean;
  onConflict?: { columns: string[]; action: 'merge' | 'ignore' };
  result: MutationResult;
}

export function buildInsert(ctx: BuildContext, plan: InsertPlan): string {
  const { relation, columns, rows } = plan;
  for (const column of columns) requireColumn(relation, column);
  const columnList = columns.length > 0 ? ` (${columns.map(q).join(', ')})` : '';
  let values: string;
  if (rows.length === 0) {
    values = `SELECT ${columns.map(() => 'NULL').join(', ')} WHERE false`;
  } else if (columns.length === 0) {
    values = `SELECT FROM generate_series(1, ${ctx.params.add(String(rows.length))}::int)`;
  } else {
    const tuples = rows.map((row) => {
      const picked: Record<string, unknown> = {};
      for (const column of columns) if (Object.hasOwn(row, column)) picked[column] = row[column];
      const json = ctx.params.add(JSON.stringify(picked));
      const cells = columns.map((column) =>
        plan.missingDefault && !Object.hasOwn(row, column)
          ? 'DEFAULT'
          : populated(relation, json, column),
      );
      return `(${cells.join(', ')})`;
    });
    values = `VALUES ${tuples.join(', ')}`;
  }
  let conflict = '';
  if (plan.onConflict) {
    for (const column of plan.onConflict.columns) requireColumn(relation, column);
    const targetCols = plan.onConflict.columns.map(q).join(', ');
    conflict =
      plan.onConflict.action === 'merge' && columns.length > 0
        ? ` ON CONFLICT (${targetCols}) DO UPDATE SET ${columns.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}`
        : ` ON CONFLICT (${targetCols}) DO NOTHING`;
  }
  const upsert = plan.onConflict !== undefined;
  const insert = `INSERT INTO ${target(relation)}${columnList} ${values}${conflict} ${returning(relation, plan.result, upsert)}`;
  return wrapMutation(ctx, relation, insert, plan.result, upsert);
}

/**
 * The WHERE of an UPDATE or DELETE. With `limit`/`offset` (PostgREST's limited update/delete) the
 * rows are picked by a subquery in the requested `order`, which must then be given.
 */
function mutationWhere(ctx: BuildContext, source: Source, shape: Shape): string {
  if (shape.limit === undefined && shape.offset === undefined) {
    return whereClause(whereParts(ctx, source, [], [], shape));
  }
  if (shape.order.length === 0) {
    throw restError(
      400,
      'PGRST109',
      "A 'limit' was applied without an explicit 'order'",
      null,
      "Apply an 'order' using unique column(s)",
    );
  }
  const inner: Source = {
    from: `"public".${q(source.relation.name)} AS "pgrst_limited"`,
    alias: 'pgrst_limited',
    relation: source.relation,
  };
  const where = whereClause(whereParts(ctx, inner, [], [], shape));
  const picked = `SELECT "pgrst_limited".ctid FROM ${inner.from}${where}${orderClause(ctx, inner, shape.order)}${rangeClause(ctx, shape)}`;
  return ` WHERE ${q(source.alias)}.ctid = ANY (ARRAY(${picked}))`;
}

export interface UpdatePlan {
  relation: Relation;
  columns: string[];
  row: Record<string, unknown>;
  shape: Shape;
  result: MutationResult;
}

export function buildUpdate(ctx: BuildContext, plan: UpdatePlan): string {
  const { relation } = plan;
  const source: Source = { from: target(relation), alias: relation.name, relation };
  for (const column of plan.columns) requireColumn(relation, column);
  const where = mutationWhere(ctx, source, plan.shape);
  if (plan.columns.length === 0) {
    return wrapMutation(
      ctx,
      relation,
      `SELECT ${q(relation.name)}.* FROM ${source.from} WHERE false`,
      plan.result,
    );
  }
  const picked: Record<string, unknown> = {};
  for (const column of plan.columns)
    if (Object.hasOwn(plan.row, column)) picked[column] = plan.row[column];
  const json = ctx.params.add(JSON.stringify(picked));
  const sets = plan.columns.map((column) => `${q(column)} = ${populated(relation, json, column)}`);
  const update = `UPDATE ${source.from} SET ${sets.join(', ')}${where} ${returning(relation, plan.result)}`;
  return wrapMutation(ctx, relation, update, plan.result);
}

export interface DeletePlan {
  relation: Relation;
  shape: Shape;
  result: MutationResult;
}

export function buildDelete(ctx: BuildContext, plan: DeletePlan): string {
  const { relation } = plan;
  const source: Source = { from: target(relation), alias: relation.name, relation };
  const where = mutationWhere(ctx, source, plan.shape);
  return wrapMutation(
    ctx,
    relation,
    `DELETE FROM ${source.from}${where} ${returning(relation, plan.result)}`,
    plan.result,
  );
}

/**
 * The FROM item calling a function with named arguments taken from one JSON object through
 * `json_to_record` (PostgREST's way: JSON values convert to the argument types as PostgreSQL
 * converts them), or with the whole body as its single unnamed json argument.
 */
export function routineFrom(
  ctx: BuildContext,
  routine: Routine,
  args: Record<string, unknown>,
  alias: string,
  columnAlias?: string,
): string {
  const call = `"public".${q(routine.name)}`;
  const aliasSql = `${q(alias)}${columnAlias ? `(${q(columnAlias)})` : ''}`;
  const single = routine.args.length === 1 && routine.args[0]?.name === '';
  if (single) {
    const type = routine.args[0]?.type === 'jsonb' ? 'jsonb' : 'json';
    return `${call}(${ctx.params.add(JSON.stringify(args))}::${type}) AS ${aliasSql}`;
  }
  const supplied = routine.args.filter((arg) => Object.hasOwn(args, arg.name));
  if (supplied.length === 0) return `${call}() AS ${aliasSql}`;
  const json = ctx.params.add(JSON.stringify(args));
  const definition = supplied.map((arg) => `${q(arg.name)} ${arg.type}`).join(', ');
  const named = supplied.map((arg) => `${q(arg.name)} := pgrst_args.${q(arg.name)}`).join(', ');
  return `json_to_record(${json}::json) AS pgrst_args(${definition}), LATERAL ${call}(${named}) AS ${aliasSql}`;
}
