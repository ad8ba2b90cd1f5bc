import type { ZodType } from 'zod';
import type { Logger } from '../logger.js';
import type { StoreCallCounter } from '../stores/metrics.js';
import { keyGroups, type RedisClient } from '../stores/redis.js';

/**
 * Redis read-through cache for rows keyed by id (`{prefix}{id}`), best-effort:
 * - a batch of ids is one MGET; hits are parsed with the row schema (a bad value is a miss);
 * - the misses are one call to `load`; the rows found are written back in one pipeline, `EX ttl`;
 * - on a Redis Cluster each is one round trip per node: an MGET per hash slot, in one pipeline;
 * - when Redis fails, the batch is served from `load` and nothing is written back;
 * - absent rows are not cached; `purge` deletes keys after writes.
 * Values are the rows as Supabase returns them, so any instance reading the key gets the same thing.
 */
export class ReadThroughCache<T extends { id: string }> {
  constructor(
    private readonly options: {
      redis: RedisClient;
      counter: StoreCallCounter;
      logger: Logger;
      prefix: string;
      ttlSeconds: number;
      schema: ZodType<T>;
      load: (ids: readonly string[]) => Promise<T[]>;
    },
  ) {}

  key(id: string): string {
    return `${this.options.prefix}${id}`;
  }

  async getMany(ids: readonly string[]): Promise<(T | null)[]> {
    const { counter, redis, schema, logger } = this.options;
    const out: (T | null)[] = new Array(ids.length).fill(null);
    const missing: number[] = [];
    let redisUp = true;
    try {
      const raw = await counter.time('redis', 'mget', () =>
        mgetBySlot(
          redis,
          ids.map((id) => this.key(id)),
        ),
      );
      raw.forEach((value, i) => {
        const hit = value === null ? undefined : parseJson(value, schema);
        if (hit) out[i] = hit;
        else missing.push(i);
      });
    } catch (err) {
      redisUp = false;
      logger.warn({ err: errMessage(err), prefix: this.options.prefix }, 'cache read failed');
      for (let i = 0; i < ids.length; i++) missing.push(i);
    }
    if (missing.length === 0) return out;

    const missingIds = [...new Set(missing.map((i) => ids[i]!))];
    const rows = await this.options.load(missingIds);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const i of missing) out[i] = byId.get(ids[i]!) ?? null;
    if (redisUp && rows.length > 0) await this.write(rows);
    return out;
  }

  /** Writes rows in one pipeline (after a miss, or when the caller already has fresh rows). */
  async write(rows: readonly T[]): Promise<void> {
    const { counter, redis, ttlSeconds, logger } = this.options;
    if (rows.length === 0) return;
    try {
      const keys = rows.map((row) => this.key(row.id));
      await counter.time('redis', 'pipeline', () =>
        Promise.all(
          keyGroups(redis, keys).map(async (slots) => {
            const p = redis.pipeline();
            for (const i of slots.flat()) {
              p.set(keys[i]!, JSON.stringify(rows[i]), 'EX', ttlSeconds);
            }
            await p.exec();
          }),
        ),
      );
    } catch (err) {
      logger.warn({ err: errMessage(err), prefix: this.options.prefix }, 'cache write failed');
    }
  }

  async purge(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const { counter, redis, logger } = this.options;
    try {
      const keys = ids.map((id) => this.key(id));
      await counter.time('redis', 'del', () =>
        Promise.all(
          keyGroups(redis, keys).map(async (slots) => {
            if (slots.length === 1) return redis.del(...slots[0]!.map((i) => keys[i]!));
            const p = redis.pipeline();
            for (const slot of slots) p.del(...slot.map((i) => keys[i]!));
            return p.exec();
          }),
        ),
      );
    } catch (err) {
      logger.warn({ err: errMessage(err), prefix: this.options.prefix }, 'cache purge failed');
    }
  }
}

/** MGET of keys in any slots: one MGET per slot, one round trip per node, values in key order. */
async function mgetBySlot(redis: RedisClient, keys: string[]): Promise<(string | null)[]> {
  const out: (string | null)[] = new Array(keys.length).fill(null);
  await Promise.all(
    keyGroups(redis, keys).map(async (slots) => {
      const pick = (slot: number[]) => slot.map((i) => keys[i]!);
      const replies: (string | null)[][] = [];
      if (slots.length === 1) replies.push(await redis.mget(pick(slots[0]!)));
      else {
        const p = redis.pipeline();
        for (const slot of slots) p.mget(pick(slot));
        for (const [err, values] of (await p.exec()) ?? []) {
          if (err) throw err;
          replies.push(values as (string | null)[]);
        }
      }
      slots.forEach((slot, s) => {
        slot.forEach((i, j) => {
          out[i] = replies[s]?.[j] ?? null;
        });
      });
    }),
  );
  return out;
}

function parseJson<T>(value: string, schema: ZodType<T>): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
