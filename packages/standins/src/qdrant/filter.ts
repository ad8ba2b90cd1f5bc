/**
 * Qdrant filters compiled to predicates: `must` / `should` / `must_not` / `min_should`, nested
 * filters, and the conditions `key` + `match` (value, any, except, text, text_any, phrase),
 * `range` (numbers or datetimes), `values_count`, `is_empty`, `is_null`, `has_id`, `has_vector`,
 * `nested`, and `geo_radius` / `geo_bounding_box` / `geo_polygon`.
 * Without a full-text index `match.text` is a substring test; with one it matches tokens.
 */
import { badInput, formatError, validationError } from './errors.js';
import { type PointId, parsePointIds } from './ids.js';
import { flatValuesAt, isObject, type Payload, parsePath, valuesAt } from './payload.js';

export interface FilterTarget {
  id: PointId;
  payload: Payload;
  hasVector(name: string): boolean;
}
export type Predicate = (t: FilterTarget) => boolean;

export interface FilterContext {
  /** Whether `key` has a full-text payload index (changes `match.text` semantics). */
  hasTextIndex(key: string): boolean;
}

const CONDITION_ERROR =
  'Expected some form of condition, which can be a field condition (like {"key": ..., "match": ... }), or some other mentioned in the documentation: https://qdrant.tech/documentation/concepts/filtering/#filtering-conditions';

const always: Predicate = () => true;

/** Compiles an optional `filter` value; `undefined`/`null` means "every point". */
export function compileFilter(raw: unknown, ctx: FilterContext): Predicate {
  if (raw === undefined || raw === null) return always;
  if (!isObject(raw)) throw formatError('invalid type: expected struct Filter');
  return compileFilterObject(raw, ctx);
}

/** AND of two predicates (used to propagate a parent filter into prefetches). */
export function both(a: Predicate, b: Predicate): Predicate {
  if (a === always) return b;
  if (b === always) return a;
  return (t) => a(t) && b(t);
}

function conditionList(raw: unknown, ctx: FilterContext): Predicate[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((c) => compileCondition(c, ctx));
}

function compileFilterObject(raw: Record<string, unknown>, ctx: FilterContext): Predicate {
  const must = conditionList(raw.must, ctx);
  const should = conditionList(raw.should, ctx);
  const mustNot = conditionList(raw.must_not, ctx);
  let minShould: { conds: Predicate[]; min: number } | undefined;
  if (raw.min_should !== undefined && raw.min_should !== null) {
    const ms = raw.min_should;
    if (!isObject(ms) || typeof ms.min_count !== 'number' || !Array.isArray(ms.conditions)) {
      throw formatError('invalid type: expected struct MinShould');
    }
    minShould = { conds: ms.conditions.map((c) => compileCondition(c, ctx)), min: ms.min_count };
  }
  return (t) => {
    if (must && !must.every((p) => p(t))) return false;
    if (should && should.length > 0 && !should.some((p) => p(t))) return false;
    if (mustNot?.some((p) => p(t))) return false;
    if (minShould) {
      let n = 0;
      for (const p of minShould.conds) if (p(t)) n++;
      if (n < minShould.min) return false;
    }
    return true;
  };
}

function fieldKey(raw: unknown): string {
  if (isObject(raw) && typeof raw.key === 'string') return raw.key;
  throw formatError(CONDITION_ERROR);
}

function compileCondition(raw: unknown, ctx: FilterContext): Predicate {
  if (!isObject(raw)) throw formatError(CONDITION_ERROR);
  if ('key' in raw) return compileField(raw, ctx);
  if ('has_id' in raw) {
    const ids = new Set<PointId>(parsePointIds(raw.has_id, 'has_id'));
    return (t) => ids.has(t.id);
  }
  if ('is_empty' in raw) {
    const path = parsePath(fieldKey(raw.is_empty));
    return (t) => isEmpty(t.payload, path);
  }
  if ('is_null' in raw) {
    const path = parsePath(fieldKey(raw.is_null));
    return (t) => isNull(t.payload, path);
  }
  if ('has_vector' in raw) {
    const name = raw.has_vector;
    if (typeof name !== 'string') throw formatError(CONDITION_ERROR);
    return (t) => t.hasVector(name);
  }
  if ('nested' in raw) {
    const nested = raw.nested;
    if (!isObject(nested) || typeof nested.key !== 'string' || !isObject(nested.filter)) {
      throw formatError(CONDITION_ERROR);
    }
    const path = parsePath(nested.key);
    const inner = compileFilterObject(nested.filter, ctx);
    return (t) =>
      flatValuesAt(t.payload, path).some(
        (el) => isObject(el) && inner({ id: t.id, payload: el, hasVector: t.hasVector }),
      );
  }
  const filterKeys = ['must', 'should', 'must_not', 'min_should'];
  if (Object.keys(raw).every((k) => filterKeys.includes(k))) return compileFilterObject(raw, ctx);
  throw formatError(CONDITION_ERROR);
}

function isEmpty(payload: Payload, path: ReturnType<typeof parsePath>): boolean {
  return flatValuesAt(payload, path).every((v) => v === null);
}

function isNull(payload: Payload, path: ReturnType<typeof parsePath>): boolean {
  return valuesAt(payload, path).some((v) => v === null);
}

type ValuesCheck = (values: unknown[], payload: Payload) => boolean;

function compileField(raw: Record<string, unknown>, ctx: FilterContext): Predicate {
  if (typeof raw.key !== 'string') throw formatError(CONDITION_ERROR);
  const key = raw.key;
  const path = parsePath(key);
  const checks: ValuesCheck[] = [];
  if (raw.match !== undefined && raw.match !== null) checks.push(compileMatch(raw.match, key, ctx));
  if (raw.range !== undefined && raw.range !== null) checks.push(compileRange(raw.range));
  if (raw.values_count !== undefined && raw.values_count !== null) {
    const bounds = numericBounds(raw.values_count, 'ValuesCount');
    checks.push((_values, payload) => {
      let count = 0;
      for (const v of valuesAt(payload, path))
        count += Array.isArray(v) ? v.length : v === null ? 0 : 1;
      return bounds(count);
    });
  }
  if (typeof raw.is_empty === 'boolean') {
    const want = raw.is_empty;
    checks.push((_values, payload) => isEmpty(payload, path) === want);
  }
  if (typeof raw.is_null === 'boolean') {
    const want = raw.is_null;
    checks.push((_values, payload) => isNull(payload, path) === want);
  }
  for (const geo of ['geo_radius', 'geo_bounding_box', 'geo_polygon'] as const) {
    if (raw[geo] !== undefined && raw[geo] !== null) checks.push(compileGeo(geo, raw[geo]));
  }
  if (checks.length === 0) {
    throw validationError('filter', 'At least one field condition must be specified');
  }
  return (t) => {
    const values = flatValuesAt(t.payload, path);
    return checks.every((c) => c(values, t.payload));
  };
}

const isScalar = (v: unknown) =>
  typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v));

function tokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

function compileMatch(raw: unknown, key: string, ctx: FilterContext): ValuesCheck {
  if (!isObject(raw)) throw formatError('data did not match any variant of untagged enum Match');
  if ('value' in raw) {
    const want = raw.value;
    if (!isScalar(want)) throw formatError('data did not match any variant of untagged enum Match');
    return (values) => values.some((v) => v === want);
  }
  if ('any' in raw || 'except' in raw) {
    const list = 'any' in raw ? raw.any : raw.except;
    if (!Array.isArray(list) || !list.every(isScalar)) {
      throw formatError('data did not match any variant of untagged enum AnyVariants');
    }
    const set = new Set<unknown>(list);
    if ('any' in raw) return (values) => values.some((v) => set.has(v));
    return (values) => values.length === 0 || values.some((v) => !set.has(v));
  }
  const textKind = (['text', 'text_any', 'phrase'] as const).find((k) => k in raw);
  if (textKind) {
    const query = raw[textKind];
    if (typeof query !== 'string') throw formatError('invalid type: expected a string');
    const indexed = ctx.hasTextIndex(key);
    const qTokens = tokens(query);
    return (values) =>
      values.some((v) => {
        if (typeof v !== 'string') return false;
        if (!indexed) {
          if (textKind === 'text_any') return query.split(/\s+/).some((w) => w && v.includes(w));
          return v.includes(query);
        }
        const vTokens = tokens(v);
        if (textKind === 'text_any') return qTokens.some((q) => vTokens.includes(q));
        if (textKind === 'text') return qTokens.every((q) => vTokens.includes(q));
        return ` ${vTokens.join(' ')} `.includes(` ${qTokens.join(' ')} `);
      });
  }
  throw formatError('data did not match any variant of untagged enum Match');
}

function numericBounds(raw: unknown, what: string): (x: number) => boolean {
  if (!isObject(raw)) throw formatError(`invalid type: expected struct ${what}`);
  const b: Partial<Record<'gt' | 'gte' | 'lt' | 'lte', number>> = {};
  for (const k of ['gt', 'gte', 'lt', 'lte'] as const) {
    const v = raw[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number') throw formatError(`invalid type: expected struct ${what}`);
    b[k] = v;
  }
  return (x) =>
    (b.gt === undefined || x > b.gt) &&
    (b.gte === undefined || x >= b.gte) &&
    (b.lt === undefined || x < b.lt) &&
    (b.lte === undefined || x <= b.lte);
}

function compileRange(raw: unknown): ValuesCheck {
  if (!isObject(raw))
    throw formatError('data did not match any variant of untagged enum RangeInterface');
  const bounds = ['gt', 'gte', 'lt', 'lte']
    .map((k) => raw[k])
    .filter((v) => v !== undefined && v !== null);
  if (bounds.length > 0 && bounds.every((v) => typeof v === 'string')) {
    const asTime: Record<string, number> = {};
    for (const k of ['gt', 'gte', 'lt', 'lte']) {
      const v = raw[k];
      if (typeof v !== 'string') continue;
      const t = Date.parse(v);
      if (Number.isNaN(t)) throw formatError(`input contains invalid characters: ${v}`);
      asTime[k] = t;
    }
    const inRange = numericBounds(asTime, 'DatetimeRange');
    return (values) =>
      values.some(
        (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)) && inRange(Date.parse(v)),
      );
  }
  const inRange = numericBounds(raw, 'Range');
  return (values) => values.some((v) => typeof v === 'number' && inRange(v));
}

export interface GeoPoint {
  lat: number;
  lon: number;
}

export function geoPoint(raw: unknown): GeoPoint {
  if (isObject(raw) && typeof raw.lat === 'number' && typeof raw.lon === 'number') {
    return { lat: raw.lat, lon: raw.lon };
  }
  throw formatError('invalid type: expected struct GeoPoint');
}

export function haversineMeters(a: GeoPoint, b: GeoPoint): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371088.0 * Math.asin(Math.min(1, Math.sqrt(h)));
}

function inRing(p: GeoPoint, ring: GeoPoint[]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const a = ring[i] as GeoPoint;
    const b = ring[j] as GeoPoint;
    if (
      a.lat > p.lat !== b.lat > p.lat &&
      p.lon < ((b.lon - a.lon) * (p.lat - a.lat)) / (b.lat - a.lat) + a.lon
    ) {
      inside = !inside;
    }
  }
  return inside;
}

function compileGeo(
  kind: 'geo_radius' | 'geo_bounding_box' | 'geo_polygon',
  raw: unknown,
): ValuesCheck {
  if (!isObject(raw)) throw formatError(`invalid type: expected struct for ${kind}`);
  let test: (p: GeoPoint) => boolean;
  if (kind === 'geo_radius') {
    const center = geoPoint(raw.center);
    if (typeof raw.radius !== 'number') throw formatError('missing field `radius`');
    const radius = raw.radius;
    test = (p) => haversineMeters(center, p) <= radius;
  } else if (kind === 'geo_bounding_box') {
    const tl = geoPoint(raw.top_left);
    const br = geoPoint(raw.bottom_right);
    test = (p) =>
      p.lat <= tl.lat &&
      p.lat >= br.lat &&
      (tl.lon <= br.lon ? p.lon >= tl.lon && p.lon <= br.lon : p.lon >= tl.lon || p.lon <= br.lon);
  } else {
    const ring = (v: unknown) => {
      if (!isObject(v) || !Array.isArray(v.points)) throw formatError('missing field `points`');
      if (v.points.length < 4) throw badInput('polygon invalid, the size must be at least 4');
      return v.points.map(geoPoint);
    };
    const exterior = ring(raw.exterior);
    const interiors = Array.isArray(raw.interiors) ? raw.interiors.map(ring) : [];
    test = (p) => inRing(p, exterior) && !interiors.some((r) => inRing(p, r));
  }
  return (values) =>
    values.some((v) => {
      if (!isObject(v) || typeof v.lat !== 'number' || typeof v.lon !== 'number') return false;
      return test({ lat: v.lat, lon: v.lon });
    });
}
