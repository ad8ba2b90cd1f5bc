import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { Lifecycle } from '../src/http/lifecycle.js';
import { type App, createApp } from '../src/yoga.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * `/healthz`, `/readyz` (a per-store report; 503 when a store does not answer or while draining),
 * `/metrics` access, and draining: new GraphQL requests are refused while operations in flight
 * finish and session locks are released.
 */

let gw: TestGateway;
const apps: App[] = [];

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  for (const app of apps) await app.dispose();
  await gw?.close();
});

function variant(env: Record<string, string>, lifecycle?: Lifecycle): App {
  const app = createApp(
    { ...gw.deps, config: loadConfig({ ...gw.env, ...env }) },
    lifecycle ? { lifecycle } : {},
  );
  apps.push(app);
  return app;
}

const get = (app: App, path: string, headers: Record<string, string> = {}) =>
  app.fetch(`http://gateway.test${path}`, { headers });

describe('health and readiness', () => {
  it('/healthz answers without touching a store', async () => {
    gw.counter.reset();
    const res = await get(gw.app, '/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
    expect(gw.counter.snapshot()).toEqual({});
  });

  it('/readyz reports each store', async () => {
    const res = await get(gw.app, '/readyz');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      status: string;
      stores: Record<string, { ok: boolean; ms: number }>;
      providers: Record<string, string>;
    };
    expect(body.status).toBe('ready');
    expect(Object.keys(body.stores).sort()).toEqual(['qdrant', 'redis', 'supabase', 'typesense']);
    for (const s of Object.values(body.stores)) expect(s).toMatchObject({ ok: true });
    expect(body.providers).toEqual({ embeddings: 'local', llm: 'local' });
  });

  it('/readyz is 503 and names the store when one does not answer', async () => {
    const down = await startTestGateway();
    try {
      await down.qdrant.close();
      const res = await get(down.app, '/readyz');
      expect(res.status).toBe(503);
      const body = (await res.json()) as {
        status: string;
        stores: Record<string, { ok: boolean; error?: string }>;
      };
      expect(body.status).toBe('not ready');
      expect(body.stores.qdrant?.ok).toBe(false);
      expect(body.stores.qdrant?.error).toBeTruthy();
      expect(body.stores.supabase?.ok).toBe(true);
      expect(body.stores.redis?.ok).toBe(true);
      expect(JSON.stringify(body)).not.toContain(down.env.QDRANT_API_KEY!);
      // The liveness probe does not depend on the stores.
      expect((await get(down.app, '/healthz')).status).toBe(200);
    } finally {
      await down.close().catch(() => {});
    }
  });
});

describe('/metrics access', () => {
  it('is open by default, needs the bearer token when METRICS_TOKEN is set, 404 when off', async () => {
    expect((await get(gw.app, '/metrics')).status).toBe(200);
    const secret = 'metrics-scrape-token-0123456789';
    const guarded = variant({ METRICS_TOKEN: secret });
    expect((await get(guarded, '/metrics')).status).toBe(401);
    expect((await get(guarded, '/metrics', { authorization: 'Bearer wrong' })).status).toBe(401);
    const ok = await get(guarded, '/metrics', { authorization: `Bearer ${secret}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/text\/plain/);
    expect((await get(variant({ METRICS_ENABLED: 'false' }), '/metrics')).status).toBe(404);
  });
});

describe('draining', () => {
  it('refuses new GraphQL requests, waits for the ones in flight, releases held locks past the deadline', async () => {
    const lifecycle = new Lifecycle(gw.deps.locks);
    const app = variant({}, lifecycle);
    const token = await gw.token(randomUUID());
    const query = (q: string) =>
      app.fetch('http://gateway.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: q }),
      });

    // Operations end their count whatever their outcome (done, refused before execution).
    expect((await query('{ viewer { id } categories { id } }')).status).toBe(200);
    expect((await query(`{ ${'viewer { id } '.repeat(2)} }`)).status).toBe(200);
    const anonymous = await app.fetch('http://gateway.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ viewer { id } }' }),
    });
    expect(anonymous.status).toBe(401);
    expect(lifecycle.inFlightOperations).toBe(0);

    // One operation in flight, then draining starts.
    const end = lifecycle.begin();
    lifecycle.startDraining();
    const refused = await query('{ viewer { id } }');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('connection')).toBe('close');
    expect(((await refused.json()) as any).errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
    expect((await get(app, '/readyz')).status).toBe(503);
    expect((await get(app, '/healthz')).status).toBe(200);
    setTimeout(end, 200);
    const t0 = Date.now();
    const drained = await lifecycle.drain(5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(drained).toEqual({ inTime: true, operationsLeft: 0, locksReleased: 0 });

    // A lock still held at the deadline is released (compare-and-delete with its own token).
    const locks = gw.deps.locks;
    const key = `chat:lock:${randomUUID()}`;
    await gw.deps.redis.set(key, 'a-token-of-this-process', 'PX', 30_000, 'NX');
    locks.taken(key, 'a-token-of-this-process', 0);
    expect(locks.size).toBe(1);
    const other = `chat:lock:${randomUUID()}`;
    await gw.redis.set(other, 'another-instance', 'PX', 30_000); // not ours: left alone
    const late = await new Lifecycle(locks).drain(100);
    expect(late).toEqual({ inTime: false, operationsLeft: 0, locksReleased: 1 });
    expect(await gw.redis.exists(key)).toBe(0);
    expect(await gw.redis.get(other)).toBe('another-instance');
    await gw.redis.del(other);
  });
});
