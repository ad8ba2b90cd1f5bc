import { isUtf8 } from 'node:buffer';
import type { Plugin } from 'graphql-yoga';
import { errorResponse } from './errors.js';
import { isMultipart } from './multipart.js';

/**
 * Refuses request bodies over `maxBytes` with 413 PAYLOAD_TOO_LARGE: at once from Content-Length,
 * else (chunked bodies, in-process requests) by reading the body up to the limit and no further.
 * A multipart request (an upload) may be larger: up to `multipartMaxBytes`. A body that is not
 * valid UTF-8 is refused with 400 BAD_REQUEST rather than decoded with replacement characters
 * (multipart bodies, which carry files, are not checked). A body within the limit is handed on
 * unchanged. The body is read once into one buffer (of the declared size when Content-Length is
 * given) and checked there, without decoding it; yoga's own body limit, which would stream the
 * body through a second copy, is off (`maxRequestBodySize: false` in createApp).
 */
/** One non-negative integer (not a list of them, as in request smuggling). */
const CONTENT_LENGTH = /^\d+$/;

export function useBodyLimit(bodyMaxBytes: number, multipartMaxBytes = bodyMaxBytes): Plugin {
  return {
    async onRequest({ request, setRequest, endResponse, fetchAPI }) {
      if (request.method === 'GET' || request.method === 'HEAD') return;
      const maxBytes = isMultipart(request) ? multipartMaxBytes : bodyMaxBytes;
      const tooLarge = () =>
        errorResponse('PAYLOAD_TOO_LARGE', `The request body exceeds ${maxBytes} bytes`, {
          connection: 'close',
        });
      const declared = request.headers.get('content-length');
      if (declared !== null && !CONTENT_LENGTH.test(declared)) {
        endResponse(errorResponse('BAD_REQUEST', 'The Content-Length header is invalid'));
        return;
      }
      const size = declared === null ? null : Number(declared);
      if (size !== null && size > maxBytes) {
        endResponse(tooLarge());
        return;
      }
      if (!request.body) return;
      const body = await readBounded(request.body, maxBytes, size);
      if (body === null) {
        endResponse(tooLarge());
        return;
      }
      if (!isMultipart(request) && !isUtf8(body)) {
        endResponse(errorResponse('BAD_REQUEST', 'The request body is not valid UTF-8'));
        return;
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

/**
 * The body's bytes, or null once more than `maxBytes` arrived (the rest is not read). With a
 * declared size the chunks are copied straight into one buffer of that size; without one (or past
 * it, which only an in-process request can do) they are kept and joined once at the end.
 */
async function readBounded(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  declared: number | null,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const reader = stream.getReader();
  let buffer = declared === null ? null : new Uint8Array(declared);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const end = size + value.byteLength;
    if (end > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    if (buffer && end <= buffer.byteLength) {
      buffer.set(value, size);
    } else {
      if (buffer) chunks.push(buffer.subarray(0, size));
      buffer = null;
      chunks.push(value);
    }
    size = end;
  }
  if (buffer) return size === buffer.byteLength ? buffer : buffer.subarray(0, size);
  const body = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    body.set(c, offset);
    offset += c.byteLength;
  }
  return body;
}
