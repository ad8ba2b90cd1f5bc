import type { Plugin } from 'graphql-yoga';
import { requestError } from './errors.js';

/**
 * Request parameters that are not JSON (`variables=%7Bbad` or `extensions=…` on a GET) are a
 * malformed request, 400 BAD_REQUEST, not a server error: yoga's parsers throw a bare SyntaxError
 * for them, which would be masked as a 500.
 */
export function useRequestParamsGuard(): Plugin {
  return {
    onRequestParse({ requestParser, setRequestParser }) {
      if (!requestParser) return;
      setRequestParser(async (request) => {
        try {
          return await requestParser(request);
        } catch (err) {
          if (!(err instanceof SyntaxError)) throw err;
          throw requestError('BAD_REQUEST', `The request's parameters are not valid JSON`);
        }
      });
    },
  };
}
