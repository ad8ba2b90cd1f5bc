import type { Plugin } from 'graphql-yoga';
import { AUTH_MESSAGES } from '../auth.js';

const OPERATION_PARAMS = ['query', 'extensions', 'documentId'];

/**
 * A GraphQL GET without a token answers as a POST without one does, 401 UNAUTHENTICATED, not
 * 403 CSRF_HEADER_REQUIRED: it carries neither Authorization nor the CSRF header, so it holds no
 * credential a cross-site page could abuse, and what it lacks is the token. It is refused before
 * anything runs. GETs with either header, and non-JSON POSTs (forms, text/plain) without a token,
 * go on to CSRF prevention as before.
 */
export function useMissingTokenOverGet(graphqlEndpoint: string): Plugin {
  return {
    onRequest({ request, url, endResponse }) {
      if (request.method !== 'GET' || url.pathname !== graphqlEndpoint) return;
      if (request.headers.has('authorization') || request.headers.has('x-graphql-yoga-csrf'))
        return;
      if (!OPERATION_PARAMS.some((p) => url.searchParams.has(p))) return;
      endResponse(
        new Response(
          JSON.stringify({
            errors: [{ message: AUTH_MESSAGES.missing, extensions: { code: 'UNAUTHENTICATED' } }],
          }),
          {
            status: 401,
            headers: {
              'content-type': 'application/json; charset=utf-8',
            },
          },
        ),
      );
    },
  };
}
