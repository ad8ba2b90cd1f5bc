/**
 * What PostgREST sets at the start of each request's transaction: the caller's role and JWT
 * claims (so row-level security and `auth.uid()` see them), the request's method, path and
 * headers, and an optional statement timeout. Shared by the REST and Storage parts of the stand-in.
 */
import type postgres from 'postgres';

export interface RequestAuth {
  role: string;
  sub?: string;
  claims: Record<string, unknown>;
}

export interface CallerRequest {
  method: string;
  path: string;
  headers: Record<string, unknown>;
}

/** Runs the settings statement as the first one of `tx`. */
export async function actAsCaller(
  tx: postgres.TransactionSql,
  auth: RequestAuth,
  request: CallerRequest,
  statementTimeoutMs?: number,
): Promise<void> {
  const settings = [
    auth.role,
    JSON.stringify(auth.claims),
    auth.sub ?? '',
    request.method,
    request.path,
    JSON.stringify(request.headers),
  ];
  let text =
    "select set_config('search_path', 'public', true), set_config('role', $1, true)," +
    " set_config('request.jwt.claims', $2, true), set_config('request.jwt.claim.sub', $3, true)," +
    " set_config('request.jwt.claim.role', $1, true), set_config('request.method', $4, true)," +
    " set_config('request.path', $5, true), set_config('request.headers', $6, true)";
  if (statementTimeoutMs !== undefined) {
    settings.push(String(statementTimeoutMs));
    text += ", set_config('statement_timeout', $7, true)";
  }
  await tx.unsafe(text, settings);
}
