import { GraphQLError } from 'graphql';

/**
 * Codes of the errors the gateway's HTTP and security layers return before any resolver runs
 * (the resolvers' own codes are in src/errors.ts). Each has a fixed HTTP status.
 */
export const REQUEST_ERROR_STATUS = {
  BAD_REQUEST: 400,
  BAD_USER_INPUT: 400,
  GRAPHQL_PARSE_FAILED: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  OPERATION_LIMIT_EXCEEDED: 400,
  PERSISTED_QUERY_ONLY: 400,
  PERSISTED_QUERY_NOT_FOUND: 400,
  CSRF_HEADER_REQUIRED: 403,
  NOT_ACCEPTABLE: 406,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  SERVICE_UNAVAILABLE: 503,
} as const;

type RequestErrorCode = keyof typeof REQUEST_ERROR_STATUS;

export function requestError(
  code: RequestErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): GraphQLError {
  const { http, ...rest } = details as { http?: Record<string, unknown> };
  return new GraphQLError(message, {
    extensions: { code, ...rest, http: { status: REQUEST_ERROR_STATUS[code], ...http } },
  });
}

/** A JSON error response for requests refused before GraphQL handles them. */
export function errorResponse(
  code: RequestErrorCode,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ errors: [{ message, extensions: { code } }] }), {
    status: REQUEST_ERROR_STATUS[code],
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}
