/**
 * Shared data shapes of the Typesense stand-in: field definitions, collection metadata and
 * documents, as they appear on the wire (snake_case keys follow the Typesense API).
 */

export const SCALAR_TYPES = ['string', 'int32', 'int64', 'float', 'bool'] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];
export type ArrayType = `${ScalarType}[]`;
/** `auto` and `string*` are only valid on regex (dynamic) fields such as `.*`. */
export type FieldType = ScalarType | ArrayType | 'auto' | 'string*';

export interface FieldDef {
  name: string;
  type: FieldType;
  facet: boolean;
  optional: boolean;
  index: boolean;
  sort: boolean;
  infix: boolean;
  locale: string;
  stem: boolean;
  store: boolean;
}

export interface CollectionMeta {
  name: string;
  fields: FieldDef[];
  default_sorting_field: string;
  token_separators: string[];
  symbols_to_index: string[];
  enable_nested_fields: boolean;
  metadata?: Record<string, unknown>;
  /** Unix seconds, as Typesense reports it. */
  created_at: number;
}

export type Doc = Record<string, unknown> & { id: string };

export type DirtyValues = 'coerce_or_reject' | 'coerce_or_drop' | 'drop' | 'reject';
export type IndexAction = 'create' | 'upsert' | 'update' | 'emplace';

export function isArrayType(type: FieldType): type is ArrayType {
  return type.endsWith('[]');
}

export function elementType(type: FieldType): ScalarType | 'auto' | 'string*' {
  return (isArrayType(type) ? type.slice(0, -2) : type) as ScalarType | 'auto' | 'string*';
}

export function isStringType(type: FieldType): boolean {
  return type === 'string' || type === 'string[]' || type === 'string*';
}

export function isNumericType(type: FieldType): boolean {
  const t = elementType(type);
  return t === 'int32' || t === 'int64' || t === 'float';
}

/** Regex (dynamic) field names: any name with a `.*` in it, as in Typesense. */
export function isDynamicFieldName(name: string): boolean {
  return name.includes('.*');
}
