/**
 * Optional OpenTelemetry tracing, configured by the standard OTEL_* variables (see config.ts):
 * a server span per HTTP request (continuing an incoming `traceparent`), and a client span per
 * store call (supabase, redis, qdrant, typesense, llm, embeddings), made from the StoreCallCounter's
 * records with their measured start and end, under the request's span. The SDK and exporter are
 * loaded only when tracing is on; otherwise nothing here runs.
 */
import {
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { StoreCallCounter } from '../stores/metrics.js';

export interface Tracing {
  readonly tracer: Tracer;
  /** Runs `fn` inside a new server span for `request`; the span is passed to `fn`. */
  inRequestSpan<T>(request: Request, name: string, fn: (span: Span) => T): T;
  /** Records every store call as a span; returns a function that stops. */
  traceStoreCalls(counter: StoreCallCounter): () => void;
  shutdown(): Promise<void>;
}

const headerGetter: TextMapGetter<Headers> = {
  keys: (h) => [...h.keys()],
  get: (h, key) => h.get(key) ?? undefined,
};

export async function startTracing(
  settings: NonNullable<Config['observability']['tracing']>,
  logger: Logger,
  options: { spanProcessor?: SpanProcessor } = {},
): Promise<Tracing> {
  const sdk = await import('@opentelemetry/sdk-trace-node');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  let processor = options.spanProcessor;
  if (!processor) {
    if (settings.exporter === 'console') {
      processor = new sdk.SimpleSpanProcessor(new sdk.ConsoleSpanExporter());
    } else {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
      processor = new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url: settings.endpoint }));
    }
  }
  const provider = new sdk.NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
    spanProcessors: [processor],
  });
  provider.register();
  const tracer = provider.getTracer('falsafa-gateway');
  logger.info(
    { exporter: settings.exporter, endpoint: settings.endpoint, service: settings.serviceName },
    'tracing on',
  );

  return {
    tracer,
    inRequestSpan(request, name, fn) {
      const parent = propagation.extract(context.active(), request.headers, headerGetter);
      const span = tracer.startSpan(
        name,
        {
          kind: SpanKind.SERVER,
          attributes: {
            'http.request.method': request.method,
            'url.path': new URL(request.url).pathname,
          },
        },
        parent,
      );
      return context.with(trace.setSpan(parent, span), () => fn(span));
    },
    traceStoreCalls(counter) {
      return counter.onCall((call) => {
        const end = Date.now();
        const span = tracer.startSpan(`${call.store} ${call.op}`, {
          kind: SpanKind.CLIENT,
          startTime: end - call.ms,
          attributes: { 'falsafa.store': call.store, 'falsafa.store.operation': call.op },
        });
        if (!call.ok) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end(end);
      });
    },
    async shutdown() {
      await provider.shutdown().catch((err: unknown) => {
        logger.warn({ err: String(err) }, 'tracing: could not flush spans');
      });
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
