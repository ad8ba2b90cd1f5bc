import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import ws from 'ws';
import { StoreUnavailable } from './errors.js';
import type { StoreCallCounter } from './metrics.js';

/**
 * The Supabase client the gateway uses: service role, no session persistence, and a fetch that
 * gives every request a timeout, counts it, and turns a network failure into StoreUnavailable.
 * With `accessToken` it acts as that reader instead (the key stays the `apikey`, the reader's
 * token decides the role), so row-level security and the Storage policies apply as they do to
 * the frontend.
 */
export function createSupabase(options: {
  url: string;
  serviceRoleKey: string;
  timeoutMs: number;
  counter: StoreCallCounter;
  accessToken?: string;
}): SupabaseClient {
  const { counter, timeoutMs } = options;
  const timedFetch: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const op = `${init?.method ?? 'GET'} ${url.pathname.replace(/^\/(rest|storage)\/v1\//, '')}`;
    const signal = init?.signal
      ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)])
      : AbortSignal.timeout(timeoutMs);
    const t0 = performance.now();
    try {
      const res = await fetch(input, { ...init, signal });
      counter.record({ store: 'supabase', op, ms: performance.now() - t0, ok: res.status < 500 });
      if (res.status === 502 || res.status === 503 || res.status === 504) {
        throw new StoreUnavailable('supabase', new Error(`HTTP ${res.status}`));
      }
      return res;
    } catch (err) {
      if (err instanceof StoreUnavailable) throw err;
      counter.record({ store: 'supabase', op, ms: performance.now() - t0, ok: false });
      throw new StoreUnavailable('supabase', err);
    }
  };
  const client = createClient(options.url, options.serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: ws as never },
    global: {
      fetch: timedFetch,
      ...(options.accessToken
        ? { headers: { Authorization: `Bearer ${options.accessToken}` } }
        : {}),
    },
  });
  // postgrest-js retries GETs on network errors and timeouts (1 s, 2 s, 4 s backoff), which would
  // turn one timeout into half a minute; the gateway answers SERVICE_UNAVAILABLE at once instead.
  // supabase-js does not pass this option through, so it is set on its REST client.
  (client as unknown as { rest: { retry?: boolean } }).rest.retry = false;
  return client;
}
