/**
 * The schema cache: tables, views, columns, keys, foreign keys and functions of schema `public`,
 * read from the system catalogs. Loaded once; `refresh()` reloads it (the server calls it on a
 * miss, so objects created after start are found). Identifiers reach SQL only after a lookup
 * here, and are then quoted.
 */
import type postgres from 'postgres';
import type { ConnectionPool } from './pool.js';

export interface Column {
  name: string;
  /** `format_type` spelling, e.g. `uuid`, `timestamp with time zone`, `text[]`. */
  type: string;
  nullable: boolean;
  hasDefault: boolean;
}

export interface Relation {
  name: string;
  kind: 'table' | 'view' | 'function_result';
  columns: Column[];
  columnByName: Map<string, Column>;
  primaryKey: string[];
  /** Primary key and unique constraints, each a column list. */
  uniqueKeys: string[][];
}

export interface ForeignKey {
  name: string;
  table: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
}

export interface RoutineArg {
  name: string;
  type: string;
  hasDefault: boolean;
}

export interface Routine {
  name: string;
  args: RoutineArg[];
  returnsSet: boolean;
  /** `format_type` of the return type. */
  returnType: string;
  /** Rows (a table type, composite, or OUT/TABLE columns) rather than a scalar. */
  returnsRows: boolean;
  /** The public table or view whose row type it returns, for embedding on its result. */
  returnTable?: string;
  /** Column names of the returned rows. */
  returnColumns: Column[];
  volatility: 'immutable' | 'stable' | 'volatile';
}

export interface Catalog {
  relations: Map<string, Relation>;
  foreignKeys: ForeignKey[];
  routines: Map<string, Routine[]>;
  /** Type names accepted in `::cast`, lower case. */
  typeNames: Set<string>;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function relation(name: string, kind: Relation['kind'], columns: Column[]): Relation {
  return {
    name,
    kind,
    columns,
    columnByName: new Map(columns.map((column) => [column.name, column])),
    primaryKey: [],
    uniqueKeys: [],
  };
}

interface ColumnRow {
  relname: string;
  relkind: string;
  attname: string;
  type: string;
  nullable: boolean;
  has_default: boolean;
}

interface ConstraintRow {
  conname: string;
  contype: string;
  relname: string;
  columns: string[];
  ref_table: string | null;
  ref_columns: string[] | null;
}

interface RoutineRow {
  proname: string;
  proretset: boolean;
  provolatile: string;
  return_type: string;
  return_typtype: string;
  return_relation: string | null;
  return_relation_public: boolean;
  return_columns: string[] | null;
  return_column_types: string[] | null;
  arg_names: string[] | null;
  arg_modes: string[] | null;
  all_arg_types: string[];
  pronargs: number;
  pronargdefaults: number;
}

async function loadRelations(sql: postgres.Sql): Promise<Map<string, Relation>> {
  const rows = await sql<ColumnRow[]>`
    select c.relname, c.relkind::text as relkind, a.attname, format_type(a.atttypid, a.atttypmod) as type,
      not a.attnotnull as nullable,
      (a.atthasdef or a.attidentity <> '' or a.attgenerated <> '') as has_default
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'f', 'p')
    order by c.relname, a.attnum`;
  const relations = new Map<string, Relation>();
  for (const row of rows) {
    let rel = relations.get(row.relname);
    if (!rel) {
      rel = relation(
        row.relname,
        row.relkind === 'r' || row.relkind === 'p' ? 'table' : 'view',
        [],
      );
      relations.set(row.relname, rel);
    }
    const column = {
      name: row.attname,
      type: row.type,
      nullable: row.nullable,
      hasDefault: row.has_default,
    };
    rel.columns.push(column);
    rel.columnByName.set(column.name, column);
  }
  return relations;
}

async function loadConstraints(
  sql: postgres.Sql,
  relations: Map<string, Relation>,
): Promise<ForeignKey[]> {
  const rows = await sql<ConstraintRow[]>`
    select con.conname, con.contype::text as contype, c.relname,
      array(select a.attname::text from unnest(con.conkey) with ordinality k(num, ord)
            join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.num
            order by k.ord) as columns,
      fc.relname as ref_table,
      case when con.contype = 'f' then
        array(select a.attname::text from unnest(con.confkey) with ordinality k(num, ord)
              join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.num
              order by k.ord)
      end as ref_columns
    from pg_constraint con
    join pg_class c on c.oid = con.conrelid
    join pg_namespace n on n.oid = c.relnamespace
    left join pg_class fc on fc.oid = con.confrelid
    left join pg_namespace fn on fn.oid = fc.relnamespace
    where n.nspname = 'public' and con.contype in ('p', 'u', 'f')
      and (con.contype <> 'f' or fn.nspname = 'public')
    order by c.relname, con.conname`;
  const foreignKeys: ForeignKey[] = [];
  for (const row of rows) {
    const rel = relations.get(row.relname);
    if (!rel) continue;
    if (row.contype === 'p') rel.primaryKey = row.columns;
    if (row.contype === 'p' || row.contype === 'u') rel.uniqueKeys.push(row.columns);
    if (row.contype === 'f' && row.ref_table && row.ref_columns) {
      foreignKeys.push({
        name: row.conname,
        table: row.relname,
        columns: row.columns,
        refTable: row.ref_table,
        refColumns: row.ref_columns,
      });
    }
  }
  return foreignKeys;
}

const VOLATILITY = { i: 'immutable', s: 'stable', v: 'volatile' } as const;

function routineFromRow(row: RoutineRow): Routine {
  const names = row.arg_names ?? [];
  const modes = row.arg_modes ?? row.all_arg_types.map(() => 'i');
  const args: RoutineArg[] = [];
  const outColumns: Column[] = [];
  row.all_arg_types.forEach((type, index) => {
    const mode = modes[index] ?? 'i';
    const name = names[index] ?? '';
    if (mode === 'i' || mode === 'b' || mode === 'v') args.push({ name, type, hasDefault: false });
    if (mode === 'o' || mode === 'b' || mode === 't') {
      outColumns.push({ name, type, nullable: true, hasDefault: false });
    }
  });
  args.forEach((arg, index) => {
    arg.hasDefault = index >= args.length - row.pronargdefaults;
  });
  const composite = row.return_typtype === 'c';
  const returnColumns: Column[] = composite
    ? (row.return_columns ?? []).map((name, index) => ({
        name,
        type: row.return_column_types?.[index] ?? 'text',
        nullable: true,
        hasDefault: false,
      }))
    : outColumns;
  const routine: Routine = {
    name: row.proname,
    args,
    returnsSet: row.proretset,
    returnType: row.return_type,
    returnsRows: composite || (row.return_type === 'record' && outColumns.length > 0),
    returnColumns,
    volatility: VOLATILITY[row.provolatile as keyof typeof VOLATILITY] ?? 'volatile',
  };
  if (composite && row.return_relation && row.return_relation_public) {
    routine.returnTable = row.return_relation;
  }
  return routine;
}

async function loadRoutines(sql: postgres.Sql): Promise<Map<string, Routine[]>> {
  const rows = await sql<RoutineRow[]>`
    select p.proname, p.proretset, p.provolatile::text as provolatile,
      format_type(p.prorettype, null) as return_type, rt.typtype::text as return_typtype,
      rc.relname as return_relation, coalesce(rn.nspname = 'public', false) as return_relation_public,
      case when rt.typtype = 'c' then
        array(select a.attname::text from pg_attribute a
              where a.attrelid = rt.typrelid and a.attnum > 0 and not a.attisdropped order by a.attnum)
      end as return_columns,
      case when rt.typtype = 'c' then
        array(select format_type(a.atttypid, a.atttypmod) from pg_attribute a
              where a.attrelid = rt.typrelid and a.attnum > 0 and not a.attisdropped order by a.attnum)
      end as return_column_types,
      p.proargnames::text[] as arg_names, p.proargmodes::text[] as arg_modes,
      array(select format_type(t, null) from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]))
            with ordinality u(t, ord) order by u.ord) as all_arg_types,
      p.pronargs::int as pronargs, p.pronargdefaults::int as pronargdefaults
    from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace
    join pg_type rt on rt.oid = p.prorettype
    left join pg_class rc on rc.oid = rt.typrelid
    left join pg_namespace rn on rn.oid = rc.relnamespace
    where n.nspname = 'public' and p.prokind = 'f'`;
  const routines = new Map<string, Routine[]>();
  for (const row of rows) {
    const list = routines.get(row.proname) ?? [];
    list.push(routineFromRow(row));
    routines.set(row.proname, list);
  }
  return routines;
}

async function loadTypeNames(sql: postgres.Sql): Promise<Set<string>> {
  const rows = await sql<{ name: string }[]>`
    select distinct lower(name) as name from pg_type t,
      lateral (values (t.typname::text), (format_type(t.oid, null))) v(name)
    where t.typisdefined and t.typtype in ('b', 'c', 'd', 'e', 'r', 'm')`;
  const names = new Set(rows.map((row) => row.name));
  for (const alias of ['int', 'integer', 'smallint', 'bigint', 'real', 'float', 'decimal']) {
    names.add(alias);
  }
  return names;
}

export async function loadCatalog(sql: postgres.Sql): Promise<Catalog> {
  const relations = await loadRelations(sql);
  const foreignKeys = await loadConstraints(sql, relations);
  const routines = await loadRoutines(sql);
  const typeNames = await loadTypeNames(sql);
  return { relations, foreignKeys, routines, typeNames };
}

/** The relation a function's rows are treated as (its table, or a synthetic one). */
export function routineResultRelation(catalog: Catalog, routine: Routine): Relation {
  if (routine.returnTable) {
    const table = catalog.relations.get(routine.returnTable);
    if (table) return table;
  }
  return relation(routine.name, 'function_result', routine.returnColumns);
}

/** Caches the catalog; concurrent refreshes share one load. */
export class CatalogCache {
  private current: Promise<Catalog> | undefined;

  constructor(private readonly pool: ConnectionPool) {}

  get(): Promise<Catalog> {
    this.current ??= this.load();
    return this.current;
  }

  refresh(): Promise<Catalog> {
    this.current = this.load();
    return this.current;
  }

  private load(): Promise<Catalog> {
    const loading = loadCatalog(this.pool.sql);
    loading.catch(() => {
      if (this.current === loading) this.current = undefined;
    });
    return loading;
  }
}
