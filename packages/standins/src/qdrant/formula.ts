/**
 * Formula queries (`query: {formula, defaults}`), Qdrant's score boosting: an expression over the
 * prefetch scores (`$score` is the first prefetch's, `$score[i]` the i-th's), payload values
 * (a key names a number; the first number found at the path), conditions (1 when the point
 * matches, else 0), constants, arithmetic, `geo_distance` (metres), `datetime` / `datetime_key`
 * (seconds since the epoch) and the lin/exp/gauss decays. A variable a point lacks takes its
 * value from `defaults`, else 0. A non-finite result is a 400, as in Qdrant.
 */
import { badRequest, formatError, validationError } from './errors.js';
import {
  compileFilter,
  type FilterContext,
  type FilterTarget,
  type GeoPoint,
  geoPoint,
  haversineMeters,
  type Predicate,
} from './filter.js';
import type { PointId } from './ids.js';
import { flatValuesAt, isObject, parsePath } from './payload.js';

/** What a formula sees of one point. */
export interface FormulaInput {
  target: FilterTarget;
  /** The point's score in each prefetch (absent where it was not found). */
  scores: (number | undefined)[];
}

export type Formula = (input: FormulaInput) => number;

const EXPRESSION_ERROR = 'data did not match any variant of untagged enum Expression';
const UNARY: Record<string, (x: number) => number> = {
  neg: (x) => -x,
  abs: Math.abs,
  sqrt: Math.sqrt,
  exp: Math.exp,
  log10: Math.log10,
  ln: Math.log,
};
const DECAYS = ['lin_decay', 'exp_decay', 'gauss_decay'] as const;

function seconds(text: string): number | undefined {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

function finite(x: number, what: string): number {
  if (!Number.isFinite(x)) throw badRequest(`The formula produced a non-finite number in ${what}`);
  return x;
}

/** Compiles a `FormulaQuery` body, failing on its shape before any point is scored. */
export function compileFormula(raw: Record<string, unknown>, ctx: FilterContext): Formula {
  const defaults = raw.defaults ?? {};
  if (!isObject(defaults)) throw formatError('invalid type: expected a map for `defaults`');
  const fallback = (name: string): number => {
    const v = defaults[name];
    if (typeof v === 'number') return v;
    if (typeof v === 'string') return seconds(v) ?? 0;
    return 0;
  };

  const variable = (name: string): Formula => {
    const m = /^\$score(?:\[(\d+)\])?$/.exec(name);
    if (m) {
      const i = Number(m[1] ?? 0);
      return ({ scores }) => scores[i] ?? fallback(name);
    }
    const path = parsePath(name);
    return ({ target }) => {
      const v = flatValuesAt(target.payload, path).find((x) => typeof x === 'number');
      return typeof v === 'number' ? v : fallback(name);
    };
  };

  const compile = (e: unknown): Formula => {
    if (typeof e === 'number') return () => e;
    if (typeof e === 'string') return variable(e);
    if (!isObject(e)) throw formatError(EXPRESSION_ERROR);
    if (Array.isArray(e.sum)) {
      const parts = e.sum.map(compile);
      return (x) => parts.reduce((acc, f) => acc + f(x), 0);
    }
    if (Array.isArray(e.mult)) {
      const parts = e.mult.map(compile);
      return (x) => parts.reduce((acc, f) => acc * f(x), 1);
    }
    for (const [op, fn] of Object.entries(UNARY)) {
      if (e[op] !== undefined) {
        const inner = compile(e[op]);
        return (x) => finite(fn(inner(x)), op);
      }
    }
    if (isObject(e.div)) {
      const left = compile(e.div.left);
      const right = compile(e.div.right);
      const byZero = e.div.by_zero_default;
      return (x) => {
        const r = right(x);
        if (r === 0 && typeof byZero === 'number') return byZero;
        return finite(left(x) / r, 'div');
      };
    }
    if (isObject(e.pow)) {
      const base = compile(e.pow.base);
      const exponent = compile(e.pow.exponent);
      return (x) => finite(base(x) ** exponent(x), 'pow');
    }
    for (const kind of DECAYS) if (isObject(e[kind])) return decay(kind, e[kind]);
    if (isObject(e.geo_distance)) {
      const origin: GeoPoint = geoPoint(e.geo_distance.origin);
      const to = e.geo_distance.to;
      if (typeof to !== 'string') throw formatError('invalid type: expected a string for `to`');
      const path = parsePath(to);
      return ({ target }) => {
        const found = flatValuesAt(target.payload, path).find(
          (v) => isObject(v) && typeof v.lat === 'number' && typeof v.lon === 'number',
        );
        return found ? haversineMeters(origin, geoPoint(found)) : fallback(to);
      };
    }
    if (typeof e.datetime === 'string') {
      const at = seconds(e.datetime);
      if (at === undefined) throw formatError(`invalid datetime: ${e.datetime}`);
      return () => at;
    }
    if (typeof e.datetime_key === 'string') {
      const key = e.datetime_key;
      const path = parsePath(key);
      return ({ target }) => {
        for (const v of flatValuesAt(target.payload, path)) {
          const at = typeof v === 'string' ? seconds(v) : undefined;
          if (at !== undefined) return at;
        }
        return fallback(key);
      };
    }
    const condition: Predicate = compileFilter({ must: [e] }, ctx);
    return ({ target }) => (condition(target) ? 1 : 0);
  };

  const decay = (kind: (typeof DECAYS)[number], p: Record<string, unknown>): Formula => {
    const x = compile(p.x);
    const target = p.target === undefined || p.target === null ? () => 0 : compile(p.target);
    const scale = typeof p.scale === 'number' ? p.scale : 1;
    const midpoint = typeof p.midpoint === 'number' ? p.midpoint : 0.5;
    if (scale <= 0) throw validationError('scale', `value ${scale} invalid, must be above 0`);
    if (midpoint <= 0 || midpoint >= 1) {
      throw validationError('midpoint', `value ${midpoint} invalid, must be between 0 and 1`);
    }
    return (input) => {
      const d = Math.abs(x(input) - target(input));
      if (kind === 'lin_decay') return Math.max(0, 1 - ((1 - midpoint) / scale) * d);
      if (kind === 'exp_decay') return Math.exp((Math.log(midpoint) / scale) * d);
      return Math.exp((Math.log(midpoint) / (scale * scale)) * d * d);
    };
  };

  if (raw.formula === undefined || raw.formula === null)
    throw formatError('missing field `formula`');
  return compile(raw.formula);
}

/** Each point's score in each prefetch result list, for `$score[i]`. */
export function scoreTables(sources: { p: { id: PointId }; score: number }[][]) {
  return sources.map((list) => {
    const m = new Map<PointId, number>();
    for (const s of list) if (!m.has(s.p.id)) m.set(s.p.id, s.score);
    return m;
  });
}
