/**
 * One collection's points and the point operations on them: upsert (list and batch forms, with
 * update_mode / update_filter), delete by ids or filter, payload set/overwrite/delete/clear,
 * vector updates, retrieve, scroll (id order with next_page_offset, or order_by a range-indexed
 * payload key), count, and payload indexes. No HTTP here: methods take parsed JSON bodies and
 * return the `result` values Qdrant would serialise.
 */
import {
  type CollectionConfig,
  hasRangeIndex,
  type PayloadIndex,
  parsePayloadIndex,
  renderCollectionInfo,
  type VectorSpec,
} from './config.js';
import { preprocess } from './distance.js';
import { badInput, badRequest, formatError, notFound, validationError } from './errors.js';
import { compileFilter, type FilterContext, type FilterTarget, type Predicate } from './filter.js';
import { compareIds, type PointId, parsePointId, parsePointIds } from './ids.js';
import { f32Array } from './numbers.js';
import { bodyObject, describe, optString, optUint, required } from './parse.js';
import {
  deletePath,
  flatValuesAt,
  isObject,
  mergeAtPath,
  type Payload,
  type PayloadSelector,
  parsePath,
  parsePayloadSelector,
  selectPayload,
} from './payload.js';

export interface StoredPoint {
  id: PointId;
  version: number;
  payload: Payload;
  vectors: Map<string, Float32Array>;
}

export type VectorSelector =
  | { kind: 'none' }
  | { kind: 'all' }
  | { kind: 'names'; names: string[] };

export function parseVectorSelector(raw: unknown, fallback = false): VectorSelector {
  if (raw === undefined || raw === null) return { kind: fallback ? 'all' : 'none' };
  if (raw === true) return { kind: 'all' };
  if (raw === false) return { kind: 'none' };
  if (Array.isArray(raw) && raw.every((n) => typeof n === 'string'))
    return { kind: 'names', names: raw };
  throw formatError('data did not match any variant of untagged enum WithVector');
}

const POINTS_SELECTOR_ERROR = 'data did not match any variant of untagged enum PointsSelector';

export class Collection {
  readonly points = new Map<PointId, StoredPoint>();
  payloadIndexes: Record<string, PayloadIndex> = {};
  nextOperationId = 0;
  private sorted: StoredPoint[] | undefined;
  readonly filterContext: FilterContext = {
    hasTextIndex: (key) => this.payloadIndexes[key]?.data_type === 'text',
  };

  constructor(
    readonly name: string,
    readonly config: CollectionConfig,
  ) {}

  info(): Record<string, unknown> {
    const schema: Record<string, unknown> = {};
    for (const [key, index] of Object.entries(this.payloadIndexes)) {
      let count = 0;
      for (const p of this.points.values())
        if (flatValuesAt(p.payload, key).some((v) => v !== null)) count++;
      schema[key] = { ...index, points: count };
    }
    return renderCollectionInfo(this.config, this.points.size, schema);
  }

  // ---- helpers --------------------------------------------------------------------------

  /** Points in scroll order (cached until the next mutation). */
  sortedPoints(): StoredPoint[] {
    if (!this.sorted)
      this.sorted = [...this.points.values()].sort((a, b) => compareIds(a.id, b.id));
    return this.sorted;
  }

  target(p: StoredPoint): FilterTarget {
    return { id: p.id, payload: p.payload, hasVector: (name) => p.vectors.has(name) };
  }

  compileFilter(raw: unknown): Predicate {
    return compileFilter(raw, this.filterContext);
  }

  matching(filterRaw: unknown): StoredPoint[] {
    const pred = this.compileFilter(filterRaw);
    return this.sortedPoints().filter((p) => pred(this.target(p)));
  }

  vectorSpec(name: string): VectorSpec {
    const spec = this.config.vectors[name];
    if (!spec) throw badInput(`Not existing vector name error: ${name}`);
    return spec;
  }

  /** Validates a raw dense vector for `name` and returns what Qdrant stores for it. */
  prepareVector(name: string, raw: unknown): Float32Array {
    const spec = this.vectorSpec(name);
    if (!Array.isArray(raw)) {
      if (isObject(raw) && 'indices' in raw) throw badInput('Wrong usage of sparse vectors');
      throw formatError('data did not match any variant of untagged enum VectorStruct');
    }
    if (raw.some(Array.isArray))
      throw badInput('Conversion between multi and regular vectors failed');
    for (const x of raw) {
      if (typeof x !== 'number') throw formatError(`invalid type: ${describe(x)}, expected f32`);
    }
    if (raw.length !== spec.size) {
      throw badInput(`Vector dimension error: expected dim: ${spec.size}, got ${raw.length}`);
    }
    return preprocess(spec.distance, raw as number[]);
  }

  private parseVectorStruct(raw: unknown): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    if (Array.isArray(raw)) out.set('', this.prepareVector('', raw));
    else if (isObject(raw)) {
      if (typeof raw.text === 'string' || typeof raw.image === 'string' || 'object' in raw) {
        throw badRequest('Inference is not available: this Qdrant stand-in stores vectors only');
      }
      for (const [name, v] of Object.entries(raw)) out.set(name, this.prepareVector(name, v));
    } else throw formatError('data did not match any variant of untagged enum VectorStruct');
    return out;
  }

  private bump(): number {
    this.sorted = undefined;
    return this.nextOperationId++;
  }

  private requirePoint(id: PointId): StoredPoint {
    const p = this.points.get(id);
    if (!p) throw notFound(`No point with id ${id} found`);
    return p;
  }

  /** Ids chosen by a `PointsSelector`-like body (`points` list or `filter`). */
  private selected(body: Record<string, unknown>, mustExist: boolean): StoredPoint[] {
    if (Array.isArray(body.points)) {
      const ids = parsePointIds(body.points, 'points');
      if (mustExist) return ids.map((id) => this.requirePoint(id));
      return ids.flatMap((id) => this.points.get(id) ?? []);
    }
    if (body.filter !== undefined && body.filter !== null) return this.matching(body.filter);
    throw formatError(POINTS_SELECTOR_ERROR);
  }

  // ---- updates --------------------------------------------------------------------------

  upsert(bodyRaw: unknown): number {
    const body = bodyObject(bodyRaw, 'PointInsertOperations');
    const incoming: { id: PointId; vectors: Map<string, Float32Array>; payload: Payload }[] = [];
    const payloadOf = (v: unknown): Payload => {
      if (v === undefined || v === null) return {};
      if (!isObject(v)) throw formatError(`invalid type: ${describe(v)}, expected a map`);
      return structuredClone(v);
    };
    if (Array.isArray(body.points)) {
      for (const raw of body.points) {
        if (!isObject(raw)) throw formatError('invalid type: expected struct PointStruct');
        const id = parsePointId(required(raw.id, 'id'));
        const vectors = this.parseVectorStruct(required(raw.vector ?? raw.vectors, 'vector'));
        incoming.push({ id, vectors, payload: payloadOf(raw.payload) });
      }
    } else if (isObject(body.batch)) {
      const batch = body.batch;
      const ids = parsePointIds(required(batch.ids, 'ids'), 'ids');
      const vecs = required(batch.vectors, 'vectors');
      const payloads = Array.isArray(batch.payloads) ? batch.payloads : undefined;
      const columns = Array.isArray(vecs) ? { '': vecs } : isObject(vecs) ? vecs : undefined;
      if (!columns)
        throw formatError('data did not match any variant of untagged enum BatchVectorStruct');
      for (const col of Object.values(columns)) {
        if (!Array.isArray(col) || col.length !== ids.length) {
          throw validationError('batch', 'number of ids and vectors must be equal');
        }
      }
      if (payloads && payloads.length !== ids.length) {
        throw validationError('batch', 'number of ids and payloads must be equal');
      }
      ids.forEach((id, i) => {
        const vectors = new Map<string, Float32Array>();
        for (const [name, col] of Object.entries(columns)) {
          vectors.set(name, this.prepareVector(name, (col as unknown[])[i]));
        }
        incoming.push({ id, vectors, payload: payloadOf(payloads?.[i]) });
      });
    } else {
      throw formatError('data did not match any variant of untagged enum PointInsertOperations');
    }
    const mode = body.update_mode ?? 'upsert';
    if (mode !== 'upsert' && mode !== 'insert_only' && mode !== 'update_only') {
      throw formatError(
        `unknown variant \`${String(mode)}\`, expected one of \`insert_only\`, \`upsert\`, \`update_only\``,
      );
    }
    const updateFilter =
      body.update_filter === undefined || body.update_filter === null
        ? undefined
        : this.compileFilter(body.update_filter);
    const op = this.bump();
    for (const p of incoming) {
      const existing = this.points.get(p.id);
      if (existing && mode === 'insert_only') continue;
      if (!existing && mode === 'update_only') continue;
      if (existing && updateFilter && !updateFilter(this.target(existing))) continue;
      this.points.set(p.id, { ...p, version: op });
    }
    return op;
  }

  deletePoints(bodyRaw: unknown): number {
    const body = bodyObject(bodyRaw, 'PointsSelector');
    const doomed = this.selected(body, false);
    const op = this.bump();
    for (const p of doomed) this.points.delete(p.id);
    return op;
  }

  setPayload(bodyRaw: unknown, overwrite: boolean): number {
    const body = bodyObject(bodyRaw, 'SetPayload');
    const payload = required(body.payload, 'payload');
    if (!isObject(payload)) throw formatError(`invalid type: ${describe(payload)}, expected a map`);
    const key = optString(body.key, 'key');
    if (key !== undefined) parsePath(key);
    const targets = this.selected(body, true);
    const op = this.bump();
    for (const p of targets) {
      if (overwrite) p.payload = {};
      mergeAtPath(p.payload, key, payload);
      p.version = op;
    }
    return op;
  }

  deletePayload(bodyRaw: unknown): number {
    const body = bodyObject(bodyRaw, 'DeletePayload');
    const keys = required(body.keys, 'keys');
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) {
      throw formatError('invalid type: expected a sequence of strings for `keys`');
    }
    for (const k of keys) parsePath(k);
    const targets = this.selected(body, true);
    const op = this.bump();
    for (const p of targets) {
      for (const k of keys) deletePath(p.payload, k);
      p.version = op;
    }
    return op;
  }

  clearPayload(bodyRaw: unknown): number {
    const targets = this.selected(bodyObject(bodyRaw, 'PointsSelector'), true);
    const op = this.bump();
    for (const p of targets) {
      p.payload = {};
      p.version = op;
    }
    return op;
  }

  updateVectors(bodyRaw: unknown): number {
    const body = bodyObject(bodyRaw, 'UpdateVectors');
    const list = required(body.points, 'points');
    if (!Array.isArray(list)) throw formatError('invalid type: expected a sequence for `points`');
    const updates = list.map((raw) => {
      if (!isObject(raw)) throw formatError('invalid type: expected struct PointVectors');
      const point = this.requirePoint(parsePointId(required(raw.id, 'id')));
      return { point, vectors: this.parseVectorStruct(required(raw.vector, 'vector')) };
    });
    const op = this.bump();
    for (const u of updates) {
      for (const [name, v] of u.vectors) u.point.vectors.set(name, v);
      u.point.version = op;
    }
    return op;
  }

  createPayloadIndex(bodyRaw: unknown): number {
    const body = bodyObject(bodyRaw, 'CreateFieldIndex');
    const field = required(body.field_name, 'field_name');
    if (typeof field !== 'string')
      throw formatError('invalid type: expected a string for `field_name`');
    if (body.field_schema === undefined || body.field_schema === null) {
      throw badInput(`Can't auto-detect field type, please specify \`field_schema\` for ${field}`);
    }
    this.payloadIndexes[field] = parsePayloadIndex(body.field_schema);
    return this.bump();
  }

  deletePayloadIndex(field: string): number {
    delete this.payloadIndexes[field];
    return this.bump();
  }

  // ---- reads ----------------------------------------------------------------------------

  renderVectors(p: StoredPoint, sel: VectorSelector): unknown {
    if (sel.kind === 'none') return undefined;
    const wanted = (name: string) => sel.kind === 'all' || sel.names.includes(name);
    if (!this.config.named) {
      const v = p.vectors.get('');
      return v && wanted('') ? f32Array(v) : sel.kind === 'all' ? undefined : {};
    }
    const out: Record<string, number[]> = {};
    for (const [name, v] of p.vectors) if (wanted(name)) out[name] = f32Array(v);
    return out;
  }

  /** A `Record` (retrieve/scroll) without the fields Qdrant skips when absent. */
  record(
    p: StoredPoint,
    payload: PayloadSelector,
    vector: VectorSelector,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = { id: p.id };
    const pl = selectPayload(p.payload, payload);
    if (pl !== undefined) out.payload = pl;
    const vec = this.renderVectors(p, vector);
    if (vec !== undefined) out.vector = vec;
    return out;
  }

  retrieve(bodyRaw: unknown): Record<string, unknown>[] {
    const body = bodyObject(bodyRaw, 'PointRequest');
    const ids = parsePointIds(required(body.ids, 'ids'), 'ids');
    const payload = parsePayloadSelector(body.with_payload, true);
    const vector = parseVectorSelector(body.with_vector ?? body.with_vectors);
    const seen = new Set<PointId>();
    const out: Record<string, unknown>[] = [];
    for (const id of ids) {
      const p = this.points.get(id);
      if (!p || seen.has(id)) continue;
      seen.add(id);
      out.push(this.record(p, payload, vector));
    }
    return out;
  }

  getPoint(rawId: string): Record<string, unknown> {
    const id = /^\d+$/.test(rawId) ? parsePointId(Number(rawId)) : parsePointId(rawId);
    return this.record(this.requirePoint(id), { kind: 'all' }, { kind: 'all' });
  }

  count(bodyRaw: unknown): { count: number } {
    const body =
      bodyRaw === undefined || bodyRaw === null ? {} : bodyObject(bodyRaw, 'CountRequest');
    if (body.filter === undefined || body.filter === null) return { count: this.points.size };
    return { count: this.matching(body.filter).length };
  }

  scroll(bodyRaw: unknown): {
    points: Record<string, unknown>[];
    next_page_offset: PointId | null;
  } {
    const body =
      bodyRaw === undefined || bodyRaw === null ? {} : bodyObject(bodyRaw, 'ScrollRequest');
    const limit = optUint(body.limit, 'limit', 10, 1);
    const payload = parsePayloadSelector(body.with_payload, true);
    const vector = parseVectorSelector(body.with_vector ?? body.with_vectors);
    const candidates = this.matching(body.filter);
    if (body.order_by !== undefined && body.order_by !== null) {
      return this.scrollOrdered(body, candidates, limit, payload, vector);
    }
    const start =
      body.offset === undefined || body.offset === null ? undefined : parsePointId(body.offset);
    const from =
      start === undefined ? candidates : candidates.filter((p) => compareIds(p.id, start) >= 0);
    const page = from.slice(0, limit);
    return {
      points: page.map((p) => this.record(p, payload, vector)),
      next_page_offset: from[limit]?.id ?? null,
    };
  }

  private scrollOrdered(
    body: Record<string, unknown>,
    candidates: StoredPoint[],
    limit: number,
    payload: PayloadSelector,
    vector: VectorSelector,
  ): { points: Record<string, unknown>[]; next_page_offset: null } {
    const order = parseOrderBy(body.order_by);
    if (!hasRangeIndex(this.payloadIndexes[order.key])) {
      throw badRequest(
        `No range index for \`order_by\` key: ${order.key}. Please create one to use \`order_by\`. Integer, float, and datetime payloads can have range indexes, see https://qdrant.tech/documentation/concepts/indexing/#payload-index.`,
      );
    }
    if (body.offset !== undefined && body.offset !== null) {
      throw badInput(
        "Cannot use an `offset` when using `order_by`. The alternative for paging is to use `order_by.start_from` and a filter to exclude the IDs that you've already seen for the `order_by.start_from` value",
      );
    }
    const rows = orderedRows(candidates, order);
    return {
      points: rows.slice(0, limit).map(({ p, value }) => ({
        ...this.record(p, payload, vector),
        order_value: value,
      })),
      next_page_offset: null,
    };
  }
}

export interface OrderBy {
  key: string;
  desc: boolean;
  startFrom?: number;
}

export function parseOrderBy(raw: unknown): OrderBy {
  if (typeof raw === 'string') return { key: raw, desc: false };
  if (!isObject(raw) || typeof raw.key !== 'string') {
    throw formatError('Expected a string, or an object with a key, direction and/or start_from');
  }
  const direction = raw.direction ?? 'asc';
  if (direction !== 'asc' && direction !== 'desc') {
    throw formatError(`unknown variant \`${String(direction)}\`, expected \`asc\` or \`desc\``);
  }
  const sf = raw.start_from;
  let startFrom: number | undefined;
  if (typeof sf === 'number') startFrom = sf;
  else if (typeof sf === 'string' && !Number.isNaN(Date.parse(sf)))
    startFrom = Date.parse(sf) * 1000;
  else if (sf !== undefined && sf !== null)
    throw formatError('data did not match any variant of untagged enum StartFrom');
  return {
    key: raw.key,
    desc: direction === 'desc',
    ...(startFrom === undefined ? {} : { startFrom }),
  };
}

/** One row per (point, value), as Qdrant repeats a point for each of its values. */
export function orderedRows(
  points: StoredPoint[],
  order: OrderBy,
): { p: StoredPoint; value: number }[] {
  const rows: { p: StoredPoint; value: number }[] = [];
  for (const p of points) {
    for (const v of flatValuesAt(p.payload, order.key)) {
      let value: number | undefined;
      if (typeof v === 'number') value = v;
      else if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) value = Date.parse(v) * 1000;
      if (value === undefined) continue;
      if (
        order.startFrom !== undefined &&
        (order.desc ? value > order.startFrom : value < order.startFrom)
      ) {
        continue;
      }
      rows.push({ p, value });
    }
  }
  rows.sort(
    (a, b) => (order.desc ? b.value - a.value : a.value - b.value) || compareIds(a.p.id, b.p.id),
  );
  return rows;
}
