/**
 * One collection in memory: its schema, its documents (keyed by id, ordered by an internal
 * sequence id that grows with every write, like Typesense's seq_id) and an inverted index per
 * indexed string field (term -> seq id -> term frequency) with the per-document token lists that
 * ranking and highlighting need. Documents are kept with their keys sorted, as Typesense returns
 * them. Writes go through create/upsert/update/emplace/remove, which apply
 * Typesense's id rules and the schema validator.
 */
import { ApiError, badRequest } from './errors.js';
import { parseField } from './schema.js';
import { type Token, tokenize } from './tokenizer.js';
import {
  type CollectionMeta,
  type DirtyValues,
  type Doc,
  type FieldDef,
  type IndexAction,
  isDynamicFieldName,
  isStringType,
} from './types.js';
import { validateDocument } from './validate.js';

export interface StoredDoc {
  seq: number;
  doc: Doc;
  /** Tokens of each indexed string field: one list per value (a single one for `string`). */
  tokens: Map<string, Token[][]>;
}

export class FieldIndex {
  readonly postings = new Map<string, Map<number, number>>();
  readonly lengths = new Map<number, number>();
  totalLength = 0;
  private sorted: string[] | null = null;

  add(seq: number, values: Token[][]): void {
    let length = 0;
    for (const tokens of values) {
      for (const token of tokens) {
        let posting = this.postings.get(token.text);
        if (!posting) {
          posting = new Map();
          this.postings.set(token.text, posting);
          this.sorted = null;
        }
        posting.set(seq, (posting.get(seq) ?? 0) + 1);
        length++;
      }
    }
    this.lengths.set(seq, length);
    this.totalLength += length;
  }

  remove(seq: number, values: Token[][]): void {
    for (const tokens of values) {
      for (const token of tokens) {
        const posting = this.postings.get(token.text);
        if (!posting) continue;
        posting.delete(seq);
        if (posting.size === 0) {
          this.postings.delete(token.text);
          this.sorted = null;
        }
      }
    }
    this.totalLength -= this.lengths.get(seq) ?? 0;
    this.lengths.delete(seq);
  }

  /** All terms in lexicographic order (rebuilt lazily after the vocabulary changes). */
  terms(): readonly string[] {
    if (!this.sorted) this.sorted = [...this.postings.keys()].sort();
    return this.sorted;
  }

  /** Terms that start with the prefix, found by binary search over the sorted vocabulary. */
  termsWithPrefix(prefix: string): string[] {
    const all = this.terms();
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((all[mid] as string) < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: string[] = [];
    for (let i = lo; i < all.length && (all[i] as string).startsWith(prefix); i++) {
      out.push(all[i] as string);
    }
    return out;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A copy with object keys in sorted order, at every depth. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
  return out;
}

export class Collection {
  readonly byId = new Map<string, StoredDoc>();
  readonly bySeq = new Map<number, StoredDoc>();
  readonly indexes = new Map<string, FieldIndex>();
  nextSeq = 0;

  constructor(public meta: CollectionMeta) {
    for (const field of meta.fields) this.ensureIndex(field);
  }

  get size(): number {
    return this.byId.size;
  }

  field(name: string): FieldDef | undefined {
    return this.meta.fields.find((f) => f.name === name && !isDynamicFieldName(f.name));
  }

  private ensureIndex(field: FieldDef): void {
    if (isDynamicFieldName(field.name) || !field.index || !isStringType(field.type)) return;
    if (!this.indexes.has(field.name)) this.indexes.set(field.name, new FieldIndex());
  }

  /** Tokens of a string or string[] value. */
  tokensOf(value: unknown): Token[][] {
    const options = {
      separators: this.meta.token_separators,
      symbols: this.meta.symbols_to_index,
    };
    if (typeof value === 'string') return [tokenize(value, options)];
    if (Array.isArray(value)) {
      return value.map((v) => (typeof v === 'string' ? tokenize(v, options) : []));
    }
    return [];
  }

  private index(stored: StoredDoc): void {
    for (const [name, fieldIndex] of this.indexes) {
      const value = stored.doc[name];
      if (value === undefined || value === null) continue;
      const values = this.tokensOf(value);
      stored.tokens.set(name, values);
      fieldIndex.add(stored.seq, values);
    }
  }

  private unindex(stored: StoredDoc): void {
    for (const [name, values] of stored.tokens) this.indexes.get(name)?.remove(stored.seq, values);
    stored.tokens.clear();
  }

  private put(input: Doc, seq?: number): StoredDoc {
    // Typesense keeps documents as JSON objects with sorted keys: every read returns them so
    const doc = sortKeys(input) as Doc;
    // like Typesense, a document keeps its sequence id when it is replaced or updated
    const previous = this.byId.get(doc.id);
    if (previous) this.delete(previous);
    const stored: StoredDoc = {
      seq: seq ?? previous?.seq ?? this.nextSeq++,
      doc,
      tokens: new Map(),
    };
    if (stored.seq >= this.nextSeq) this.nextSeq = stored.seq + 1;
    this.byId.set(doc.id, stored);
    this.bySeq.set(stored.seq, stored);
    this.index(stored);
    return stored;
  }

  private delete(stored: StoredDoc): void {
    this.unindex(stored);
    this.byId.delete(stored.doc.id);
    this.bySeq.delete(stored.seq);
  }

  private addFields(fields: FieldDef[]): void {
    for (const field of fields) {
      if (this.field(field.name)) continue;
      this.meta.fields.push(field);
      this.ensureIndex(field);
    }
  }

  /** Restores a persisted document as is (no validation), keeping its relative order. */
  restore(doc: Doc): void {
    this.put(doc);
  }

  private resolveId(input: Record<string, unknown>, action: IndexAction, pathId?: string): string {
    if (pathId !== undefined) return pathId;
    if (!Object.hasOwn(input, 'id')) {
      if (action === 'update') throw badRequest('For update, the `id` key must be provided.');
      let seq = this.nextSeq;
      while (this.byId.has(String(seq))) seq++;
      return String(seq);
    }
    if (typeof input.id !== 'string') throw badRequest("Document's `id` field should be a string.");
    if (input.id === '') throw badRequest('The `id` should not be empty.');
    return input.id;
  }

  /**
   * Writes one document with a Typesense index action and returns the stored document
   * (for update/emplace of an existing document, the merged one).
   */
  write(input: unknown, action: IndexAction, dirty: DirtyValues, pathId?: string): Doc {
    if (!isObject(input)) throw badRequest('Bad JSON: not a properly formed document.');
    const id = this.resolveId(input, action, pathId);
    const existing = this.byId.get(id);
    if (action === 'create' && existing) {
      throw new ApiError(409, `A document with id ${id} already exists.`);
    }
    if (action === 'update' && !existing) {
      throw new ApiError(404, `Could not find a document with id: ${id}`);
    }
    if (existing && (action === 'update' || action === 'emplace')) {
      const { doc, newFields } = validateDocument(this.meta, input, 'partial', dirty);
      const merged: Record<string, unknown> = { ...existing.doc };
      for (const [key, value] of Object.entries(doc)) {
        if (value === null) delete merged[key];
        else merged[key] = value;
      }
      merged.id = id;
      // a required field cannot be removed by an update
      validateDocument(this.meta, merged, 'full', dirty);
      this.addFields(newFields);
      return this.put(merged as Doc).doc;
    }
    const { doc, newFields } = validateDocument(this.meta, input, 'full', dirty);
    const stored = { ...doc, id } as Doc;
    this.addFields(newFields);
    return this.put(stored).doc;
  }

  /**
   * `PATCH /collections/{name}`: adds fields (`{name, type, ...}`) and drops them (`{name, drop:
   * true}`); existing documents are validated against added fields and everything is re-indexed.
   */
  alter(body: unknown, dirty: DirtyValues): void {
    if (!isObject(body)) throw badRequest('Bad JSON.');
    if (body.metadata !== undefined && !isObject(body.metadata)) {
      throw badRequest('The `metadata` value should be an object.');
    }
    const rawFields = body.fields ?? [];
    if (!Array.isArray(rawFields)) {
      throw badRequest(
        'The `fields` value should be an array of objects containing the field `name` and other properties.',
      );
    }
    const dropped = new Set<string>();
    const added: FieldDef[] = [];
    for (const raw of rawFields) {
      if (isObject(raw) && raw.drop === true) {
        const name = String(raw.name);
        if (!this.meta.fields.some((f) => f.name === name)) {
          throw badRequest(`Field \`${name}\` is not part of collection schema.`);
        }
        dropped.add(name);
        continue;
      }
      const field = parseField(raw);
      const exists =
        this.meta.fields.some((f) => f.name === field.name) ||
        added.some((f) => f.name === field.name);
      if (exists && !dropped.has(field.name)) {
        throw badRequest(
          `Field \`${field.name}\` is already part of the schema: To change this field, drop it first before adding it back to the schema.`,
        );
      }
      added.push(field);
    }
    const addedMeta: CollectionMeta = { ...this.meta, fields: added, default_sorting_field: '' };
    const updates = [...this.bySeq.values()].map((stored) => ({
      stored,
      doc: validateDocument(addedMeta, stored.doc, 'full', dirty).doc as Doc,
    }));
    this.meta = {
      ...this.meta,
      fields: [...this.meta.fields.filter((f) => !dropped.has(f.name)), ...added],
    };
    if (isObject(body.metadata)) this.meta.metadata = body.metadata;
    this.indexes.clear();
    for (const field of this.meta.fields) this.ensureIndex(field);
    for (const { stored, doc } of updates) {
      stored.doc = doc;
      stored.tokens.clear();
      this.index(stored);
    }
  }

  get(id: string): Doc {
    const stored = this.byId.get(id);
    if (!stored) throw new ApiError(404, `Could not find a document with id: ${id}`);
    return stored.doc;
  }

  remove(id: string): Doc {
    const stored = this.byId.get(id);
    if (!stored) throw new ApiError(404, `Could not find a document with id: ${id}`);
    this.delete(stored);
    return stored.doc;
  }

  /** Documents in sequence (insertion) order. */
  ordered(): StoredDoc[] {
    return [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
  }
}
