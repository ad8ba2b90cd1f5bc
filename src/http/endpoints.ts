import { timingSafeEqual } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { Lifecycle } from './lifecycle.js';
import type { Readiness } from './readiness.js';

export const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The operational endpoints, answered before GraphQL: `GET /healthz` (the process is alive),
 * `GET /readyz` (each store answers: 200 with the per-store report, else 503; 503 while draining),
 * `GET /metrics` (Prometheus text; with METRICS_TOKEN set it needs `Authorization: Bearer <token>`).
 */
export function useOpsEndpoints(options: {
  config: Config;
  lifecycle: Lifecycle;
  readiness: Readiness;
  metrics: GatewayMetrics | null;
}): Plugin {
  const { lifecycle, readiness, metrics } = options;
  const token = options.config.observability.metrics.token;
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    });
  return {
    async onRequest({ url, request, endResponse }) {
      if (!OPS_PATHS.has(url.pathname)) return;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        endResponse(json(405, { error: 'method not allowed' }));
        return;
      }
      if (url.pathname === '/healthz') {
        endResponse(json(200, { status: 'ok', uptimeSeconds: Math.round(process.uptime()) }));
        return;
      }
      if (url.pathname === '/readyz') {
        if (lifecycle.isDraining) {
          endResponse(json(503, { status: 'draining' }));
          return;
        }
        const report = await readiness.check();
        endResponse(
          json(report.ready ? 200 : 503, {
            status: report.ready ? 'ready' : 'not ready',
            stores: report.stores,
            providers: report.providers,
          }),
        );
        return;
      }
      if (!metrics) {
        endResponse(json(404, { error: 'metrics are off (METRICS_ENABLED=false)' }));
        return;
      }
      if (token && !bearerMatches(request.headers.get('authorization'), token)) {
        endResponse(json(401, { error: 'send Authorization: Bearer <METRICS_TOKEN>' }));
        return;
      }
      endResponse(
        new Response(await metrics.render(), {
          status: 200,
          headers: { 'content-type': metrics.contentType, 'cache-control': 'no-store' },
        }),
      );
    },
  };
}

function bearerMatches(header: string | null, token: string): boolean {
  const given = Buffer.from(/^Bearer\s+(.+)$/.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}
