import type { CORSOptions } from 'graphql-yoga';
import type { Config } from '../config.js';

/** Response headers a browser client may read: the request id and the rate limit's retry delay. */
export const EXPOSED_HEADERS = ['x-request-id', 'Retry-After'];

/**
 * CORS per request. With an allowlist (CORS_ORIGINS; an empty one in production when unset) a
 * request from an origin not on it gets no CORS headers at all, so the browser withholds the
 * response; one on it gets its own origin back. Without one (development and test, CORS_ORIGINS
 * unset) any origin is reflected. `Access-Control-Allow-Credentials` only with
 * CORS_CREDENTIALS=true: bearer tokens need none. Preflights are cached for CORS_MAX_AGE_SECONDS.
 */
export function corsPolicy(
  settings: Config['security']['cors'],
): (request: Request) => CORSOptions {
  const allowed = settings.origins ? new Set(settings.origins) : null;
  return (request) => {
    const origin = request.headers.get('origin');
    if (origin === null || (allowed && !allowed.has(origin))) return false;
    return {
      origin,
      credentials: settings.credentials,
      exposedHeaders: EXPOSED_HEADERS,
      ...(settings.maxAgeSeconds > 0 ? { maxAge: settings.maxAgeSeconds } : {}),
    };
  };
}

/** The start log's warning when production has no allowed origin. */
export const CORS_CLOSED = 'CORS: no browser origin is allowed (CORS_ORIGINS is unset)';
