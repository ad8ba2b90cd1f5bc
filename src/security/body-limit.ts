import type { Plugin } from 'graphql-yoga';
import { errorResponse } from './errors.js';
import { isMultipart } from './multipart.js';

/**
 * Refuses request bodies over `maxBytes` with 413 PAYLOAD_TOO_LARGE: at once from Content-Length,
 * else (chunked bodies, in-process requests) by reading the body up to the limit and no further.
 * A multipart request (an upload) may be larger: up to `multipartMaxBytes`. A body that is not
 * valid UTF-8 is refused with 400 BAD_REQUEST rather than decoded with replacement characters
 * (multipart bodies, which carry files, are not checked). A body within the limit is handed on
 * unchanged.
 */
export function useBodyLimit(bodyMaxBytes: number, multipartMaxBytes = bodyMaxBytes): Plugin {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  return {
    async onRequest({ request, setRequest, endResponse, fetchAPI }) {
      if (request.method === 'GET' || request.method === 'HEAD') return;
      const maxBytes = isMultipart(request) ? multipartMaxBytes : bodyMaxBytes;
      const tooLarge = () =>
        errorResponse('PAYLOAD_TOO_LARGE', `The request body exceeds ${maxBytes} bytes`, {
          connection: 'close',
        });
      const declared = request.headers.get('content-length');
      if (declared !== null && Number(declared) > maxBytes) {
        endResponse(tooLarge());
        return;
      }
      if (!request.body) return;
      const reader = request.body.getReader();
      const chunks: Uint8Array[] = [];
      let size = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel().catch(() => {});
          endResponse(tooLarge());
          return;
        }
        chunks.push(value);
      }
      const body = new Uint8Array(size);
      let offset = 0;
      for (const c of chunks) {
        body.set(c, offset);
        offset += c.byteLength;
      }
      if (!isMultipart(request)) {
        try {
          utf8.decode(body);
        } catch {
          endResponse(errorResponse('BAD_REQUEST', 'The request body is not valid UTF-8'));
          return;
        }
      }
      setRequest(
        new fetchAPI.Request(request.url, {
          method: request.method,
          headers: request.headers,
          body,
          signal: request.signal,
        }),
      );
    },
  };
}
