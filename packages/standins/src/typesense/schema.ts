/**
 * Collection schemas: parses a `POST /collections` body into CollectionMeta with Typesense's
 * defaults and error messages, and renders the collection summary that `GET /collections/{name}`
 * returns. Types this stand-in cannot index (geopoint, object, image, ...) are refused with a 400
 * that says so rather than accepted and silently ignored.
 */
import { badRequest } from './errors.js';
import {
  type CollectionMeta,
  type FieldDef,
  type FieldType,
  isDynamicFieldName,
  isNumericType,
  SCALAR_TYPES,
} from './types.js';

const KNOWN_TYPES = new Set<string>([
  ...SCALAR_TYPES,
  ...SCALAR_TYPES.map((t) => `${t}[]`),
  'auto',
  'string*',
]);
const TYPESENSE_ONLY_TYPES = new Set([
  'geopoint',
  'geopoint[]',
  'geopolygon',
  'object',
  'object[]',
  'image',
]);

const FIELDS_FORMAT_ERROR =
  'Wrong format for `fields`. It should be an array of objects containing `name`, `type`, `optional` and `facet` properties.';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function boolProp(
  raw: Record<string, unknown>,
  key: string,
  name: string,
  fallback: boolean,
): boolean {
  const value = raw[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw badRequest(`The \`${key}\` property of the field \`${name}\` should be a boolean.`);
  }
  return value;
}

function charList(req: Record<string, unknown>, key: string): string[] {
  const value = req[key];
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((c) => typeof c !== 'string' || c.length !== 1)) {
    throw badRequest(`\`${key}\` should be an array of character symbols.`);
  }
  return value as string[];
}

/** Parses one entry of `fields`; shared with schema alteration. */
export function parseField(raw: unknown): FieldDef {
  if (!isObject(raw) || typeof raw.name !== 'string' || typeof raw.type !== 'string') {
    throw badRequest(FIELDS_FORMAT_ERROR);
  }
  const name = raw.name;
  const type = raw.type;
  if (TYPESENSE_ONLY_TYPES.has(type)) {
    throw badRequest(
      `Field \`${name}\` has type \`${type}\`, which the embedded Typesense stand-in does not support.`,
    );
  }
  if (!KNOWN_TYPES.has(type)) {
    throw badRequest(
      `Field \`${name}\` has an invalid data type \`${type}\`, see docs for supported data types.`,
    );
  }
  if (isDynamicFieldName(name)) {
    try {
      new RegExp(name);
    } catch {
      throw badRequest(`Field \`${name}\` has an invalid regular expression as its name.`);
    }
  }
  if ((type === 'auto' || type === 'string*') && !isDynamicFieldName(name)) {
    throw badRequest(`Field \`${name}\` has an invalid type.`);
  }
  if (name === 'id' && type !== 'string') {
    throw badRequest('Field `id` must have `string` type.');
  }
  const fieldType = type as FieldType;
  const sortable = isNumericType(fieldType) || fieldType === 'bool';
  return {
    name,
    type: fieldType,
    facet: boolProp(raw, 'facet', name, false),
    optional: boolProp(raw, 'optional', name, isDynamicFieldName(name)),
    index: boolProp(raw, 'index', name, true),
    sort: boolProp(raw, 'sort', name, sortable && !fieldType.endsWith('[]')),
    infix: boolProp(raw, 'infix', name, false),
    locale: typeof raw.locale === 'string' ? raw.locale : '',
    stem: boolProp(raw, 'stem', name, false),
    store: boolProp(raw, 'store', name, true),
  };
}

/** Validates a collection-creation body; `created_at` is stamped here. */
export function parseCollectionSchema(body: unknown, now: number): CollectionMeta {
  if (!isObject(body)) throw badRequest('Bad JSON.');
  if (body.name === undefined) throw badRequest('Parameter `name` is required.');
  if (typeof body.name !== 'string' || body.name === '') {
    throw badRequest('Parameter `name` must be a non-empty string.');
  }
  if (body.fields === undefined) throw badRequest('Parameter `fields` is required.');
  const dsf = body.default_sorting_field ?? '';
  if (typeof dsf !== 'string') {
    throw badRequest(
      '`default_sorting_field` should be a string. It should be the name of an int32/float field.',
    );
  }
  const nested = body.enable_nested_fields ?? false;
  if (typeof nested !== 'boolean') throw badRequest('`enable_nested_fields` should be a boolean.');
  if (nested) {
    throw badRequest('Nested fields are not supported by the embedded Typesense stand-in.');
  }
  const tokenSeparators = charList(body, 'token_separators');
  const symbolsToIndex = charList(body, 'symbols_to_index');
  if (!Array.isArray(body.fields) || body.fields.length === 0) {
    throw badRequest(
      'The `fields` value should be an array of objects containing `name`, `type` and optionally, `facet` properties.',
    );
  }
  if (body.metadata !== undefined && !isObject(body.metadata)) {
    throw badRequest('The `metadata` value should be an object.');
  }
  if (dsf === 'id') throw badRequest('Invalid `default_sorting_field` value: cannot be `id`.');
  const fields = body.fields.map(parseField).filter((f) => f.name !== 'id');
  const names = new Set<string>();
  for (const field of fields) {
    if (names.has(field.name)) throw badRequest('There are duplicate field names in the schema.');
    names.add(field.name);
  }
  if (dsf !== '') {
    const sortField = fields.find((f) => f.name === dsf);
    if (!sortField) {
      throw badRequest(
        `Default sorting field is defined as \`${dsf}\` but is not found in the schema.`,
      );
    }
    if (
      !(isNumericType(sortField.type) || sortField.type === 'bool') ||
      sortField.type.endsWith('[]')
    ) {
      throw badRequest(`Default sorting field \`${dsf}\` is not a sortable type.`);
    }
  }
  const meta: CollectionMeta = {
    name: body.name,
    fields,
    default_sorting_field: dsf,
    token_separators: tokenSeparators,
    symbols_to_index: symbolsToIndex,
    enable_nested_fields: false,
    created_at: now,
  };
  if (isObject(body.metadata)) meta.metadata = body.metadata;
  return meta;
}

export function fieldJson(field: FieldDef): Record<string, unknown> {
  return {
    facet: field.facet,
    index: field.index,
    infix: field.infix,
    locale: field.locale,
    name: field.name,
    optional: field.optional,
    sort: field.sort,
    stem: field.stem,
    stem_dictionary: '',
    store: field.store,
    type: field.type,
  };
}

/** The collection summary (`get_summary_json`) of Typesense. */
export function summaryJson(meta: CollectionMeta, numDocuments: number): Record<string, unknown> {
  const summary: Record<string, unknown> = {
    created_at: meta.created_at,
    default_sorting_field: meta.default_sorting_field,
    enable_nested_fields: meta.enable_nested_fields,
    fields: meta.fields.map(fieldJson),
    name: meta.name,
    num_documents: numDocuments,
    symbols_to_index: meta.symbols_to_index,
    token_separators: meta.token_separators,
  };
  if (meta.metadata) summary.metadata = meta.metadata;
  return summary;
}
