/**
 * The set of collections: create (409 when it exists), get (404 when missing), list, delete
 * (false when missing, as Qdrant answers), and durability hooks that persist a collection after a
 * mutation when a data directory is configured.
 */
import { Collection } from './collection.js';
import { parseCreateCollection, validateCollectionName } from './config.js';
import { alreadyExists, collectionNotFound } from './errors.js';
import { bodyObject } from './parse.js';
import { CollectionStore } from './storage.js';

export class Registry {
  private readonly collections = new Map<string, Collection>();
  private readonly store: CollectionStore | undefined;

  constructor(dataDir?: string) {
    this.store = dataDir ? new CollectionStore(dataDir) : undefined;
  }

  async load(): Promise<void> {
    if (!this.store) return;
    for (const col of await this.store.loadAll()) this.collections.set(col.name, col);
  }

  find(name: string): Collection | undefined {
    return this.collections.get(name);
  }

  get(name: string): Collection {
    const col = this.collections.get(name);
    if (!col) throw collectionNotFound(name);
    return col;
  }

  names(): string[] {
    return [...this.collections.keys()];
  }

  async create(name: string, body: unknown): Promise<true> {
    validateCollectionName(name);
    const config = parseCreateCollection(bodyObject(body ?? {}, 'CreateCollection'));
    if (this.collections.has(name)) throw alreadyExists(`Collection \`${name}\` already exists!`);
    const col = new Collection(name, config);
    this.collections.set(name, col);
    await this.persist(col);
    return true;
  }

  async delete(name: string): Promise<boolean> {
    if (!this.collections.delete(name)) return false;
    await this.store?.remove(name);
    return true;
  }

  /** Writes the collection to disk (no-op in memory-only mode). */
  persist(col: Collection): Promise<void> {
    if (!this.store) return Promise.resolve();
    return this.store.save(col, () => this.collections.get(col.name) === col);
  }

  async flush(): Promise<void> {
    await this.store?.flush();
  }
}
