/**
 * Document validation against a collection schema, following Typesense's validator: required
 * fields must be present (and non-null), values must have the declared type, and the `dirty_values`
 * policy decides between coercing (`"12"` into an int32), dropping or rejecting a bad value. The
 * default policy is `reject`, or `coerce_or_reject` when the schema has dynamic (`.*`) fields.
 * Values for dynamic fields create concrete fields (the type is inferred for `auto`).
 */
import { badRequest } from './errors.js';
import {
  type CollectionMeta,
  type DirtyValues,
  elementType,
  type FieldDef,
  type FieldType,
  isArrayType,
  isDynamicFieldName,
  type ScalarType,
} from './types.js';

export type ValidationMode = 'full' | 'partial';

export interface ValidationResult {
  /** The document with coerced values and dropped entries removed. */
  doc: Record<string, unknown>;
  /** Concrete fields created from dynamic (`.*`) schema fields. */
  newFields: FieldDef[];
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

const DIRTY_VALUES = new Set<string>(['coerce_or_reject', 'coerce_or_drop', 'drop', 'reject']);

/** Resolves the `dirty_values` parameter the way `parse_dirty_values_option` does. */
export function resolveDirtyValues(meta: CollectionMeta, raw: string | undefined): DirtyValues {
  const value = (raw ?? '').toLowerCase();
  if (DIRTY_VALUES.has(value)) return value as DirtyValues;
  return meta.fields.some((f) => isDynamicFieldName(f.name)) ? 'coerce_or_reject' : 'reject';
}

const DROP = Symbol('drop');
type Coerced = unknown | typeof DROP;

function article(type: ScalarType): string {
  return type === 'int32' || type === 'int64' ? 'an' : 'a';
}

function typeError(field: FieldDef, type: ScalarType, inArray: boolean) {
  const suffix = inArray ? 'an array of' : article(type);
  return badRequest(`Field \`${field.name}\` must be ${suffix} ${type}.`);
}

function isIntegerString(value: string): boolean {
  return /^-?\d+$/.test(value.trim());
}

function isFloatString(value: string): boolean {
  return value.trim() !== '' && Number.isFinite(Number(value));
}

/** Tries to coerce a value into the scalar type; undefined when it cannot be coerced. */
function coerceScalar(value: unknown, type: ScalarType): unknown {
  switch (type) {
    case 'string':
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      return undefined;
    case 'int32':
    case 'int64':
      if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value);
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (typeof value === 'string' && isIntegerString(value)) return Number.parseInt(value, 10);
      return undefined;
    case 'float':
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (typeof value === 'string' && isFloatString(value)) return Number(value);
      return undefined;
    case 'bool':
      if (value === 'true' || value === 1) return true;
      if (value === 'false' || value === 0) return false;
      return undefined;
  }
}

function hasType(value: unknown, type: ScalarType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'int32':
    case 'int64':
      return typeof value === 'number' && Number.isInteger(value);
    case 'float':
      return typeof value === 'number' && Number.isFinite(value);
    case 'bool':
      return typeof value === 'boolean';
  }
}

function checkScalar(
  field: FieldDef,
  type: ScalarType,
  value: unknown,
  dirty: DirtyValues,
  inArray: boolean,
): Coerced {
  let out = value;
  if (!hasType(value, type)) {
    const canDrop = field.optional && (dirty === 'drop' || dirty === 'coerce_or_drop');
    if (dirty === 'reject' || dirty === 'drop') {
      if (canDrop) return DROP;
      throw typeError(field, type, inArray);
    }
    out = coerceScalar(value, type);
    if (out === undefined) {
      if (canDrop) return DROP;
      throw typeError(field, type, inArray);
    }
  }
  if (type === 'int32' && ((out as number) > INT32_MAX || (out as number) < INT32_MIN)) {
    if (field.optional && dirty !== 'reject' && dirty !== 'coerce_or_drop') return DROP;
    throw badRequest(`Field \`${field.name}\` exceeds maximum value of int32.`);
  }
  return out;
}

function checkValue(field: FieldDef, type: FieldType, value: unknown, dirty: DirtyValues): Coerced {
  const scalar = elementType(type) as ScalarType;
  if (!isArrayType(type)) return checkScalar(field, scalar, value, dirty, false);
  if (!Array.isArray(value)) {
    if (field.optional && (dirty === 'drop' || dirty === 'coerce_or_drop')) return DROP;
    throw badRequest(`Field \`${field.name}\` must be an array.`);
  }
  const out: unknown[] = [];
  for (const item of value) {
    const checked = checkScalar(field, scalar, item, dirty, true);
    if (checked !== DROP) out.push(checked);
  }
  return out;
}

/** Infers the concrete type of a value for an `auto` or `string*` dynamic field. */
function inferType(value: unknown, dynamicType: FieldType): FieldType | undefined {
  if (dynamicType === 'string*') return Array.isArray(value) ? 'string[]' : 'string';
  if (dynamicType !== 'auto') return dynamicType;
  const scalarOf = (v: unknown): ScalarType | undefined => {
    if (typeof v === 'string') return 'string';
    if (typeof v === 'boolean') return 'bool';
    if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float';
    return undefined;
  };
  if (Array.isArray(value)) {
    const first = value.find((v) => v !== null);
    const t = first === undefined ? undefined : scalarOf(first);
    return t ? `${t}[]` : undefined;
  }
  return scalarOf(value);
}

const patterns = new Map<string, RegExp>();

/** The anchored regex of a dynamic field name (validated when the schema is parsed). */
export function dynamicPattern(name: string): RegExp {
  let pattern = patterns.get(name);
  if (!pattern) {
    pattern = new RegExp(`^(?:${name})$`);
    patterns.set(name, pattern);
  }
  return pattern;
}

function dynamicMatch(meta: CollectionMeta, key: string): FieldDef | undefined {
  for (const field of meta.fields) {
    if (!isDynamicFieldName(field.name)) continue;
    if (dynamicPattern(field.name).test(key)) return field;
  }
  return undefined;
}

/**
 * Validates and coerces a document. `full` checks every declared field (create, upsert);
 * `partial` only the fields present (update). `id` is checked by the caller.
 */
export function validateDocument(
  meta: CollectionMeta,
  input: Record<string, unknown>,
  mode: ValidationMode,
  dirty: DirtyValues,
): ValidationResult {
  const doc: Record<string, unknown> = { ...input };
  const newFields: FieldDef[] = [];
  const declared = new Map(meta.fields.map((f) => [f.name, f]));
  for (const field of meta.fields) {
    if (isDynamicFieldName(field.name)) continue;
    const present = Object.hasOwn(doc, field.name) && doc[field.name] !== null;
    if (!present) {
      if (mode === 'partial' && !Object.hasOwn(doc, field.name)) continue;
      if (!field.optional) {
        if (field.name === meta.default_sorting_field) {
          throw badRequest(
            `Field \`${field.name}\` has been declared as a default sorting field, but is not found in the document.`,
          );
        }
        throw badRequest(
          `Field \`${field.name}\` has been declared in the schema, but is not found in the document.`,
        );
      }
      continue;
    }
    const checked = checkValue(field, field.type, doc[field.name], dirty);
    if (checked === DROP) delete doc[field.name];
    else doc[field.name] = checked;
  }
  for (const [key, value] of Object.entries(doc)) {
    if (key === 'id' || declared.has(key) || value === null) continue;
    const dynamic = dynamicMatch(meta, key);
    if (!dynamic) continue;
    const type = inferType(value, dynamic.type);
    if (!type) continue;
    const concrete: FieldDef = {
      ...dynamic,
      name: key,
      type,
      optional: true,
      sort: dynamic.sort && !isArrayType(type) && type !== 'string',
    };
    const checked = checkValue(concrete, type, value, dirty);
    if (checked === DROP) delete doc[key];
    else doc[key] = checked;
    declared.set(key, concrete);
    newFields.push(concrete);
  }
  return { doc, newFields };
}
