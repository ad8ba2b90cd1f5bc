/**
 * Search and the universal Query API, brute force over a collection: nearest by raw vector or by
 * point id (referenced ids are excluded from results, as in Qdrant), recommend (average_vector,
 * best_score, sum_scores), nested `prefetch` merged by `fusion: rrf | dbsf` or `rrf: {k, weights}`
 * (Qdrant's formulas, default k = 2), re-scored by a vector or by a `formula`, `order_by`, `sample: random`.
 * The root filter is propagated into every prefetch; limit/offset/score_threshold as in Qdrant.
 */
import {
  type Collection,
  orderedRows,
  parseOrderBy,
  parseVectorSelector,
  type StoredPoint,
} from './collection.js';
import {
  compareScores,
  type Distance,
  largerIsBetter,
  passesThreshold,
  preprocess,
  score,
} from './distance.js';
import { badInput, badRequest, collectionNotFound, formatError, notFound } from './errors.js';
import { both, type FilterContext, type Predicate } from './filter.js';
import { compileFormula, type Formula, scoreTables } from './formula.js';
import { compareIds, type PointId, parsePointId } from './ids.js';
import { f32 } from './numbers.js';
import { bodyObject, optNumber, optString, optUint, required } from './parse.js';
import { isObject, parsePayloadSelector, selectPayload } from './payload.js';
import { checkShape, SEARCH_PARAMS } from './validate.js';

type VectorIn = { kind: 'raw'; raw: unknown } | { kind: 'id'; id: PointId };
type Strategy = 'average_vector' | 'best_score' | 'sum_scores';
type Query =
  | { kind: 'nearest'; input: VectorIn }
  | { kind: 'recommend'; positive: VectorIn[]; negative: VectorIn[]; strategy: Strategy }
  | { kind: 'fusion'; method: 'rrf' | 'dbsf'; k: number; weights?: number[] }
  | { kind: 'order_by'; order: ReturnType<typeof parseOrderBy> }
  | { kind: 'sample' }
  | { kind: 'formula'; formula: Formula };

interface Level {
  prefetch: Level[];
  query?: Query;
  using: string;
  filter: Predicate;
  threshold?: number;
  limit: number;
  lookup?: { collection: string; vector: string };
}

interface Scored {
  p: StoredPoint;
  score: number;
  orderValue?: number;
}

/** Finds another collection by name (for `lookup_from`). */
export type CollectionLookup = (name: string) => Collection | undefined;

const QUERY_ERROR = 'Expected some form of vector, id, or a type of query';
const UNSUPPORTED = ['discover', 'context', 'relevance_feedback'];

function parseVectorInput(raw: unknown): VectorIn {
  if (Array.isArray(raw)) return { kind: 'raw', raw };
  if (typeof raw === 'number' || typeof raw === 'string')
    return { kind: 'id', id: parsePointId(raw) };
  if (isObject(raw) && 'indices' in raw) throw badInput('Wrong usage of sparse vectors');
  if (isObject(raw) && ('text' in raw || 'image' in raw || 'object' in raw)) {
    throw badRequest('Inference is not available: this Qdrant stand-in stores vectors only');
  }
  throw formatError(QUERY_ERROR);
}

function parseQuery(raw: unknown, ctx: FilterContext): Query | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) {
    try {
      return { kind: 'nearest', input: parseVectorInput(raw) };
    } catch {
      throw formatError(QUERY_ERROR);
    }
  }
  if ('nearest' in raw) {
    if (raw.mmr !== undefined && raw.mmr !== null) {
      throw badRequest('MMR re-ranking is not supported by this Qdrant stand-in');
    }
    return { kind: 'nearest', input: parseVectorInput(raw.nearest) };
  }
  if ('recommend' in raw) {
    const r = raw.recommend;
    if (!isObject(r)) throw formatError(QUERY_ERROR);
    const list = (v: unknown) => (Array.isArray(v) ? v.map(parseVectorInput) : []);
    const strategy = r.strategy ?? 'average_vector';
    if (strategy !== 'average_vector' && strategy !== 'best_score' && strategy !== 'sum_scores') {
      throw formatError(`unknown variant \`${String(strategy)}\``);
    }
    return { kind: 'recommend', positive: list(r.positive), negative: list(r.negative), strategy };
  }
  if ('fusion' in raw) {
    if (raw.fusion !== 'rrf' && raw.fusion !== 'dbsf') {
      throw formatError(`unknown variant \`${String(raw.fusion)}\`, expected \`rrf\` or \`dbsf\``);
    }
    return { kind: 'fusion', method: raw.fusion, k: 2 };
  }
  if ('rrf' in raw) {
    const r = isObject(raw.rrf) ? raw.rrf : {};
    const k = optUint(r.k, 'query.rrf.k', 2, 1);
    const weights = Array.isArray(r.weights) ? r.weights.map((w) => Number(w)) : undefined;
    return { kind: 'fusion', method: 'rrf', k, ...(weights ? { weights } : {}) };
  }
  if ('order_by' in raw) return { kind: 'order_by', order: parseOrderBy(raw.order_by) };
  if ('formula' in raw) return { kind: 'formula', formula: compileFormula(raw, ctx) };
  if ('sample' in raw) {
    if (raw.sample !== 'random') throw formatError(`unknown variant \`${String(raw.sample)}\``);
    return { kind: 'sample' };
  }
  const unsupported = UNSUPPORTED.find((k) => k in raw);
  if (unsupported)
    throw badRequest(`\`${unsupported}\` queries are not supported by this Qdrant stand-in`);
  if ('indices' in raw) throw badInput('Wrong usage of sparse vectors');
  throw formatError(QUERY_ERROR);
}

function parseLookup(raw: unknown): Level['lookup'] {
  if (raw === undefined || raw === null) return undefined;
  const lf = bodyObject(raw, 'LookupLocation');
  const collection = required(optString(lf.collection, 'collection'), 'collection');
  return { collection, vector: optString(lf.vector, 'vector') ?? '' };
}

function parseLevel(raw: unknown, col: Collection, root: boolean): Level {
  const body = bodyObject(raw, root ? 'QueryRequest' : 'Prefetch');
  checkShape(body, SEARCH_PARAMS);
  const prefetchRaw = body.prefetch;
  const prefetchList =
    prefetchRaw === undefined || prefetchRaw === null
      ? []
      : Array.isArray(prefetchRaw)
        ? prefetchRaw
        : [prefetchRaw];
  const query = parseQuery(body.query, col.filterContext);
  const using = optString(body.using, 'using') ?? '';
  const threshold = optNumber(body.score_threshold, 'score_threshold');
  const level: Level = {
    prefetch: prefetchList.map((p) => parseLevel(p, col, false)),
    ...(query ? { query } : {}),
    using,
    filter: col.compileFilter(body.filter),
    ...(threshold === undefined ? {} : { threshold }),
    limit: optUint(body.limit, 'limit', 10, 1),
  };
  const lookup = parseLookup(body.lookup_from);
  if (lookup) level.lookup = lookup;
  if (level.prefetch.length > 0 && !level.query) {
    throw badRequest(
      "A query is needed to merge the prefetches. Can't have prefetches without defining a query.",
    );
  }
  if (level.threshold !== undefined) {
    if (!level.query) {
      throw badRequest(
        "A query is needed to use the score_threshold. Can't have score_threshold without defining a query.",
      );
    }
    if (level.query.kind === 'order_by')
      throw badRequest("Can't use score_threshold with an order_by query.");
  }
  if (level.query?.kind === 'fusion' && using !== '') {
    throw badRequest("Fusion queries cannot be combined with the 'using' field.");
  }
  return level;
}

class Executor {
  constructor(
    private readonly col: Collection,
    private readonly lookup: CollectionLookup,
  ) {}

  private resolve(input: VectorIn, level: Level): Float32Array {
    if (input.kind === 'raw') return this.col.prepareVector(level.using, input.raw);
    const source = level.lookup ? this.lookup(level.lookup.collection) : this.col;
    if (!source) throw collectionNotFound(level.lookup?.collection ?? '');
    const name = level.lookup ? level.lookup.vector : level.using;
    const p = source.points.get(input.id);
    if (!p) throw notFound(`No point with id ${input.id} found`);
    const v = p.vectors.get(name);
    if (!v) throw notFound(`Vector with name ${JSON.stringify(name)} for point not found`);
    const spec = this.col.vectorSpec(level.using);
    if (v.length !== spec.size) {
      throw badInput(`Vector dimension error: expected dim: ${spec.size}, got ${v.length}`);
    }
    return preprocess(spec.distance, v);
  }

  /** Ids used as query inputs in this collection, excluded from results like Qdrant does. */
  referencedIds(level: Level, out = new Set<PointId>()): Set<PointId> {
    const q = level.query;
    const inputs =
      q?.kind === 'nearest'
        ? [q.input]
        : q?.kind === 'recommend'
          ? [...q.positive, ...q.negative]
          : [];
    if (!level.lookup) for (const i of inputs) if (i.kind === 'id') out.add(i.id);
    for (const p of level.prefetch) this.referencedIds(p, out);
    return out;
  }

  run(level: Level, parentFilter: Predicate): Scored[] {
    const filter = both(parentFilter, level.filter);
    const q = level.query;
    let pool: StoredPoint[];
    let sources: Scored[][] = [];
    if (level.prefetch.length > 0) {
      sources = level.prefetch.map((pf) => this.run(pf, filter).slice(0, pf.limit));
      const seen = new Map<PointId, StoredPoint>();
      for (const s of sources) for (const r of s) seen.set(r.p.id, r.p);
      pool = [...seen.values()];
    } else {
      pool = this.col.sortedPoints().filter((p) => filter(this.col.target(p)));
    }
    let scored: Scored[];
    let distance: Distance | undefined;
    if (!q) {
      scored = pool.map((p) => ({ p, score: 0 }));
    } else if (q.kind === 'fusion') {
      if (level.prefetch.length === 0) throw badRequest('cannot apply Fusion without prefetches');
      scored = q.method === 'rrf' ? rrf(sources, q.k, q.weights) : dbsf(sources);
    } else if (q.kind === 'formula') {
      if (level.prefetch.length === 0) throw badRequest('cannot apply Formula without prefetches');
      const tables = scoreTables(sources);
      scored = pool.map((p) => ({
        p,
        score: Math.fround(
          q.formula({ target: this.col.target(p), scores: tables.map((t) => t.get(p.id)) }),
        ),
      }));
      scored.sort((a, b) => b.score - a.score || compareIds(a.p.id, b.p.id));
    } else if (q.kind === 'order_by') {
      scored = orderedRows(pool, q.order).map(({ p, value }) => ({
        p,
        score: 0,
        orderValue: value,
      }));
    } else if (q.kind === 'sample') {
      scored = pool.map((p) => ({ p, score: 0 }));
      for (let i = scored.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [scored[i], scored[j]] = [scored[j] as Scored, scored[i] as Scored];
      }
    } else {
      const spec = this.col.vectorSpec(level.using);
      const scorer = this.vectorScorer(q, level, spec.distance);
      distance =
        q.kind === 'nearest' || q.strategy === 'average_vector' ? spec.distance : undefined;
      scored = [];
      for (const p of pool) {
        const v = p.vectors.get(level.using);
        if (v) scored.push({ p, score: scorer(v) });
      }
      scored.sort((a, b) =>
        distance
          ? compareScores(distance, a.score, b.score) || compareIds(a.p.id, b.p.id)
          : b.score - a.score || compareIds(a.p.id, b.p.id),
      );
    }
    if (level.threshold !== undefined) {
      const t = level.threshold;
      scored = scored.filter((s) =>
        distance ? passesThreshold(distance, s.score, t) : s.score >= Math.fround(t),
      );
    }
    return scored;
  }

  private vectorScorer(
    q: Extract<Query, { kind: 'nearest' | 'recommend' }>,
    level: Level,
    distance: Distance,
  ) {
    if (q.kind === 'nearest') {
      const vec = this.resolve(q.input, level);
      return (v: Float32Array) => score(distance, vec, v);
    }
    const pos = q.positive.map((i) => this.resolve(i, level));
    const neg = q.negative.map((i) => this.resolve(i, level));
    if (q.strategy === 'average_vector') {
      if (pos.length === 0)
        throw badRequest('Positive vectors are required for average_vector strategy');
      const dim = (pos[0] as Float32Array).length;
      const avg = (vs: Float32Array[]) => {
        const out = new Float32Array(dim);
        for (const v of vs)
          for (let i = 0; i < dim; i++) out[i] = (out[i] as number) + (v[i] as number) / vs.length;
        return out;
      };
      const ap = avg(pos);
      let target = ap;
      if (neg.length > 0) {
        const an = avg(neg);
        target = ap.map((x, i) => x + x - (an[i] as number));
      }
      const vec = preprocess(distance, target);
      return (v: Float32Array) => score(distance, vec, v);
    }
    // Custom objectives compare raw similarities (Qdrant's internal, larger-is-better form).
    const sim = (a: Float32Array, b: Float32Array) => {
      const s = score(distance, a, b);
      if (largerIsBetter(distance)) return s;
      return distance === 'Euclid' ? -(s * s) : -s;
    };
    if (q.strategy === 'sum_scores') {
      return (v: Float32Array) =>
        Math.fround(
          pos.reduce((acc, p) => acc + sim(p, v), 0) - neg.reduce((acc, n) => acc + sim(n, v), 0),
        );
    }
    return (v: Float32Array) => {
      const maxPos = Math.max(...pos.map((p) => sim(p, v)));
      const maxNeg = Math.max(...neg.map((n) => sim(n, v)));
      if (neg.length === 0 || maxPos > maxNeg) return maxPos;
      return Math.fround(-(maxNeg * maxNeg));
    };
  }
}

function sortFused(byId: Map<PointId, Scored>): Scored[] {
  return [...byId.values()].sort((a, b) => b.score - a.score || compareIds(a.p.id, b.p.id));
}

/** Qdrant's RRF: each list contributes 1 / ((position + 1) / weight + k - 1). */
function rrf(sources: Scored[][], k: number, weights?: number[]): Scored[] {
  if (weights && weights.length !== sources.length) {
    throw badInput(
      `Number of weights in RRF should match number of pre-fetches: got ${weights.length}, expected ${sources.length}`,
    );
  }
  const byId = new Map<PointId, Scored>();
  sources.forEach((list, i) => {
    const w = weights?.[i] ?? 1;
    list.forEach((s, pos) => {
      const contribution = w <= 0 ? 0 : Math.fround(1 / ((pos + 1) / w + k - 1));
      const prev = byId.get(s.p.id);
      if (prev) prev.score = Math.fround(prev.score + contribution);
      else byId.set(s.p.id, { p: s.p, score: contribution });
    });
  });
  return sortFused(byId);
}

/** Qdrant's distribution-based score fusion: normalise each list by mean ± 3σ, then sum. */
function dbsf(sources: Scored[][]): Scored[] {
  const byId = new Map<PointId, Scored>();
  for (const list of sources) {
    let norm: (s: number) => number = () => 0.5;
    if (list.length >= 2) {
      let mean = 0;
      let agg = 0;
      list.forEach((s, i) => {
        const d0 = s.score - mean;
        mean += d0 / (i + 1);
        agg += d0 * (s.score - mean);
      });
      const std = Math.sqrt(agg / (list.length - 1));
      const lo = mean - 3 * std;
      const hi = mean + 3 * std;
      norm = hi === lo ? () => 0.5 : (s) => (s - lo) / (hi - lo);
    }
    for (const s of list) {
      const v = Math.fround(norm(s.score));
      const prev = byId.get(s.p.id);
      if (prev) prev.score = Math.fround(prev.score + v);
      else byId.set(s.p.id, { p: s.p, score: v });
    }
  }
  return sortFused(byId);
}

interface Rendering {
  withPayload: unknown;
  withVector: unknown;
  offset: number;
}

function render(
  col: Collection,
  rows: Scored[],
  level: Level,
  opts: Rendering,
): Record<string, unknown>[] {
  const payload = parsePayloadSelector(opts.withPayload, false);
  const vector = parseVectorSelector(opts.withVector);
  return rows.slice(opts.offset, opts.offset + level.limit).map((r) => {
    const out: Record<string, unknown> = { id: r.p.id, version: r.p.version, score: f32(r.score) };
    const pl = selectPayload(r.p.payload, payload);
    if (pl !== undefined) out.payload = pl;
    const vec = col.renderVectors(r.p, vector);
    if (vec !== undefined) out.vector = vec;
    if (r.orderValue !== undefined) out.order_value = r.orderValue;
    return out;
  });
}

function execute(col: Collection, lookup: CollectionLookup, level: Level, rendering: Rendering) {
  const exec = new Executor(col, lookup);
  const excluded = exec.referencedIds(level);
  const exclude: Predicate = excluded.size === 0 ? () => true : (t) => !excluded.has(t.id);
  return render(col, exec.run(level, exclude), level, rendering);
}

/** POST /points/query → `{points: ScoredPoint[]}`. */
export function queryPoints(col: Collection, lookup: CollectionLookup, raw: unknown) {
  const body = bodyObject(raw ?? {}, 'QueryRequest');
  const level = parseLevel(body, col, true);
  const points = execute(col, lookup, level, {
    withPayload: body.with_payload,
    withVector: body.with_vector ?? body.with_vectors,
    offset: optUint(body.offset, 'offset', 0),
  });
  return { points };
}

/** POST /points/search (deprecated in Qdrant, still served) → ScoredPoint[]. */
export function searchPoints(col: Collection, lookup: CollectionLookup, raw: unknown) {
  const body = bodyObject(raw, 'SearchRequest');
  checkShape(body, SEARCH_PARAMS);
  const named = required(body.vector, 'vector');
  let using = '';
  let vector: unknown = named;
  if (isObject(named)) {
    using = String(required(named.name, 'name'));
    vector = required(named.vector, 'vector');
    if (isObject(vector) && 'indices' in vector) throw badInput('Wrong usage of sparse vectors');
  }
  const limit = optUint(required(body.limit, 'limit'), 'limit', 10, 1);
  const threshold = optNumber(body.score_threshold, 'score_threshold');
  const level: Level = {
    prefetch: [],
    query: { kind: 'nearest', input: { kind: 'raw', raw: vector } },
    using,
    filter: col.compileFilter(body.filter),
    ...(threshold === undefined ? {} : { threshold }),
    limit,
  };
  return execute(col, lookup, level, {
    withPayload: body.with_payload,
    withVector: body.with_vector ?? body.with_vectors,
    offset: optUint(body.offset, 'offset', 0),
  });
}

/** POST /points/recommend (deprecated in Qdrant, still served) → ScoredPoint[]. */
export function recommendPoints(col: Collection, lookup: CollectionLookup, raw: unknown) {
  const body = bodyObject(raw, 'RecommendRequest');
  checkShape(body, SEARCH_PARAMS);
  const recommend = parseQuery(
    { recommend: { positive: body.positive, negative: body.negative, strategy: body.strategy } },
    col.filterContext,
  );
  const threshold = optNumber(body.score_threshold, 'score_threshold');
  const lookupFrom = parseLookup(body.lookup_from);
  const level: Level = {
    prefetch: [],
    ...(recommend ? { query: recommend } : {}),
    using: optString(body.using, 'using') ?? '',
    filter: col.compileFilter(body.filter),
    ...(threshold === undefined ? {} : { threshold }),
    limit: optUint(required(body.limit, 'limit'), 'limit', 10, 1),
    ...(lookupFrom ? { lookup: lookupFrom } : {}),
  };
  return execute(col, lookup, level, {
    withPayload: body.with_payload,
    withVector: body.with_vector ?? body.with_vectors,
    offset: optUint(body.offset, 'offset', 0),
  });
}

type Single = (col: Collection, lookup: CollectionLookup, raw: unknown) => unknown;

/** The `/batch` form of a search-like endpoint: `{searches: [...]}` → one answer each. */
export function batchOf(single: Single, what: string): Single {
  return (col, lookup, raw) => {
    const body = bodyObject(raw, what);
    const searches = required(body.searches, 'searches');
    if (!Array.isArray(searches))
      throw formatError('invalid type: expected a sequence for `searches`');
    return searches.map((s) => single(col, lookup, s));
  };
}
