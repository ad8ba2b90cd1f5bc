/**
 * The stand-in's engine: the set of collections and every operation the HTTP layer exposes
 * (collections CRUD, document writes, import/export, delete/update by filter, search and
 * multi_search). Operations throw ApiError with Typesense's status and message; every mutation
 * marks its collection for persistence when a data directory is configured.
 */
import { Collection } from './collection.js';
import { ApiError, badRequest, notFound } from './errors.js';
import { applyFilter, parseFilter } from './filter.js';
import { listParam, type Params, stringifyParam, uintParam } from './params.js';
import { parseCollectionSchema, summaryJson } from './schema.js';
import { search } from './search.js';
import { type CollectionSnapshot, CollectionStore } from './store.js';
import type { Doc, IndexAction } from './types.js';
import { resolveDirtyValues } from './validate.js';

const ACTIONS = new Set<string>(['create', 'update', 'upsert', 'emplace']);

function parseAction(raw: string | undefined): IndexAction {
  const action = raw ?? 'create';
  if (!ACTIONS.has(action)) throw badRequest('Parameter `action` must be a create|update|upsert.');
  return action as IndexAction;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('Bad JSON.');
  }
}

function pick(doc: Doc, include: string[], exclude: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    if (include.length > 0 && !include.includes(key)) continue;
    if (!exclude.includes(key)) out[key] = value;
  }
  return out;
}

/** The string `id` of a JSONL line, when it parses as an object holding one. */
function lineId(line: string): string | undefined {
  try {
    const parsed = JSON.parse(line) as unknown;
    const id = (parsed as { id?: unknown } | null)?.id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

export class Engine {
  private readonly collections = new Map<string, { collection: Collection; order: number }>();
  private nextOrder = 0;
  private store: CollectionStore | null = null;

  /** Opens an engine, loading what `dataDir` holds when given. */
  static async open(dataDir?: string): Promise<Engine> {
    const engine = new Engine();
    if (dataDir) {
      engine.store = new CollectionStore(dataDir, (name) => engine.snapshot(name));
      for (const snap of await engine.store.load()) engine.restore(snap);
    }
    return engine;
  }

  private restore(snap: CollectionSnapshot): void {
    const collection = new Collection(snap.meta);
    for (const doc of snap.docs) collection.restore(doc);
    collection.nextSeq = Math.max(collection.nextSeq, snap.nextSeq);
    this.collections.set(snap.meta.name, { collection, order: snap.order });
    this.nextOrder = Math.max(this.nextOrder, snap.order + 1);
  }

  private snapshot(name: string): CollectionSnapshot | undefined {
    const entry = this.collections.get(name);
    if (!entry) return undefined;
    const { collection, order } = entry;
    return {
      meta: collection.meta,
      nextSeq: collection.nextSeq,
      order,
      docs: collection.ordered().map((s) => s.doc),
    };
  }

  private changed(name: string): void {
    this.store?.markDirty(name);
  }

  /** Writes pending changes to the data directory (no-op without one). */
  async flush(): Promise<void> {
    await this.store?.flush();
  }

  collection(name: string): Collection {
    const entry = this.collections.get(name);
    if (!entry) throw notFound();
    return entry.collection;
  }

  createCollection(body: unknown): Record<string, unknown> {
    const meta = parseCollectionSchema(body, Math.floor(Date.now() / 1000));
    if (this.collections.has(meta.name)) {
      throw new ApiError(409, `A collection with name \`${meta.name}\` already exists.`);
    }
    const collection = new Collection(meta);
    this.collections.set(meta.name, { collection, order: this.nextOrder++ });
    this.changed(meta.name);
    return summaryJson(meta, 0);
  }

  /** Summaries, most recently created first; `limit`, `offset` and `exclude_fields` as Typesense. */
  listCollections(params: Params): Record<string, unknown>[] {
    const offset = uintParam(params, 'offset', 0);
    const limit =
      params.limit === undefined ? Number.POSITIVE_INFINITY : uintParam(params, 'limit', 0);
    const exclude = listParam(params, 'exclude_fields');
    return [...this.collections.values()]
      .sort(
        (a, b) => b.collection.meta.created_at - a.collection.meta.created_at || b.order - a.order,
      )
      .slice(offset, offset + limit)
      .map(({ collection }) => {
        const summary = summaryJson(collection.meta, collection.size);
        for (const key of exclude) delete summary[key];
        return summary;
      });
  }

  getCollection(name: string): Record<string, unknown> {
    const collection = this.collection(name);
    return summaryJson(collection.meta, collection.size);
  }

  /** Returns the alteration as sent, like Typesense. */
  alterCollection(name: string, body: string): unknown {
    const collection = this.collection(name);
    const parsed = parseJson(body);
    collection.alter(parsed, resolveDirtyValues(collection.meta, undefined));
    this.changed(name);
    return parsed;
  }

  dropCollection(name: string): Record<string, unknown> {
    const summary = this.getCollection(name);
    this.collections.delete(name);
    this.changed(name);
    return summary;
  }

  writeDocument(name: string, body: string, params: Params): Doc {
    const collection = this.collection(name);
    const action = parseAction(params.action);
    const doc = collection.write(
      parseJson(body),
      action,
      resolveDirtyValues(collection.meta, params.dirty_values),
    );
    this.changed(name);
    return doc;
  }

  getDocument(name: string, id: string, params: Params): Record<string, unknown> {
    const doc = this.collection(name).get(id);
    return pick(doc, listParam(params, 'include_fields'), listParam(params, 'exclude_fields'));
  }

  updateDocument(name: string, id: string, body: string, params: Params): Doc {
    const collection = this.collection(name);
    const dirty = resolveDirtyValues(collection.meta, params.dirty_values);
    const doc = collection.write(parseJson(body), 'update', dirty, id);
    this.changed(name);
    return doc;
  }

  /** With `ignore_not_found=true` a missing document is answered `{"id": ...}`, as Typesense does. */
  deleteDocument(name: string, id: string, params: Params): Record<string, unknown> {
    const collection = this.collection(name);
    if (params.ignore_not_found === 'true' && !collection.byId.has(id)) return { id };
    const doc = collection.remove(id);
    this.changed(name);
    return doc;
  }

  deleteByFilter(name: string, params: Params): { num_deleted: number } {
    const collection = this.collection(name);
    let seqs: Set<number>;
    if (params.truncate === 'true') {
      seqs = new Set(collection.bySeq.keys());
    } else {
      if (params.filter_by === undefined)
        throw badRequest('Parameter `filter_by` must be provided.');
      seqs = applyFilter(parseFilter(params.filter_by, collection), collection);
    }
    for (const seq of seqs) {
      const stored = collection.bySeq.get(seq);
      if (stored) collection.remove(stored.doc.id);
    }
    if (seqs.size > 0) this.changed(name);
    return { num_deleted: seqs.size };
  }

  updateByFilter(name: string, body: string, params: Params): { num_updated: number } {
    if (params.filter_by === undefined) throw badRequest('Parameter `filter_by` must be provided.');
    const collection = this.collection(name);
    const partial = parseJson(body);
    if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) {
      throw badRequest('Bad JSON: not a properly formed document.');
    }
    const dirty = resolveDirtyValues(collection.meta, params.dirty_values);
    const seqs = applyFilter(parseFilter(params.filter_by, collection), collection);
    for (const seq of seqs) {
      const stored = collection.bySeq.get(seq);
      if (stored)
        collection.write({ ...partial, id: stored.doc.id }, 'update', dirty, stored.doc.id);
    }
    if (seqs.size > 0) this.changed(name);
    return { num_updated: seqs.size };
  }

  /** JSONL in, JSONL out: one result line per input line, in order. */
  importDocuments(name: string, body: string, params: Params): string {
    const collection = this.collection(name);
    const action = parseAction(params.action);
    for (const flag of ['return_id', 'return_doc'] as const) {
      const value = params[flag];
      if (value !== undefined && value !== 'true' && value !== 'false') {
        throw badRequest(`Parameter \`${flag}\` must be a true|false.`);
      }
    }
    const dirty = resolveDirtyValues(collection.meta, params.dirty_values);
    const lines = body.split('\n').filter((line) => line.trim() !== '');
    // Typesense writes each result line with its keys in sorted order
    const results = lines.map((line) => {
      try {
        const doc = collection.write(parseJson(line), action, dirty);
        const ok: Record<string, unknown> = {};
        if (params.return_doc === 'true') ok.document = doc;
        if (params.return_id === 'true') ok.id = doc.id;
        ok.success = true;
        return JSON.stringify(ok);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        const failed: Record<string, unknown> = {
          code: error.status,
          document: line,
          error: error.message,
        };
        const id = params.return_id === 'true' ? lineId(line) : undefined;
        if (id !== undefined) failed.id = id;
        failed.success = false;
        return JSON.stringify(failed);
      }
    });
    if (lines.length > 0) this.changed(name);
    return results.join('\n');
  }

  exportDocuments(name: string, params: Params): string {
    const collection = this.collection(name);
    const seqs = applyFilter(parseFilter(params.filter_by, collection), collection);
    const include = listParam(params, 'include_fields');
    const exclude = listParam(params, 'exclude_fields');
    return collection
      .ordered()
      .filter((s) => seqs.has(s.seq))
      .map((s) =>
        JSON.stringify(include.length + exclude.length > 0 ? pick(s.doc, include, exclude) : s.doc),
      )
      .join('\n');
  }

  /** A search on a missing collection is a 404 `Not found.` (do_search's wording, not set_404's). */
  search(name: string, params: Params): Record<string, unknown> {
    const entry = this.collections.get(name);
    if (!entry) throw new ApiError(404, 'Not found.');
    return search(entry.collection, params);
  }

  /**
   * `POST /multi_search`. As in Typesense, a parameter given both in the query string and in a
   * search keeps the query-string value, except `filter_by`, whose two values are AND-ed.
   * A failing search yields `{code, error}` in its slot; the others still run.
   */
  multiSearch(body: string, common: Params): { results: unknown[] } {
    const parsed = parseJson(body) as { searches?: unknown; union?: unknown } | null;
    if (typeof parsed !== 'object' || parsed === null || !Array.isArray(parsed.searches)) {
      throw badRequest('Missing `searches` array.');
    }
    if (parsed.union === true) {
      throw badRequest('Parameter `union` is not supported by the embedded Typesense stand-in.');
    }
    const limit = uintParam(common, 'limit_multi_searches', 50);
    if (parsed.searches.length > limit) {
      throw badRequest('Number of multi searches exceeds `limit_multi_searches` parameter.');
    }
    const requests = parsed.searches.map((entry: unknown) => {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        throw badRequest('The value of `searches` must be an array of objects.');
      }
      const params: Params = { ...common };
      for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
        if (key === 'cache_ttl' || key === 'x-typesense-api-key') continue;
        const text = stringifyParam(value);
        if (text === undefined) throw badRequest('One or more search parameters are malformed.');
        const existing = params[key];
        if (existing === undefined) params[key] = text;
        else if (key === 'filter_by') {
          params[key] = [existing, text]
            .filter((f) => f !== '')
            .map((f) => `(${f})`)
            .join(' && ');
        }
      }
      return params;
    });
    const results = requests.map((params) => {
      try {
        return this.search(params.collection ?? '', params);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        return { code: error.status, error: error.message };
      }
    });
    return { results };
  }
}
