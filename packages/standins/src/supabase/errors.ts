/**
 * PostgREST's error model: a JSON body `{code, details, hint, message}` and an HTTP status, for
 * PostgREST's own errors (PGRSTxxx) and for PostgreSQL errors mapped by SQLSTATE as in
 * PostgREST's errors.rst.
 */
import postgres from 'postgres';

export interface ErrorBody {
  code: string;
  details: unknown;
  hint: string | null;
  message: string;
}

/** An error answered as-is: status, PostgREST-shaped body, extra headers. */
export class RestError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
    this.name = 'RestError';
  }
}

export function restError(
  status: number,
  code: string,
  message: string,
  details: unknown = null,
  hint: string | null = null,
): RestError {
  return new RestError(status, { code, details, hint, message });
}

/** An error raised from the schema cache (not the database): worth one cache refresh and retry. */
export function isCatalogMiss(error: unknown): boolean {
  return error instanceof RestError && ['42703', 'PGRST200', 'PGRST204'].includes(error.body.code);
}

/** 400 PGRST100: a query string parameter could not be parsed. */
export function parseError(message: string, details: string | null = null): RestError {
  return restError(400, 'PGRST100', message, details);
}

/** The HTTP status PostgREST answers for a SQLSTATE (`authenticated`: the role is not anon). */
export function statusForSqlState(code: string, authenticated: boolean): number {
  const exact: Record<string, number> = {
    '23503': 409,
    '23505': 409,
    '25006': 405,
    P0001: 400,
    '42883': 404,
    '42P01': 404,
    '42501': authenticated ? 403 : 401,
  };
  const known = exact[code];
  if (known !== undefined) return known;
  if (code.startsWith('PT')) {
    const status = Number(code.slice(2));
    return Number.isInteger(status) && status >= 100 && status < 600 ? status : 500;
  }
  const byClass: Record<string, number> = {
    '08': 503,
    '09': 500,
    '0L': 403,
    '0P': 403,
    '25': 500,
    '28': 403,
    '2D': 500,
    '38': 500,
    '39': 500,
    '3B': 500,
    '40': 500,
    '53': 503,
    '54': 413,
    '55': 500,
    '57': 500,
    '58': 500,
    F0: 500,
    HV: 500,
    P0: 500,
    XX: 500,
  };
  return byClass[code.slice(0, 2)] ?? 400;
}

const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

/**
 * The error says the database connection is gone (closed, reset, or a FATAL/PANIC from the
 * server, which closes it right after): nothing more may be sent on that connection.
 */
export function isConnectionLost(error: unknown): boolean {
  if (error instanceof postgres.PostgresError) {
    return error.severity === 'FATAL' || error.severity === 'PANIC';
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONNECTION_ERRORS.has(code);
}

/** Turns anything thrown while serving a request into the answer PostgREST would give. */
export function toRestError(error: unknown, authenticated: boolean): RestError {
  if (error instanceof RestError) return error;
  if (error instanceof postgres.PostgresError && !isConnectionLost(error)) {
    return new RestError(statusForSqlState(error.code, authenticated), {
      code: error.code,
      details: error.detail ?? null,
      hint: error.hint ?? null,
      message: error.message,
    });
  }
  if (isConnectionLost(error)) {
    return restError(
      503,
      'PGRST000',
      'Could not connect with the database',
      error instanceof Error ? error.message : String(error),
    );
  }
  return restError(500, 'PGRSTX00', error instanceof Error ? error.message : String(error));
}
