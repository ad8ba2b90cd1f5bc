/**
 * Collection configuration: parsing a `CreateCollection` body (single unnamed or named dense
 * vectors, Cosine/Euclid/Dot/Manhattan), merging the optional hnsw/optimizer/wal diffs over
 * Qdrant's defaults, validating collection names, and rendering `CollectionInfo`.
 */
import { type Distance, isDistance } from './distance.js';
import { badInput, formatError, validationError } from './errors.js';
import { isObject } from './payload.js';
import { CREATE_COLLECTION, checkShape, UPDATE_COLLECTION, VECTOR_PARAMS } from './validate.js';

export interface VectorSpec {
  size: number;
  distance: Distance;
  /** Other `VectorParams` fields as given (on_disk, datatype, hnsw_config…), echoed back. */
  extra: Record<string, unknown>;
}

export interface CollectionConfig {
  /** false: one unnamed vector, stored under the name ''. */
  named: boolean;
  vectors: Record<string, VectorSpec>;
  params: Record<string, unknown>;
  hnsw_config: Record<string, unknown>;
  optimizer_config: Record<string, unknown>;
  wal_config: Record<string, unknown>;
  quantization_config: unknown;
  strict_mode_config: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

export interface PayloadIndex {
  data_type: string;
  params?: Record<string, unknown>;
}

const HNSW_DEFAULT = {
  m: 16,
  ef_construct: 100,
  full_scan_threshold: 10000,
  max_indexing_threads: 0,
  on_disk: false,
};
const OPTIMIZER_DEFAULT = {
  deleted_threshold: 0.2,
  vacuum_min_vector_number: 1000,
  default_segment_number: 0,
  max_segment_size: null,
  memmap_threshold: null,
  indexing_threshold: 10000,
  flush_interval_sec: 5,
  max_optimization_threads: null,
};
const WAL_DEFAULT = { wal_capacity_mb: 32, wal_segments_ahead: 0, wal_retain_closed: 1 };

const FORBIDDEN_NAME_CHARS = ['<', '>', ':', '"', '/', '\\', '|', '?', '*', '\0'];

export function validateCollectionName(name: string): void {
  if (name.length === 0 || name.length > 255) {
    throw validationError('name', 'length must be between 1 and 255', 'path parameters');
  }
  for (const ch of FORBIDDEN_NAME_CHARS) {
    if (name.includes(ch)) {
      throw validationError(
        'name',
        `collection name cannot contain "${ch}" char`,
        'path parameters',
      );
    }
  }
}

const VECTORS_ERROR = 'data did not match any variant of untagged enum VectorsConfig';

function parseVectorParams(raw: unknown, field: string): VectorSpec {
  if (!isObject(raw)) throw formatError(VECTORS_ERROR);
  const { size, distance, ...extra } = raw;
  if (typeof size !== 'number' || !Number.isInteger(size) || !isDistance(distance)) {
    throw formatError(VECTORS_ERROR);
  }
  if (size < 1)
    throw validationError(`${field}.size`, `value ${size} invalid, must be 1 or larger`);
  checkShape(extra, VECTOR_PARAMS, `${field}.`);
  if (extra.multivector_config !== undefined && extra.multivector_config !== null) {
    throw badInput('multivector_config is not supported by this Qdrant stand-in');
  }
  return { size, distance, extra };
}

function merged(base: Record<string, unknown>, diff: unknown): Record<string, unknown> {
  const out = { ...base };
  if (isObject(diff)) for (const [k, v] of Object.entries(diff)) if (v !== undefined) out[k] = v;
  return out;
}

export function parseCreateCollection(body: Record<string, unknown>): CollectionConfig {
  checkShape(body, CREATE_COLLECTION);
  const vectors: Record<string, VectorSpec> = {};
  let named = true;
  const raw = body.vectors;
  if (isObject(raw) && ('size' in raw || 'distance' in raw)) {
    vectors[''] = parseVectorParams(raw, 'vectors');
    named = false;
  } else if (isObject(raw)) {
    for (const [name, params] of Object.entries(raw)) {
      vectors[name] = parseVectorParams(params, `vectors.${name}`);
    }
  } else if (raw !== undefined && raw !== null) {
    throw formatError(VECTORS_ERROR);
  }
  if (isObject(body.sparse_vectors) && Object.keys(body.sparse_vectors).length > 0) {
    throw badInput('sparse vectors are not supported by this Qdrant stand-in');
  }
  const num = (v: unknown, dflt: number) => (typeof v === 'number' ? v : dflt);
  return {
    named,
    vectors,
    params: {
      shard_number: num(body.shard_number, 1),
      replication_factor: num(body.replication_factor, 1),
      write_consistency_factor: num(body.write_consistency_factor, 1),
      on_disk_payload: typeof body.on_disk_payload === 'boolean' ? body.on_disk_payload : true,
    },
    hnsw_config: merged(HNSW_DEFAULT, body.hnsw_config),
    optimizer_config: merged(OPTIMIZER_DEFAULT, body.optimizers_config),
    wal_config: merged(WAL_DEFAULT, body.wal_config),
    quantization_config: body.quantization_config ?? null,
    strict_mode_config: merged({ enabled: false }, body.strict_mode_config),
    ...(isObject(body.metadata) ? { metadata: body.metadata } : {}),
  };
}

/** PATCH /collections/{name}: the subset of updates that only change reported configuration. */
export function applyCollectionUpdate(cfg: CollectionConfig, body: Record<string, unknown>): void {
  checkShape(body, UPDATE_COLLECTION);
  const vectorDiffs = isObject(body.vectors) ? Object.entries(body.vectors) : [];
  for (const [name, diff] of vectorDiffs) {
    if (isObject(diff)) checkShape(diff, VECTOR_PARAMS, `vectors.${name}.`);
    if (!cfg.vectors[name]) throw badInput(`Not existing vector name error: ${name}`);
  }
  cfg.hnsw_config = merged(cfg.hnsw_config, body.hnsw_config);
  cfg.optimizer_config = merged(cfg.optimizer_config, body.optimizers_config);
  cfg.params = merged(cfg.params, body.params);
  cfg.strict_mode_config = merged(cfg.strict_mode_config, body.strict_mode_config);
  if (body.quantization_config !== undefined) cfg.quantization_config = body.quantization_config;
  if (isObject(body.metadata)) cfg.metadata = { ...(cfg.metadata ?? {}), ...body.metadata };
  for (const [name, diff] of vectorDiffs) {
    const spec = cfg.vectors[name];
    if (spec && isObject(diff)) Object.assign(spec.extra, diff);
  }
}

function renderVector(spec: VectorSpec): Record<string, unknown> {
  return { size: spec.size, distance: spec.distance, ...spec.extra };
}

export function renderCollectionInfo(
  cfg: CollectionConfig,
  pointsCount: number,
  payloadSchema: Record<string, unknown>,
): Record<string, unknown> {
  const vectors = cfg.named
    ? Object.fromEntries(Object.entries(cfg.vectors).map(([n, s]) => [n, renderVector(s)]))
    : renderVector(cfg.vectors[''] as VectorSpec);
  return {
    status: 'green',
    optimizer_status: 'ok',
    indexed_vectors_count: 0,
    points_count: pointsCount,
    segments_count: 1,
    config: {
      params: { vectors, ...cfg.params },
      hnsw_config: cfg.hnsw_config,
      optimizer_config: cfg.optimizer_config,
      wal_config: cfg.wal_config,
      quantization_config: cfg.quantization_config,
      strict_mode_config: cfg.strict_mode_config,
      ...(cfg.metadata ? { metadata: cfg.metadata } : {}),
    },
    payload_schema: payloadSchema,
  };
}

const INDEX_TYPES = ['keyword', 'integer', 'float', 'geo', 'text', 'bool', 'datetime', 'uuid'];

export function parsePayloadIndex(raw: unknown): PayloadIndex {
  if (typeof raw === 'string' && INDEX_TYPES.includes(raw)) return { data_type: raw };
  if (isObject(raw) && typeof raw.type === 'string' && INDEX_TYPES.includes(raw.type)) {
    return { data_type: raw.type, params: raw };
  }
  throw formatError('data did not match any variant of untagged enum PayloadFieldSchema');
}

export function hasRangeIndex(index: PayloadIndex | undefined): boolean {
  if (!index) return false;
  if (index.data_type === 'float' || index.data_type === 'datetime') return true;
  return index.data_type === 'integer' && index.params?.range !== false;
}
