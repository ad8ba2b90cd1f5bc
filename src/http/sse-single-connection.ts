import type { Plugin } from 'graphql-yoga';

const MESSAGE =
  "graphql-sse's single connection mode is not served: use its distinct connections mode (the client's default, singleConnection: false), one event stream per operation";

/**
 * graphql-sse's single connection mode reserves a stream with a PUT and then names it in an
 * `x-graphql-event-stream-token` header (or a `token` parameter). The gateway serves the distinct
 * connections mode only (yoga's own SSE, one stream per operation), so these requests are refused
 * with 405 BAD_REQUEST and a body saying which mode to use, instead of an empty 405.
 */
export function useSseSingleConnectionRefusal(graphqlEndpoint: string): Plugin {
  return {
    onRequest({ request, url, endResponse }) {
      if (url.pathname !== graphqlEndpoint) return;
      const reserving = request.method === 'PUT';
      const naming =
        request.headers.has('x-graphql-event-stream-token') ||
        (request.method === 'GET' && url.searchParams.has('token'));
      if (!reserving && !naming) return;
      endResponse(
        new Response(
          JSON.stringify({ errors: [{ message: MESSAGE, extensions: { code: 'BAD_REQUEST' } }] }),
          {
            status: 405,
            headers: { 'content-type': 'application/json; charset=utf-8', allow: 'GET, POST' },
          },
        ),
      );
    },
  };
}
