/**
 * The admin API verifies its bearer token as any resource server would
 * (RFC 9068 §4): a JWT signed by a key in Gatehouse's JWKS, `typ` at+jwt,
 * this issuer, audience urn:gatehouse:admin, not expired. A token bound to a
 * certificate (`cnf.x5t#S256`, RFC 8705 §3) must arrive over a connection
 * presenting that certificate; where binding is required, an unbound token is
 * refused. A token bound to a key (`cnf.jkt`, RFC 9449) comes in the `DPoP`
 * scheme with a proof for this request (src/admin/dpop-proof.ts); in the
 * `Bearer` scheme it is refused, as is an unbound token in the `DPoP` scheme.
 * Where binding is required, either binding serves. Opaque tokens
 * (registration access tokens, tokens for other APIs) are not JWTs and fail
 * the first step.
 */
import { createHash, type X509Certificate } from 'node:crypto';

import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWK, type JWTPayload } from 'jose';

import type { Actor } from '../audit/events.js';
import { dpopSigningAlgValues } from '../oidc/dpop-algorithms.js';
import { adminAudience } from '../resources/admin-audience.js';
import { dpopProofProblem, proofsOf, type FirstUse } from './dpop-proof.js';
import { AdminProblem, problemTypes } from './problem.js';

export interface AdminCaller {
  actor: Extract<Actor, { kind: 'admin' }>;
  scopes: ReadonlySet<string>;
  /** A user's token (authorization code) rather than a service client's (client credentials). */
  user: { id: string; acr: string | undefined; authTime: number | undefined } | undefined;
  bound: boolean;
}

export interface BearerSettings {
  issuer: string;
  requireBoundTokens: boolean;
  /**
   * Whether a verified token still stands: not revoked (its jti), its client
   * and user live, and issued after every sign-out cutoff of theirs
   * (src/oidc/introspection-policy.ts), as for any resource server asking
   * Gatehouse; so "sign out everywhere" ends an operator's admin tokens too.
   */
  stands(claims: JWTPayload & { jti: string; iat: number; exp: number; sub: string; client_id: string }): Promise<boolean>;
  /** The shared one-time record of proof `jti`s (src/replay/), for DPoP proofs. */
  firstUse: FirstUse;
}

/** What a DPoP proof is checked against: the request as the caller made it. */
export interface ProofContext {
  method: string;
  /** The URL the caller addressed (the advertised server URL and the path). */
  htu: string;
  /** The DPoP header, if any. */
  dpop: string | undefined;
}

const realm = 'realm="gatehouse-admin"';

export function bearerChallenge(error?: { code: string; description: string; extra?: string }): string {
  if (!error) return `Bearer ${realm}`;
  return `Bearer ${realm}, error="${error.code}", error_description="${error.description}"${error.extra ? `, ${error.extra}` : ''}`;
}

function invalidToken(description: string): AdminProblem {
  return new AdminProblem(401, 'The access token is missing, malformed, expired or not for this API.', {
    type: problemTypes.token,
    challenge: bearerChallenge({ code: 'invalid_token', description }),
  });
}

/** RFC 9449 §7.1: refusals of DPoP use the DPoP scheme's challenge, naming the algorithms accepted. */
function dpopRefusal(code: 'invalid_token' | 'invalid_dpop_proof', description: string): AdminProblem {
  return new AdminProblem(401, code === 'invalid_dpop_proof' ? 'The DPoP proof is missing or does not hold for this request.' : 'The access token is not valid in this authentication scheme.', {
    type: problemTypes.token,
    challenge: `DPoP ${realm}, error="${code}", error_description="${description}", algs="${dpopSigningAlgValues.join(' ')}"`,
  });
}

export function createBearerVerifier(publicJwks: () => { keys: JWK[] }, settings: BearerSettings) {
  let cached: { source: { keys: JWK[] }; set: ReturnType<typeof createLocalJWKSet> } | undefined;
  const keySet = () => {
    const source = publicJwks();
    if (cached?.source !== source) cached = { source, set: createLocalJWKSet(source) };
    return cached.set;
  };

  return async function verify(authorization: string | undefined, certificate: X509Certificate | undefined, request: ProofContext): Promise<AdminCaller> {
    // RFC 6750 §3.1: no credentials at all gets the bare challenge, without an error code.
    if (!authorization) throw new AdminProblem(401, 'This API needs a bearer access token for audience urn:gatehouse:admin.', { type: problemTypes.token, challenge: bearerChallenge() });
    // RFC 7235 §2.1: the scheme is case-insensitive.
    const match = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization);
    if (!match) throw invalidToken('expected a Bearer or DPoP token');
    const dpopScheme = match[1]!.toLowerCase() === 'dpop';
    const token = match[2]!;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keySet(), { issuer: settings.issuer, audience: adminAudience, typ: 'at+jwt', requiredClaims: ['exp', 'iat', 'client_id', 'sub', 'jti'] }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw invalidToken('the access token expired');
      throw invalidToken('the access token is not valid for this API');
    }
    const clientId = String(payload.client_id);
    if (!(await settings.stands(payload as Parameters<BearerSettings['stands']>[0]))) throw invalidToken('the access token was revoked');
    const cnf = payload.cnf as { 'x5t#S256'?: unknown; jkt?: unknown } | undefined;
    const thumbprint = cnf?.['x5t#S256'];
    const jkt = cnf?.jkt;
    if (typeof jkt === 'string') {
      // RFC 9449 §7.1: a DPoP-bound token presented as a bearer token is refused.
      if (!dpopScheme) throw dpopRefusal('invalid_token', 'the access token is DPoP-bound: send it in the DPoP scheme with a proof');
      const problem = await dpopProofProblem({ method: request.method, htu: request.htu, proofs: proofsOf(request.dpop), accessToken: token, jkt }, settings.firstUse);
      if (problem) throw dpopRefusal('invalid_dpop_proof', problem);
    } else if (dpopScheme) {
      throw dpopRefusal('invalid_token', 'the access token is not DPoP-bound');
    }
    if (typeof thumbprint === 'string') {
      const presented = certificate ? createHash('sha256').update(certificate.raw).digest('base64url') : undefined;
      if (presented !== thumbprint) throw invalidToken('the access token is bound to a certificate this connection did not present');
    } else if (settings.requireBoundTokens && typeof jkt !== 'string') {
      throw invalidToken('this API accepts only sender-constrained (certificate- or DPoP-bound) access tokens');
    }
    const scopes = new Set(typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : []);
    // RFC 9068 §2.2: for client credentials `sub` is the client; otherwise it is the user.
    const sub = String(payload.sub);
    const user =
      sub !== clientId
        ? { id: sub, acr: typeof payload.acr === 'string' ? payload.acr : undefined, authTime: typeof payload.auth_time === 'number' ? payload.auth_time : undefined }
        : undefined;
    return {
      actor: { kind: 'admin', clientId, ...(user ? { userId: user.id } : {}) },
      scopes,
      user,
      bound: typeof thumbprint === 'string' || typeof jkt === 'string',
    };
  };
}

export type BearerVerifier = ReturnType<typeof createBearerVerifier>;
