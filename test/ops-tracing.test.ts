import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startTracing, type Tracing } from '../src/observability/tracing.js';
import { type App, createApp } from '../src/yoga.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * Optional OpenTelemetry tracing: the OTEL_* variables turn it on; each request is a server span
 * (continuing an incoming traceparent) and each store call a client span under it.
 */

let gw: TestGateway;
let tracing: Tracing;
let app: App;
let stopStoreSpans: () => void;
const exporter = new InMemorySpanExporter();
const BOOK_PAGE = readFileSync(
  new URL('../client/operations/BookPage.graphql', import.meta.url),
  'utf8',
);

beforeAll(async () => {
  gw = await startTestGateway();
  const settings = loadConfig({ ...gw.env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })
    .observability.tracing!;
  tracing = await startTracing(settings, createLogger('silent'), {
    spanProcessor: new SimpleSpanProcessor(exporter),
  });
  stopStoreSpans = tracing.traceStoreCalls(gw.counter);
  app = createApp(gw.deps, { tracing });
});
afterAll(async () => {
  stopStoreSpans?.();
  await app?.dispose();
  await tracing?.shutdown();
  await gw?.close();
});

describe('configuration', () => {
  it('is off unless an OTEL exporter or endpoint is given, and OTEL_SDK_DISABLED wins', () => {
    expect(loadConfig({}).observability.tracing).toBeNull();
    expect(
      loadConfig({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })
        .observability.tracing,
    ).toBeNull();
    expect(
      loadConfig({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })
        .observability.tracing,
    ).toBeNull();
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_SERVICE_NAME: 'gw' })
        .observability.tracing,
    ).toEqual({ exporter: 'otlp', endpoint: 'http://collector:4318/v1/traces', serviceName: 'gw' });
    expect(
      loadConfig({
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:1/x',
      }).observability.tracing?.endpoint,
    ).toBe('http://t:1/x');
  });
});

describe('spans', () => {
  it('a request is a server span with a client span per store call under it', async () => {
    const bookId = await gw.seed.book();
    await gw.seed.characters(bookId, 2);
    exporter.reset();
    gw.counter.reset();
    const traceId = 'aa'.repeat(16);
    const res = await app.fetch('http://gateway.test/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await gw.token(randomUUID())}`,
        traceparent: `00-${traceId}-${'bb'.repeat(8)}-01`,
      },
      body: JSON.stringify({ query: BOOK_PAGE, variables: { id: bookId } }),
    });
    expect(res.status).toBe(200);
    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.name === 'POST /graphql');
    expect(server).toBeDefined();
    expect(server!.spanContext().traceId).toBe(traceId);
    expect(server!.attributes).toMatchObject({
      'graphql.operation.name': 'BookPage',
      'graphql.operation.type': 'query',
      'http.response.status_code': 200,
    });
    const storeSpans = spans.filter((s) => s.attributes['falsafa.store']);
    const names = storeSpans.map((s) => s.name);
    expect(names).toContain('supabase GET books');
    expect(names).toContain('redis mget');
    // One span per recorded store call.
    const calls = Object.values(gw.counter.snapshot()).reduce((a, b) => a + b, 0);
    expect(storeSpans.length).toBe(calls);
    for (const s of storeSpans) {
      expect(s.spanContext().traceId).toBe(traceId);
      expect(s.parentSpanContext?.spanId).toBe(server!.spanContext().spanId);
      const ms = (s.endTime[0] - s.startTime[0]) * 1000 + (s.endTime[1] - s.startTime[1]) / 1e6;
      expect(ms).toBeGreaterThanOrEqual(0);
    }
  });
});
