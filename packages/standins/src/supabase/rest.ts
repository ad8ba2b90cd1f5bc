/**
 * The PostgREST part of the stand-in (`/rest/v1`): routes a request to a table/view or an RPC,
 * negotiates the media type, runs the statement in its own transaction as the caller's role (with
 * PostgREST's transaction-scoped settings, so RLS and `auth.uid()` work), and shapes the reply:
 * status, Content-Range, Location, Preference-Applied, JSON body or PostgREST error.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { actAsCaller, type RequestAuth } from './caller.js';
import {
  type Catalog,
  type CatalogCache,
  quoteIdent,
  type Relation,
  type Routine,
  routineResultRelation,
} from './catalog.js';
import {
  isCatalogMiss,
  isConnectionLost,
  type RestError,
  restError,
  toRestError,
} from './errors.js';
import type { ConnectionPool } from './pool.js';
import {
  type BodyOptions,
  type BuildContext,
  buildDelete,
  buildInsert,
  buildRead,
  buildScalarRead,
  buildUpdate,
  type MutationResult,
  Params,
  routineFrom,
  type Source,
} from './sql.js';
import {
  type ParsedQuery,
  type Preferences,
  parsePrefer,
  parseQuery,
  type SelectItem,
} from './url.js';

export interface RestRequest {
  method: string;
  /** The path after `/rest/v1/`, still percent-encoded. */
  resource: string;
  search: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The full request path, for `request.path`. */
  path: string;
}

export interface RestReply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The table, or `rpc/{function}`, the request addressed (for the stand-in's counters). */
  resource?: string;
}

interface Media extends BodyOptions {
  contentType: string;
}

/** A request on a table or view, parsed, with its statement's build context. */
interface TableCall {
  request: RestRequest;
  auth: RequestAuth;
  relation: Relation;
  query: ParsedQuery;
  prefs: Preferences;
  media: Media;
  ctx: BuildContext;
}

/** Tries of a request whose database connection was cut under it. */
const CONNECTION_ATTEMPTS = 3;

interface StatementRow {
  total: string | null;
  /** For an upsert, how many of its rows were inserted rather than updated. */
  inserted?: string | null;
  page_total: string;
  body: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** Ends a `Prefer: tx=rollback` transaction with ROLLBACK, carrying the statement's answer. */
class RolledBack extends Error {
  constructor(readonly row: StatementRow) {
    super('rolled back on request');
  }
}

function negotiate(accept: string | undefined): Media {
  if (!accept) return { singular: false, stripNulls: false, contentType: JSON_TYPE };
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const stripNulls = params.includes('nulls=stripped');
    if (type === 'application/vnd.pgrst.object+json' || type === 'application/vnd.pgrst.object') {
      return {
        singular: true,
        stripNulls,
        contentType: `application/vnd.pgrst.object+json${stripNulls ? ';nulls=stripped' : ''}; charset=utf-8`,
      };
    }
    if (type === 'application/vnd.pgrst.array+json' || type === 'application/vnd.pgrst.array') {
      return {
        singular: false,
        stripNulls,
        contentType: `application/vnd.pgrst.array+json${stripNulls ? ';nulls=stripped' : ''}; charset=utf-8`,
      };
    }
    if (type === 'application/json' || type === '*/*' || type === 'application/*') {
      return { singular: false, stripNulls: false, contentType: JSON_TYPE };
    }
  }
  throw restError(406, 'PGRST107', `None of these media types are available: ${accept}`);
}

/** PostgREST's Content-Range: `lower-upper/total`, `*` for an empty range or unknown total. */
function contentRange(lower: number, upper: number, total: number | undefined): string {
  const range = total !== 0 && lower <= upper ? `${lower}-${upper}` : '*';
  return `${range}/${total === undefined ? '*' : total}`;
}

function notSingular(rows: number): RestError {
  return restError(
    406,
    'PGRST116',
    'JSON object requested, multiple (or no) rows returned',
    `The result contains ${rows} rows`,
  );
}

function invalidBody(details: string | null = null): RestError {
  return restError(400, 'PGRST102', 'Empty or invalid json', details);
}

function parseJsonBody(body: Buffer, emptyAs?: unknown): unknown {
  const text = body.toString('utf8');
  if (text.trim() === '') {
    if (emptyAs !== undefined) return emptyAs;
    throw invalidBody();
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalidBody();
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unknownColumn(relation: Relation, column: string): RestError {
  return restError(
    400,
    'PGRST204',
    `Could not find the '${column}' column of '${relation.name}' in the schema cache`,
  );
}

function checkColumns(relation: Relation, columns: string[]): void {
  for (const column of columns) {
    if (!relation.columnByName.has(column)) throw unknownColumn(relation, column);
  }
}

/** Range status as PostgREST computes it: 416 past the end, 206 for a partial page. */
function readStatus(lower: number, pageTotal: number, total: number | undefined): number {
  if (total === undefined) return 200;
  if (lower > total) {
    throw restError(
      416,
      'PGRST103',
      'Requested range not satisfiable',
      `An offset of ${lower} was requested, but there are only ${total} rows.`,
    );
  }
  return pageTotal < total ? 206 : 200;
}

function preferenceApplied(prefs: Preferences, headers: Record<string, string>): void {
  if (prefs.applied.length > 0) headers['Preference-Applied'] = prefs.applied.join(', ');
}

function chooseRoutine(name: string, overloads: Routine[], args: Record<string, unknown>): Routine {
  const supplied = Object.keys(args);
  const named = overloads.filter(
    (routine) =>
      routine.args.every((arg) => arg.name !== '' || arg.hasDefault) &&
      routine.args.every((arg) => arg.hasDefault || supplied.includes(arg.name)) &&
      supplied.every((key) => routine.args.some((arg) => arg.name === key)),
  );
  const jsonFallback = overloads.filter(
    (routine) =>
      routine.args.length === 1 &&
      routine.args[0]?.name === '' &&
      (routine.args[0]?.type === 'json' || routine.args[0]?.type === 'jsonb'),
  );
  const matches = named.length > 0 ? named : jsonFallback;
  if (matches.length === 1) return matches[0] as Routine;
  const list = [...supplied].sort().join(', ');
  if (matches.length === 0) {
    throw restError(
      404,
      'PGRST202',
      supplied.length > 0
        ? `Could not find the function public.${name}(${list}) in the schema cache`
        : `Could not find the function public.${name} without parameters in the schema cache`,
      `Searched for the function public.${name} with parameters ${supplied.length > 0 ? list : 'none'} or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.`,
    );
  }
  throw restError(
    300,
    'PGRST203',
    `Could not choose the best candidate function between: ${matches
      .map((r) => `public.${name}(${r.args.map((a) => `${a.name} => ${a.type}`).join(', ')})`)
      .join(', ')}`,
    null,
    'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
  );
}

export class RestHandler {
  constructor(
    private readonly pool: ConnectionPool,
    private readonly catalog: CatalogCache,
    private readonly statementTimeoutMs?: number,
  ) {}

  async handle(request: RestRequest, auth: RequestAuth): Promise<RestReply> {
    let resource: string | undefined;
    try {
      const decoded = decodeURIComponent(request.resource);
      this.checkProfile(request);
      if (!decoded.startsWith('rpc/') && (decoded === '' || decoded.includes('/'))) {
        throw restError(404, 'PGRST125', 'Invalid path specified in request URL');
      }
      resource = decoded;
      const attempt = () =>
        decoded.startsWith('rpc/')
          ? this.rpc(request, auth, decoded.slice(4))
          : this.table(request, auth, decoded);
      try {
        return { ...(await attempt()), resource };
      } catch (error) {
        // A column or relationship the cache does not know may have been added since it loaded.
        if (!isCatalogMiss(error)) throw error;
        await this.catalog.refresh();
        return { ...(await attempt()), resource };
      }
    } catch (error) {
      const rest = toRestError(error, auth.role !== 'anon');
      return {
        status: rest.status,
        headers: { 'Content-Type': JSON_TYPE, ...rest.headers },
        body: JSON.stringify(rest.body),
        ...(resource === undefined ? {} : { resource }),
      };
    }
  }

  private checkProfile(request: RestRequest): void {
    const profile = request.headers['accept-profile'] ?? request.headers['content-profile'];
    if (profile !== undefined && profile !== 'public') {
      throw restError(406, 'PGRST106', 'The schema must be one of the following: public');
    }
  }

  /** Looks `pick` up in the cached catalog, and once more in a fresh one on a miss. */
  private async lookup<T>(
    pick: (catalog: Catalog) => T | undefined,
  ): Promise<{ catalog: Catalog; found: T | undefined }> {
    let catalog = await this.catalog.get();
    let found = pick(catalog);
    if (found === undefined) {
      catalog = await this.catalog.refresh();
      found = pick(catalog);
    }
    return { catalog, found };
  }

  private async relation(name: string): Promise<{ catalog: Catalog; relation: Relation }> {
    const { catalog, found: relation } = await this.lookup((c) => c.relations.get(name));
    if (!relation) {
      throw restError(
        404,
        'PGRST205',
        `Could not find the table 'public.${name}' in the schema cache`,
      );
    }
    return { catalog, relation };
  }

  private context(catalog: Catalog, query: ParsedQuery): BuildContext {
    return { catalog, params: new Params(), embedded: query.embedded, aliasCount: 0 };
  }

  /** Runs one statement in the request's transaction, as the caller's role. */
  private async run(
    request: RestRequest,
    auth: RequestAuth,
    readOnly: boolean,
    statement: { text: string; params: string[] },
    check?: (row: StatementRow) => void,
  ): Promise<StatementRow> {
    const rollback = parsePrefer(request.headers.prefer).tx === 'rollback';
    // A connection cut before COMMIT was sent leaves nothing done (the server rolls the
    // transaction back), so the request is run again on a new pool, a few times at most; a cut
    // during COMMIT is not retried (its outcome is unknown).
    for (let attempt = 1; ; attempt++) {
      let committing = false;
      const sql = this.pool.sql;
      try {
        return await sql.begin(readOnly ? 'read only' : 'read write', async (tx) => {
          let rows: StatementRow[];
          try {
            await actAsCaller(tx, auth, request, this.statementTimeoutMs);
            rows = await tx.unsafe<StatementRow[]>(statement.text, statement.params);
          } catch (error) {
            // postgres.js (3.4.9) answers an error thrown here with a ROLLBACK written to the
            // connection, which, when it is dead, throws from a timer and kills the process. So
            // never settle: `begin` itself rejects when the connection closes.
            if (isConnectionLost(error)) await new Promise<never>(() => {});
            throw error;
          }
          const row = rows[0];
          if (!row) throw restError(500, 'PGRSTX00', 'statement returned no row');
          check?.(row);
          if (rollback) throw new RolledBack(row);
          committing = true;
          return row;
        });
      } catch (error) {
        if (error instanceof RolledBack) return error.row;
        if (!isConnectionLost(error)) throw error;
        this.pool.replace(sql);
        if (committing || attempt >= CONNECTION_ATTEMPTS) throw error;
      }
    }
  }

  private async table(
    request: RestRequest,
    auth: RequestAuth,
    name: string,
  ): Promise<Omit<RestReply, 'resource'>> {
    const { catalog, relation } = await this.relation(name);
    const prefs = parsePrefer(request.headers.prefer);
    const query = parseQuery(request.search);
    if (request.method === 'OPTIONS') {
      return { status: 200, headers: { Allow: 'OPTIONS,GET,HEAD,POST,PATCH,DELETE' }, body: '' };
    }
    if (!['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'].includes(request.method)) {
      throw restError(405, 'PGRST117', `Unsupported HTTP method: ${request.method}`);
    }
    const call: TableCall = {
      request,
      auth,
      relation,
      query,
      prefs,
      media: negotiate(request.headers.accept),
      ctx: this.context(catalog, query),
    };
    switch (request.method) {
      case 'POST':
        return this.insert(call);
      case 'PATCH':
        return this.update(call);
      case 'DELETE':
        return this.remove(call);
      default:
        return this.read(call);
    }
  }

  private async read(call: TableCall): Promise<Omit<RestReply, 'resource'>> {
    const { request, auth, relation, query, prefs, media, ctx } = call;
    const source: Source = {
      from: `"public".${quoteIdent(relation.name)} AS ${quoteIdent(relation.name)}`,
      alias: relation.name,
      relation,
    };
    const count = prefs.count !== undefined;
    const text = buildRead(ctx, {
      source,
      items: query.select,
      shape: query.root,
      count,
      body: media,
    });
    const row = await this.run(request, auth, true, { text, params: ctx.params.values });
    return this.readReply(request, media, prefs, query.root.offset ?? 0, row);
  }

  private readReply(
    request: RestRequest,
    media: Media,
    prefs: Preferences,
    lower: number,
    row: StatementRow,
  ): Omit<RestReply, 'resource'> {
    const pageTotal = Number(row.page_total);
    const total = row.total === null ? undefined : Number(row.total);
    if (media.singular && pageTotal !== 1) throw notSingular(pageTotal);
    const status = readStatus(lower, pageTotal, total);
    const headers: Record<string, string> = {
      'Content-Type': media.contentType,
      'Content-Range': contentRange(lower, lower + pageTotal - 1, total),
    };
    preferenceApplied(
      {
        ...prefs,
        applied: prefs.applied.filter((p) => p.startsWith('count=') || p.startsWith('tx=')),
      },
      headers,
    );
    return { status, headers, body: request.method === 'HEAD' ? '' : row.body };
  }

  private mutationResult(
    query: ParsedQuery,
    prefs: Preferences,
    relation: Relation,
    media: Media,
  ): MutationResult {
    if (prefs.return === 'representation') return { items: query.select, body: media };
    if (prefs.return === 'headers-only' && relation.primaryKey.length > 0) {
      const items: SelectItem[] = relation.primaryKey.map((column) => ({
        kind: 'field',
        field: { column, path: [] },
      }));
      return { items, body: { singular: false, stripNulls: false } };
    }
    return { items: null, body: media };
  }

  private mutationReply(
    prefs: Preferences,
    media: Media,
    row: StatementRow,
    status: number,
    range: [number, number],
  ): Omit<RestReply, 'resource'> {
    const total = Number(row.total);
    const headers: Record<string, string> = {
      'Content-Range': contentRange(range[0], range[1], prefs.count ? total : undefined),
    };
    preferenceApplied(prefs, headers);
    if (prefs.return !== 'representation') return { status, headers, body: '' };
    headers['Content-Type'] = media.contentType;
    return { status, headers, body: row.body };
  }

  private singularCheck(media: Media): ((row: StatementRow) => void) | undefined {
    if (!media.singular) return undefined;
    return (row) => {
      const rows = Number(row.page_total);
      if (rows !== 1) throw notSingular(rows);
    };
  }

  private async insert(call: TableCall): Promise<Omit<RestReply, 'resource'>> {
    const { request, auth, relation, query, prefs, media, ctx } = call;
    const payload = parseJsonBody(request.body);
    const rows = Array.isArray(payload) ? payload : [payload];
    if (!rows.every(isObject)) throw invalidBody('All elements must be JSON objects');
    let columns = query.columns;
    if (!columns) {
      const first = Object.keys(rows[0] ?? {});
      const keys = new Set(first);
      const uniform = rows.every((row) => {
        const own = Object.keys(row);
        return own.length === keys.size && own.every((key) => keys.has(key));
      });
      if (!uniform) throw invalidBody('All object keys must match');
      columns = first;
    }
    checkColumns(relation, columns);
    let onConflict: { columns: string[]; action: 'merge' | 'ignore' } | undefined;
    if (prefs.resolution) {
      const conflictColumns = query.onConflict ?? relation.primaryKey;
      checkColumns(relation, conflictColumns);
      onConflict = {
        columns: conflictColumns,
        action: prefs.resolution === 'merge-duplicates' ? 'merge' : 'ignore',
      };
    }
    const result = this.mutationResult(query, prefs, relation, media);
    const text = buildInsert(ctx, {
      relation,
      columns,
      rows,
      missingDefault: prefs.missingDefault,
      ...(onConflict ? { onConflict } : {}),
      result,
    });
    const row = await this.run(
      request,
      auth,
      false,
      { text, params: ctx.params.values },
      this.singularCheck(media),
    );
    // PostgREST answers a merging upsert that only updated rows with 200, else 201.
    const updatedOnly = prefs.resolution === 'merge-duplicates' && Number(row.inserted) === 0;
    const reply = this.mutationReply(prefs, media, row, updatedOnly ? 200 : 201, [1, 0]);
    if (prefs.return === 'headers-only') {
      const created = JSON.parse(row.body || '[]') as Record<string, unknown>[];
      const first = created[0];
      if (first && relation.primaryKey.length > 0) {
        const filters = relation.primaryKey.map(
          (column) =>
            `${encodeURIComponent(column)}=eq.${encodeURIComponent(String(first[column]))}`,
        );
        reply.headers.Location = `/${encodeURIComponent(relation.name)}?${filters.join('&')}`;
      }
    }
    return reply;
  }

  private async update(call: TableCall): Promise<Omit<RestReply, 'resource'>> {
    const { request, auth, relation, query, prefs, media, ctx } = call;
    const payload = parseJsonBody(request.body);
    if (!isObject(payload)) throw invalidBody('Expected a JSON object');
    const columns = query.columns ?? Object.keys(payload);
    checkColumns(relation, columns);
    const result = this.mutationResult(query, prefs, relation, media);
    const text = buildUpdate(ctx, { relation, columns, row: payload, shape: query.root, result });
    return this.runUpdateOrDelete(request, auth, text, ctx.params.values, media, prefs);
  }

  /** Runs a PATCH's or DELETE's statement and answers with the rows it touched. */
  private async runUpdateOrDelete(
    request: RestRequest,
    auth: RequestAuth,
    text: string,
    params: string[],
    media: ReturnType<typeof negotiate>,
    prefs: Preferences,
  ): Promise<Omit<RestReply, 'resource'>> {
    const row = await this.run(request, auth, false, { text, params }, this.singularCheck(media));
    const affected = Number(row.page_total);
    return this.mutationReply(prefs, media, row, prefs.return === 'representation' ? 200 : 204, [
      0,
      affected - 1,
    ]);
  }

  private async remove(call: TableCall): Promise<Omit<RestReply, 'resource'>> {
    const { request, auth, relation, query, prefs, media, ctx } = call;
    const result = this.mutationResult(query, prefs, relation, media);
    const text = buildDelete(ctx, { relation, shape: query.root, result });
    return this.runUpdateOrDelete(request, auth, text, ctx.params.values, media, prefs);
  }

  private async routines(name: string): Promise<{ catalog: Catalog; overloads: Routine[] }> {
    const { catalog, found } = await this.lookup((c) => c.routines.get(name));
    return { catalog, overloads: found ?? [] };
  }

  private async rpc(
    request: RestRequest,
    auth: RequestAuth,
    name: string,
  ): Promise<Omit<RestReply, 'resource'>> {
    if (!['GET', 'HEAD', 'POST'].includes(request.method)) {
      throw restError(405, 'PGRST101', `Cannot use the ${request.method} method on RPC`);
    }
    const { catalog, overloads } = await this.routines(name);
    const argNames = new Set(overloads.flatMap((routine) => routine.args.map((arg) => arg.name)));
    let args: Record<string, unknown> = {};
    if (request.method === 'POST') {
      const payload = parseJsonBody(request.body, {});
      if (!isObject(payload)) throw invalidBody('Expected a JSON object');
      args = payload;
    } else {
      for (const [key, value] of request.search) if (argNames.has(key)) args[key] = value;
    }
    const routine = chooseRoutine(name, overloads, args);
    const prefs = parsePrefer(request.headers.prefer);
    const query = parseQuery(request.search, request.method === 'POST' ? new Set() : argNames);
    const media = negotiate(request.headers.accept);
    const ctx = this.context(catalog, query);
    const readOnly = request.method !== 'POST' || routine.volatility !== 'volatile';
    const count = prefs.count !== undefined;
    let text: string;
    if (routine.returnsRows) {
      const relation = routineResultRelation(catalog, routine);
      const source: Source = {
        from: routineFrom(ctx, routine, args, routine.name),
        alias: routine.name,
        relation,
      };
      const singular = media.singular || !routine.returnsSet;
      text = buildRead(ctx, {
        source,
        items: query.select,
        shape: query.root,
        count,
        body: { singular, stripNulls: media.stripNulls },
      });
    } else {
      const source: Source = {
        from: routineFrom(ctx, routine, args, 'pgrst_call', 'pgrst_scalar'),
        alias: 'pgrst_call',
        relation: routineResultRelation(catalog, routine),
      };
      text = buildScalarRead(ctx, source, query.root, {
        count,
        singular: !routine.returnsSet,
        isVoid: routine.returnType === 'void',
      });
    }
    const row = await this.run(
      request,
      auth,
      readOnly,
      { text, params: ctx.params.values },
      this.singularCheck(media),
    );
    if (routine.returnType === 'void') return { status: 204, headers: {}, body: '' };
    const reply = this.readReply(
      request,
      { ...media, singular: false },
      prefs,
      query.root.offset ?? 0,
      row,
    );
    if (media.singular) reply.headers['Content-Type'] = media.contentType;
    return reply;
  }
}
