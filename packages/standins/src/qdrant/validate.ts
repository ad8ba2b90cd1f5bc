/**
 * Request-body checks in the order Qdrant makes them: serde first (a wrong JSON type, a negative
 * or fractional count → 400 `Format error in JSON body`), then the validator's ranges (→ 422
 * `Validation error in JSON body: [path: value V invalid, must be MIN or larger]`), both before
 * the handler looks at any collection. The shapes and bounds are those of Qdrant 1.18's OpenAPI
 * schema; `null` counts as absent, unknown fields are ignored, as serde does here.
 */
import { formatError, QdrantError, validationError } from './errors.js';
import { describe } from './parse.js';
import { isObject } from './payload.js';

type Scalar =
  | { kind: 'uint'; format: 'usize' | 'u32' | 'u64'; min?: number }
  | { kind: 'float'; min?: number; max?: number }
  | { kind: 'bool' };
type Shape = { [field: string]: Scalar | { struct: Shape } };

const uint = (min?: number, format: 'usize' | 'u32' | 'u64' = 'usize'): Scalar =>
  min === undefined ? { kind: 'uint', format } : { kind: 'uint', format, min };
const u32 = (min?: number) => uint(min, 'u32');
const float = (min?: number, max?: number): Scalar => ({
  kind: 'float',
  ...(min === undefined ? {} : { min }),
  ...(max === undefined ? {} : { max }),
});
const bool: Scalar = { kind: 'bool' };

const HNSW: Shape = {
  m: uint(),
  ef_construct: uint(4),
  full_scan_threshold: uint(10),
  max_indexing_threads: uint(),
  on_disk: bool,
  payload_m: uint(),
  inline_storage: bool,
};
const WAL: Shape = {
  wal_capacity_mb: uint(1),
  wal_segments_ahead: uint(),
  wal_retain_closed: uint(),
};
const OPTIMIZERS: Shape = {
  deleted_threshold: float(0, 1),
  vacuum_min_vector_number: uint(100),
  default_segment_number: uint(),
  max_segment_size: uint(1),
  memmap_threshold: uint(),
  indexing_threshold: uint(),
  flush_interval_sec: uint(undefined, 'u64'),
  prevent_unoptimized: bool,
};

export const CREATE_COLLECTION: Shape = {
  shard_number: u32(1),
  replication_factor: u32(1),
  write_consistency_factor: u32(1),
  on_disk_payload: bool,
  hnsw_config: { struct: HNSW },
  wal_config: { struct: WAL },
  optimizers_config: { struct: OPTIMIZERS },
};

export const UPDATE_COLLECTION: Shape = {
  params: {
    struct: {
      replication_factor: u32(1),
      write_consistency_factor: u32(1),
      read_fan_out_factor: u32(),
      read_fan_out_delay_ms: uint(undefined, 'u64'),
      on_disk_payload: bool,
    },
  },
  hnsw_config: { struct: HNSW },
  optimizers_config: { struct: OPTIMIZERS },
};

/** `VectorParams` / `VectorParamsDiff` extras beside size and distance. */
export const VECTOR_PARAMS: Shape = { hnsw_config: { struct: HNSW }, on_disk: bool };

/** `SearchParams`, the `params` of search, recommend, query and each prefetch. */
export const SEARCH_PARAMS: Shape = {
  params: {
    struct: {
      hnsw_ef: uint(),
      exact: bool,
      indexed_only: bool,
      quantization: {
        struct: { ignore: bool, rescore: bool, oversampling: float(1) },
      },
      acorn: { struct: { enable: bool, max_selectivity: float(0, 1) } },
    },
  },
};

function typeError(v: unknown, s: Scalar, path: string): QdrantError | undefined {
  if (s.kind === 'bool') {
    return typeof v === 'boolean'
      ? undefined
      : formatError(`invalid type: ${describe(v)}, expected a boolean for \`${path}\``);
  }
  if (s.kind === 'float') {
    return typeof v === 'number'
      ? undefined
      : formatError(`invalid type: ${describe(v)}, expected f64 for \`${path}\``);
  }
  if (typeof v === 'number' && Number.isInteger(v)) {
    return v < 0
      ? formatError(`invalid value: integer \`${v}\`, expected ${s.format} for \`${path}\``)
      : undefined;
  }
  return formatError(`invalid type: ${describe(v)}, expected ${s.format} for \`${path}\``);
}

function rangeError(v: number, s: Scalar, path: string): QdrantError | undefined {
  if (s.kind === 'bool') return undefined;
  const min = s.min;
  const max = s.kind === 'float' ? s.max : undefined;
  if ((min === undefined || v >= min) && (max === undefined || v <= max)) return undefined;
  const bound =
    min !== undefined && max !== undefined
      ? `must be from ${min} to ${max}`
      : min !== undefined
        ? `must be ${min} or larger`
        : `must be ${max} or smaller`;
  return validationError(path, `value ${v} invalid, ${bound}`);
}

function walk(
  body: Record<string, unknown>,
  shape: Shape,
  prefix: string,
  visit: (v: unknown, s: Scalar, path: string) => QdrantError | undefined,
): QdrantError | undefined {
  for (const [field, rule] of Object.entries(shape)) {
    const v = body[field];
    if (v === undefined || v === null) continue;
    const path = `${prefix}${field}`;
    let err: QdrantError | undefined;
    if ('struct' in rule) {
      err = isObject(v)
        ? walk(v, rule.struct, `${path}.`, visit)
        : formatError(`invalid type: ${describe(v)}, expected a struct for \`${path}\``);
    } else err = visit(v, rule, path);
    if (err) return err;
  }
  return undefined;
}

/** Throws Qdrant's answer for the first mistake in `body` against `shape`. */
export function checkShape(body: Record<string, unknown>, shape: Shape, prefix = ''): void {
  const err =
    walk(body, shape, prefix, typeError) ??
    walk(body, shape, prefix, (v, s, path) => rangeError(v as number, s, path));
  if (err) throw err;
}

/** `?timeout=` as Qdrant's query extractor reads it: a u64 of at least 1. */
export function checkTimeout(query: URLSearchParams): void {
  const raw = query.get('timeout');
  if (raw === null) return;
  if (!/^\d+$/.test(raw)) {
    throw new QdrantError(400, 'Query deserialize error: invalid digit found in string');
  }
  const v = Number(raw);
  if (v < 1) {
    throw validationError('timeout', `value ${v} invalid, must be 1 or larger`, 'query parameters');
  }
}
