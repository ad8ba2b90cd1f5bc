import type { TestGateway } from './gateway.js';
import { keysOf } from './redis.js';

/**
 * Everything the gateway could have written, for before/after comparisons: each table's row count
 * and a digest of its rows, every Redis key with its value, and each Qdrant and Typesense
 * collection with its count. Reads the stores directly (nothing here goes through the gateway or
 * its call counter).
 */
export interface StoreSnapshot {
  tables: Record<string, { n: number; digest: string }>;
  redis: Record<string, unknown>;
  qdrant: Record<string, number>;
  typesense: Record<string, number>;
}

const TABLES = ['categories', 'books', 'characters', 'chat_sessions', 'messages'];

export async function storeSnapshot(gw: TestGateway): Promise<StoreSnapshot> {
  const tables: StoreSnapshot['tables'] = {};
  for (const t of TABLES) {
    const [row] = await gw.db.sql.unsafe<{ n: number; digest: string }[]>(
      `select count(*)::int as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as digest from ${t} x`,
    );
    tables[t] = row!;
  }
  const redis: StoreSnapshot['redis'] = {};
  for (const key of await keysOf(gw.redis)) {
    const type = await gw.redis.type(key);
    if (type === 'string') redis[key] = await gw.redis.get(key);
    else if (type === 'list') redis[key] = await gw.redis.lrange(key, 0, -1);
    else if (type === 'set') redis[key] = (await gw.redis.smembers(key)).sort();
    else if (type === 'hash') redis[key] = await gw.redis.hgetall(key);
    else if (type === 'zset') redis[key] = await gw.redis.zrange(key, 0, -1, 'WITHSCORES');
    else redis[key] = type;
  }
  const qdrant: StoreSnapshot['qdrant'] = {};
  const { collections } = await gw.deps.vectors.client.getCollections();
  for (const c of collections) {
    qdrant[c.name] = (await gw.deps.vectors.client.count(c.name, { exact: true })).count;
  }
  const typesense: StoreSnapshot['typesense'] = {};
  const ts = (await gw.deps.keywords.client.collections().retrieve()) as {
    name: string;
    num_documents: number;
  }[];
  for (const c of ts) typesense[c.name] = c.num_documents;
  return { tables, redis, qdrant, typesense };
}
