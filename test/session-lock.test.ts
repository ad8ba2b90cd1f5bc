import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LockHandle, lockKey, withSessionLock } from '../src/chat/session-lock.js';
import { AppError } from '../src/errors.js';
import { StoreCallCounter } from '../src/stores/metrics.js';
import { createTestRedis } from './support/redis.js';

let redis: Redis | Cluster;
const counter = new StoreCallCounter();

beforeAll(async () => {
  ({ redis } = await createTestRedis());
});
afterAll(() => {
  redis?.disconnect();
});

const lock = <T>(
  sessionId: string,
  fn: (h: LockHandle) => Promise<T>,
  o: { ttlMs?: number; waitMs?: number } = {},
) =>
  withSessionLock(redis, counter, sessionId, { ttlMs: o.ttlMs ?? 5000, waitMs: o.waitMs ?? 0 }, fn);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof AppError ? err.code : `not an AppError: ${String(err)}`;
  }
  return 'resolved';
}

describe('withSessionLock', () => {
  it('holds chat:lock:{id} with a random hex token and the TTL, and deletes it after', async () => {
    const id = randomUUID();
    const seen = await lock(
      id,
      async (h) => ({
        value: await redis.get(lockKey(id)),
        pttl: await redis.pttl(lockKey(id)),
        token: h.token,
      }),
      { ttlMs: 30_000 },
    );
    expect(lockKey(id)).toBe(`chat:lock:${id}`);
    expect(seen.value).toBe(seen.token);
    expect(seen.token).toMatch(/^[0-9a-f]{32}$/);
    expect(seen.pttl).toBeGreaterThan(29_000);
    expect(seen.pttl).toBeLessThanOrEqual(30_000);
    expect(await redis.exists(lockKey(id))).toBe(0);
  });

  it('two holders never overlap, and the second gets it once the first lets go', async () => {
    const id = randomUUID();
    let active = 0;
    let maxActive = 0;
    const order: string[] = [];
    const run = (name: string) =>
      lock(
        id,
        async () => {
          active++;
          maxActive = Math.max(maxActive, active);
          order.push(`${name}+`);
          await sleep(150);
          order.push(`${name}-`);
          active--;
          return name;
        },
        { waitMs: 3000 },
      );
    const results = await Promise.all([run('a'), run('b'), run('c')]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(maxActive).toBe(1);
    // Each enter is directly followed by its own exit.
    for (let i = 0; i < order.length; i += 2) {
      expect(order[i]!.slice(0, -1)).toBe(order[i + 1]!.slice(0, -1));
    }
    expect(await redis.exists(lockKey(id))).toBe(0);
  });

  it('fails with SESSION_BUSY (retryable) once the wait is used up, without running fn', async () => {
    const id = randomUUID();
    let release!: () => void;
    const holding = lock(id, () => new Promise<void>((r) => (release = r)));
    await sleep(20);
    let ran = false;
    const started = Date.now();
    const err = await lock(
      id,
      async () => {
        ran = true;
      },
      { waitMs: 300 },
    ).catch((e: unknown) => e);
    const waited = Date.now() - started;
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('SESSION_BUSY');
    expect((err as AppError).extensions.retryable).toBe(true);
    expect(ran).toBe(false);
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(3000);
    // The waiter did not disturb the holder.
    expect(await redis.exists(lockKey(id))).toBe(1);
    release();
    await holding;
    expect(await redis.exists(lockKey(id))).toBe(0);
  });

  it('with no wait, a held lock fails at once', async () => {
    const id = randomUUID();
    await redis.set(lockKey(id), 'someone-else', 'PX', 5000);
    const started = Date.now();
    expect(await codeOf(lock(id, async () => 1, { waitMs: 0 }))).toBe('SESSION_BUSY');
    expect(Date.now() - started).toBeLessThan(1500);
    expect(await redis.get(lockKey(id))).toBe('someone-else');
    await redis.del(lockKey(id));
  });

  it('keeps the lock past its TTL while fn runs (compare-and-extend)', async () => {
    const id = randomUUID();
    const ttlMs = 1000;
    const result = await lock(
      id,
      async (h) => {
        const samples: (string | null)[] = [];
        for (let i = 0; i < 6; i++) {
          await sleep(400); // 2.4 s in all: more than twice the TTL
          samples.push(await redis.get(lockKey(id)));
        }
        const pttl = await redis.pttl(lockKey(id));
        await h.assertHeld();
        return { samples, pttl, token: h.token, lost: h.lost };
      },
      { ttlMs },
    );
    expect(result.samples.every((v) => v === result.token)).toBe(true);
    expect(result.pttl).toBeGreaterThan(0);
    expect(result.pttl).toBeLessThanOrEqual(ttlMs);
    expect(result.lost).toBe(false);
    expect(await redis.exists(lockKey(id))).toBe(0);
  });

  it('without extension the lock would expire: the TTL really is set', async () => {
    const id = randomUUID();
    // Take and keep the raw key the way the helper does, but without the helper's extension.
    await redis.set(lockKey(id), 'raw', 'PX', 1000, 'NX');
    await sleep(1200);
    expect(await redis.exists(lockKey(id))).toBe(0);
  });

  it('an overwritten lock: assertHeld throws LOCK_LOST, the extension notices, and the release leaves the other holder alone', async () => {
    const id = randomUUID();
    const outcome = await lock(
      id,
      async (h) => {
        expect(h.lost).toBe(false);
        await h.assertHeld();
        // Another holder takes over (as if our lock had expired and been taken).
        await redis.set(lockKey(id), 'other-holder-token', 'PX', 10_000);
        await sleep(500); // longer than one extension period (ttl / 3)
        const lostByExtension = h.lost;
        const code = await codeOf(h.assertHeld());
        return { lostByExtension, code, lost: h.lost };
      },
      { ttlMs: 1000 },
    );
    expect(outcome.lostByExtension).toBe(true);
    expect(outcome.code).toBe('LOCK_LOST');
    expect(outcome.lost).toBe(true);
    // The compare-and-delete did not remove the other holder's key, nor extend it.
    expect(await redis.get(lockKey(id))).toBe('other-holder-token');
    const pttl = await redis.pttl(lockKey(id));
    expect(pttl).toBeGreaterThan(8000);
    await redis.del(lockKey(id));
  });

  it('LOCK_LOST propagates out of withSessionLock when fn does not catch it', async () => {
    const id = randomUUID();
    const code = await codeOf(
      lock(id, async (h) => {
        await redis.set(lockKey(id), 'intruder');
        await h.assertHeld();
        return 'saved';
      }),
    );
    expect(code).toBe('LOCK_LOST');
    expect(await redis.get(lockKey(id))).toBe('intruder');
    await redis.del(lockKey(id));
  });

  it('a deleted lock (expired) is LOCK_LOST too', async () => {
    const id = randomUUID();
    const code = await codeOf(
      lock(id, async (h) => {
        await redis.del(lockKey(id));
        await h.assertHeld();
      }),
    );
    expect(code).toBe('LOCK_LOST');
    expect(await redis.exists(lockKey(id))).toBe(0);
  });

  it('releases the lock when fn throws, and passes the error on', async () => {
    const id = randomUUID();
    const boom = new Error('boom');
    await expect(
      lock(id, async () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await redis.exists(lockKey(id))).toBe(0);
    // And it can be taken again at once.
    expect(await lock(id, async () => 'again')).toBe('again');
  });

  it('different sessions do not block each other', async () => {
    const ids = Array.from({ length: 10 }, () => randomUUID());
    let active = 0;
    let maxActive = 0;
    const results = await Promise.all(
      ids.map((id) =>
        lock(
          id,
          async () => {
            active++;
            maxActive = Math.max(maxActive, active);
            await sleep(200);
            active--;
            return id;
          },
          { waitMs: 0 },
        ),
      ),
    );
    expect(results).toEqual(ids);
    // All ten held their locks at the same time.
    expect(maxActive).toBe(10);
    for (const id of ids) expect(await redis.exists(lockKey(id))).toBe(0);
  });
});
