/**
 * Verifies Supabase access tokens locally: HS256 with the project's JWT secret, or the project's
 * JWKS (fetched once and cached by jose). A token is a reader's only with an `exp`, the project's
 * audience in `aud` (`authenticated` by default), `role: authenticated` and a UUID `sub`, the
 * viewer. No store is touched.
 */
import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { isUuid } from './errors.js';

export interface Viewer {
  id: string;
  role: string;
  email?: string;
}

export type AuthResult =
  | {
      ok: true;
      viewer: Viewer;
      /** When the token expires (its `exp`, in epoch milliseconds). */
      expiresAt: number;
    }
  | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'invalid' };

export interface Authenticator {
  authenticate(authorization: string | null): Promise<AuthResult>;
}

const VERIFIED_TOKENS_MAX = 10_000;

export function createAuthenticator(options: {
  jwtSecret?: string;
  jwksUrl?: string;
  timeoutMs?: number;
  /** The `aud` every access token must carry (default `authenticated`, as Supabase Auth issues). */
  audience?: string;
  /** Keep verified tokens until they expire (default true). */
  rememberVerified?: boolean;
}): Authenticator {
  const secret = options.jwtSecret ? new TextEncoder().encode(options.jwtSecret) : undefined;
  const jwks = options.jwksUrl
    ? createRemoteJWKSet(new URL(options.jwksUrl), {
        timeoutDuration: options.timeoutMs ?? 5000,
        cacheMaxAge: 10 * 60_000,
      })
    : undefined;
  if (!secret && !jwks) throw new Error('an authenticator needs a JWT secret or a JWKS URL');

  // A token that never expires, or meant for another audience, is not a reader's access token.
  const claims = {
    audience: options.audience ?? 'authenticated',
    requiredClaims: ['exp', 'sub', 'role'],
  };
  async function verify(token: string): Promise<JWTPayload> {
    if (secret) {
      try {
        return (await jwtVerify(token, secret, { algorithms: ['HS256'], ...claims })).payload;
      } catch (err) {
        if (!jwks || err instanceof joseErrors.JWTExpired) throw err;
      }
    }
    return (await jwtVerify(token, jwks!, { algorithms: ['RS256', 'ES256', 'EdDSA'], ...claims }))
      .payload;
  }

  // Tokens already verified, until they expire: a signature check costs more than the rest of a
  // cached read. Only successes are kept; a bounded map, oldest out first.
  const verified = new Map<string, { viewer: Viewer; expiresAt: number }>();
  const remember = (token: string, viewer: Viewer, expiresAt: number) => {
    if (options.rememberVerified === false) return;
    if (verified.size >= VERIFIED_TOKENS_MAX) {
      const oldest = verified.keys().next().value;
      if (oldest !== undefined) verified.delete(oldest);
    }
    verified.set(token, { viewer, expiresAt });
  };

  return {
    async authenticate(authorization) {
      if (!authorization) return { ok: false, reason: 'missing' };
      const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(
        authorization.trim(),
      );
      if (!match?.[1]) return { ok: false, reason: 'malformed' };
      const known = verified.get(match[1]);
      if (known) {
        if (known.expiresAt > Date.now()) {
          return { ok: true, viewer: known.viewer, expiresAt: known.expiresAt };
        }
        verified.delete(match[1]);
        return { ok: false, reason: 'expired' };
      }
      let payload: JWTPayload;
      try {
        payload = await verify(match[1]);
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' };
        return { ok: false, reason: 'invalid' };
      }
      // Only a signed-in reader's role: no role at all is not `authenticated`.
      const role = payload.role;
      if (!isUuid(payload.sub) || role !== 'authenticated' || payload.exp === undefined) {
        return { ok: false, reason: 'invalid' };
      }
      const viewer: Viewer = {
        id: payload.sub.toLowerCase(),
        role,
        ...(typeof payload.email === 'string' ? { email: payload.email } : {}),
      };
      const expiresAt = payload.exp * 1000;
      remember(match[1], viewer, expiresAt);
      return { ok: true, viewer, expiresAt };
    },
  };
}

export const AUTH_MESSAGES: Record<Exclude<AuthResult, { ok: true }>['reason'], string> = {
  missing: 'Sign in: send Authorization: Bearer <Supabase access token>',
  malformed: 'The Authorization header is not a Bearer token',
  expired: 'The access token has expired; refresh it and retry',
  invalid: 'The access token is not valid for this project',
};
