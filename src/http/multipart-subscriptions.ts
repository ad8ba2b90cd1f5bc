import type { ExecutionResult, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isAsyncIterable } from '../util/async-iterable.js';

const BOUNDARY = 'graphql';
const HEARTBEAT_MS = 5_000;

/** Apollo's Accept for subscriptions over HTTP: `multipart/mixed;subscriptionSpec="1.0"`. */
export function wantsMultipartSubscription(accept: string | null): boolean {
  return (accept ?? '')
    .split(',')
    .some(
      (type) => /^\s*multipart\/mixed\b/i.test(type) && /subscriptionSpec="?1\.0"?/i.test(type),
    );
}

/**
 * Subscriptions over HTTP multipart, as Apollo Client speaks them (the multipart subscription
 * protocol, `subscriptionSpec=1.0`): one `application/json` part per event, `{"payload": result}`,
 * a `{}` heartbeat part every 5 s, and the closing boundary when the stream ends. Yoga serves
 * subscriptions over SSE only; this picks the multipart answer for a stream whose request asks
 * for it. A subscription refused before it ran is answered as JSON, as any other request.
 */
export function useMultipartSubscriptions(): Plugin {
  return {
    onResultProcess({ request, result, setResultProcessor, acceptableMediaTypes }) {
      if (!isAsyncIterable(result) || !wantsMultipartSubscription(request.headers.get('accept'))) {
        return;
      }
      acceptableMediaTypes.push('multipart/mixed');
      setResultProcessor(
        (stream, fetchAPI) => multipartResponse(stream as AsyncIterable<ExecutionResult>, fetchAPI),
        'multipart/mixed',
      );
    },
  };
}

function multipartResponse(
  stream: AsyncIterable<ExecutionResult>,
  fetchAPI: { ReadableStream: typeof ReadableStream; Response: typeof Response },
): Response {
  const encoder = new TextEncoder();
  const part = (body: unknown) =>
    encoder.encode(
      `\r\n--${BOUNDARY}\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(body)}`,
    );
  const iterator = stream[Symbol.asyncIterator]();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const body = new fetchAPI.ReadableStream<Uint8Array>({
    start(controller) {
      heartbeat = setInterval(() => {
        if (controller.desiredSize !== null && controller.desiredSize > 0)
          controller.enqueue(part({}));
      }, HEARTBEAT_MS);
    },
    async pull(controller) {
      try {
        const { done, value } = await iterator.next();
        if (value != null) controller.enqueue(part({ payload: publicResult(value) }));
        if (done) {
          clearInterval(heartbeat);
          controller.enqueue(encoder.encode(`\r\n--${BOUNDARY}--\r\n`));
          controller.close();
        }
      } catch (err) {
        clearInterval(heartbeat);
        controller.error(err);
      }
    },
    async cancel() {
      clearInterval(heartbeat);
      await iterator.return?.();
    },
  });
  return new fetchAPI.Response(body, {
    status: 200,
    headers: {
      'content-type': `multipart/mixed;boundary="${BOUNDARY}";subscriptionSpec="1.0"`,
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    },
  });
}

/** A result as clients see it: errors without their HTTP internals. */
function publicResult(result: ExecutionResult): Record<string, unknown> {
  if (!result.errors?.length) return result as Record<string, unknown>;
  return {
    ...result,
    errors: result.errors.map((e: GraphQLError) => {
      const json = typeof e.toJSON === 'function' ? e.toJSON() : { message: String(e) };
      const { http: _http, unexpected: _unexpected, ...extensions } = json.extensions ?? {};
      return { ...json, ...(Object.keys(extensions).length ? { extensions } : {}) };
    }),
  };
}
