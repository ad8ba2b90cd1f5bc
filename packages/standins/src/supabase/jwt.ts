/**
 * Supabase-shaped JWTs (HS256, the project's JWT secret): signing for service keys and test
 * tokens, and verification as PostgREST does it (signature, then the claims: an `exp` is
 * required, and an `aud`, when there is one, must name the project's audience), with PostgREST's
 * errors.
 */
import { type JWTPayload, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { RestError } from './errors.js';

export type SupabaseRole = 'anon' | 'authenticated' | 'service_role';

export interface SupabaseJwtOptions {
  role: SupabaseRole;
  /** The user id; users' access tokens carry one, API keys do not. */
  sub?: string;
  /** Default: ten years for API keys (as Supabase issues them), one hour for user tokens. */
  expiresInSeconds?: number;
  email?: string;
}

const ISSUER = 'supabase-demo';

function secretKey(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/**
 * Signs a JWT shaped like Supabase's: API keys carry `iss`, `role`, `iat`, `exp`; user access
 * tokens (given a `sub`) add `sub`, `aud: 'authenticated'`, `email` and Supabase Auth's metadata.
 */
export async function signSupabaseJwt(
  secret: string,
  options: SupabaseJwtOptions,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const isUser = options.sub !== undefined;
  const lifetime = options.expiresInSeconds ?? (isUser ? 3600 : 10 * 365 * 24 * 3600);
  const claims: JWTPayload & Record<string, unknown> = { role: options.role };
  if (isUser) {
    claims.aud = 'authenticated';
    claims.sub = options.sub;
    if (options.email !== undefined) claims.email = options.email;
    claims.app_metadata = { provider: 'email', providers: ['email'] };
    claims.user_metadata = {};
    claims.aal = 'aal1';
    claims.is_anonymous = false;
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(isUser ? 'http://127.0.0.1/auth/v1' : ISSUER)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .sign(secretKey(secret));
}

export interface VerifiedClaims {
  role: string;
  sub?: string;
  claims: Record<string, unknown>;
}

function invalidToken(message: string, code: 'PGRST301' | 'PGRST303'): RestError {
  return new RestError(
    401,
    { code, message, details: null, hint: null },
    {
      'WWW-Authenticate': `Bearer error="invalid_token", error_description="${message}"`,
    },
  );
}

/** Verifies a bearer token as PostgREST does: PGRST301 for a bad token, PGRST303 for bad claims. */
export async function verifySupabaseJwt(
  secret: string,
  token: string,
  audience = 'authenticated',
): Promise<VerifiedClaims> {
  const parts = token.split('.');
  if (parts.length !== 3) {
    throw invalidToken(`Expected 3 parts in JWT; got ${parts.length}`, 'PGRST301');
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, secretKey(secret), {
      algorithms: ['HS256'],
      requiredClaims: ['exp'],
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw invalidToken('JWT expired', 'PGRST303');
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw invalidToken('JWSError JWSInvalidSignature', 'PGRST301');
    }
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      throw invalidToken('JWT claims validation or parsing failed', 'PGRST303');
    }
    throw invalidToken('JWSError (CompactDecodeError Invalid number of parts)', 'PGRST301');
  }
  const aud = payload.aud === undefined ? [] : [payload.aud].flat();
  if (aud.length > 0 && !aud.includes(audience)) {
    throw invalidToken('JWT not in audience', 'PGRST303');
  }
  const role = typeof payload.role === 'string' ? payload.role : 'anon';
  const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
  return {
    role,
    ...(sub === undefined ? {} : { sub }),
    claims: payload as Record<string, unknown>,
  };
}
