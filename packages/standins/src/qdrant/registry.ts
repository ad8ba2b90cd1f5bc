/**
 * The set of collections and their aliases: create (409 when the name is taken), get (404 when
 * missing; an alias reaches its collection), list, delete (false when missing, as Qdrant answers;
 * the collection's aliases go with it), alias changes applied all or nothing, and durability
 * hooks that persist a collection after a mutation when a data directory is configured.
 */
import { Collection } from './collection.js';
import type { CollectionConfig } from './config.js';
import { alreadyExists, collectionNotFound, formatError, notFound } from './errors.js';
import { bodyObject, optString, required } from './parse.js';
import { isObject } from './payload.js';
import { CollectionStore } from './storage.js';

export interface AliasDescription {
  alias_name: string;
  collection_name: string;
}

export class Registry {
  private readonly collections = new Map<string, Collection>();
  private aliases = new Map<string, string>();
  private readonly store: CollectionStore | undefined;

  constructor(dataDir?: string) {
    this.store = dataDir ? new CollectionStore(dataDir) : undefined;
  }

  async load(): Promise<void> {
    if (!this.store) return;
    for (const col of await this.store.loadAll()) this.collections.set(col.name, col);
    this.aliases = await this.store.loadAliases();
  }

  /** The collection a name or an alias stands for. */
  find(name: string): Collection | undefined {
    const col = this.collections.get(name);
    if (col) return col;
    const target = this.aliases.get(name);
    return target === undefined ? undefined : this.collections.get(target);
  }

  get(name: string): Collection {
    const col = this.find(name);
    if (!col) throw collectionNotFound(name);
    return col;
  }

  names(): string[] {
    return [...this.collections.keys()];
  }

  async create(name: string, config: CollectionConfig): Promise<true> {
    if (this.collections.has(name)) throw alreadyExists(`Collection \`${name}\` already exists!`);
    if (this.aliases.has(name)) throw alreadyExists(`Alias \`${name}\` already exists!`);
    const col = new Collection(name, config);
    this.collections.set(name, col);
    await this.persist(col);
    return true;
  }

  async delete(name: string): Promise<boolean> {
    if (!this.collections.delete(name)) return false;
    const before = this.aliases.size;
    for (const [alias, target] of this.aliases) if (target === name) this.aliases.delete(alias);
    await Promise.all([
      this.store?.remove(name),
      this.aliases.size === before ? undefined : this.saveAliases(),
    ]);
    return true;
  }

  /** Every alias, or those of one collection, in the order they were made. */
  aliasList(collection?: string): AliasDescription[] {
    return [...this.aliases]
      .filter(([, target]) => collection === undefined || target === collection)
      .map(([alias_name, collection_name]) => ({ alias_name, collection_name }));
  }

  /** POST /collections/aliases: applies every action to a copy, then keeps the copy. */
  async changeAliases(bodyRaw: unknown): Promise<true> {
    const body = bodyObject(bodyRaw, 'ChangeAliasesOperation');
    const actions = required(body.actions, 'actions');
    if (!Array.isArray(actions))
      throw formatError('invalid type: expected a sequence for `actions`');
    const next = new Map(this.aliases);
    const field = (o: Record<string, unknown>, key: string) =>
      required(optString(o[key], key), key);
    const existing = (alias: string) => {
      if (!next.has(alias)) throw notFound(`Alias \`${alias}\` does not exists!`);
      return next.get(alias) as string;
    };
    for (const action of actions) {
      if (!isObject(action)) throw formatError(ALIAS_ACTION_ERROR);
      if (isObject(action.create_alias)) {
        const alias = field(action.create_alias, 'alias_name');
        const target = field(action.create_alias, 'collection_name');
        if (!this.collections.has(target)) throw collectionNotFound(target);
        if (this.collections.has(alias))
          throw alreadyExists(`Collection \`${alias}\` already exists!`);
        next.set(alias, target);
      } else if (isObject(action.delete_alias)) {
        const alias = field(action.delete_alias, 'alias_name');
        existing(alias);
        next.delete(alias);
      } else if (isObject(action.rename_alias)) {
        const from = field(action.rename_alias, 'old_alias_name');
        const to = field(action.rename_alias, 'new_alias_name');
        const target = existing(from);
        if (this.collections.has(to)) throw alreadyExists(`Collection \`${to}\` already exists!`);
        next.delete(from);
        next.set(to, target);
      } else throw formatError(ALIAS_ACTION_ERROR);
    }
    this.aliases = next;
    await this.saveAliases();
    return true;
  }

  private saveAliases(): Promise<void> {
    return this.store ? this.store.saveAliases(() => this.aliases) : Promise.resolve();
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

const ALIAS_ACTION_ERROR = 'data did not match any variant of untagged enum AliasOperations';
