/**
 * The admin API as a DPoP resource server (RFC 9449 §7): a token bound to a
 * key (`cnf.jkt`) is accepted only in the `DPoP` scheme with one proof of
 * possession of that key for this very request. The checks, in order:
 *   - exactly one `DPoP` header, a JWT with `typ: dpop+jwt`, an algorithm of
 *     the provider's set and a public `jwk` in its header, signed by it;
 *   - `iat` inside the window, neither older nor in the future (§11.1);
 *   - `htm` the request method, `htu` the URL the caller was given for this
 *     API (the advertised server URL, without query and fragment);
 *   - `ath` the base64url SHA-256 of the access token (§4.3 step 11);
 *   - the key's JWK thumbprint (RFC 7638) the token's `cnf.jkt`;
 *   - its `jti` seen for the first time, in the table every node shares, the
 *     same one the token endpoint's proofs go through (src/replay/).
 * Nonces are the token endpoint's business here: RFC 9449 §9 lets a
 * resource server do without, and the replay record already covers the
 * window.
 */
import { createHash } from 'node:crypto';

import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';

import { dpopSigningAlgValues } from '../oidc/dpop-algorithms.js';

/** How old a proof may be (and how far ahead a skewed clock may date it). */
export const proofWindowSeconds = 60;
const clockToleranceSeconds = 5;

export interface ProofRequest {
  method: string;
  /** The URL of this request as the caller addresses it. */
  htu: string;
  /** The DPoP header's value(s). */
  proofs: string[];
  accessToken: string;
  /** The token's cnf.jkt. */
  jkt: string;
}

export type FirstUse = (issuer: string, jti: string, lifetimeSeconds: number) => Promise<boolean>;

const withoutQuery = (url: string) => {
  const parsed = new URL(url);
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
};

/** Why the proof is refused (an `invalid_dpop_proof` description), or undefined when it holds. */
export async function dpopProofProblem(request: ProofRequest, firstUse: FirstUse): Promise<string | undefined> {
  if (request.proofs.length !== 1) return 'exactly one DPoP proof is required';
  let payload: Record<string, unknown>;
  let jwk: JWK;
  try {
    const verified = await jwtVerify(request.proofs[0]!, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: dpopSigningAlgValues, maxTokenAge: proofWindowSeconds, clockTolerance: clockToleranceSeconds });
    payload = verified.payload;
    jwk = verified.protectedHeader.jwk!;
  } catch {
    return 'the DPoP proof is not a valid, recent proof JWT';
  }
  if (payload.htm !== request.method) return 'htm does not match the request method';
  if (typeof payload.htu !== 'string' || !URL.canParse(payload.htu) || withoutQuery(payload.htu) !== withoutQuery(request.htu)) return 'htu does not match the request URL';
  if (payload.ath !== createHash('sha256').update(request.accessToken).digest('base64url')) return 'ath does not match the access token';
  if ((await calculateJwkThumbprint(jwk)) !== request.jkt) return 'the proof is signed with another key than the token is bound to';
  if (typeof payload.jti !== 'string' || !payload.jti) return 'the DPoP proof has no jti';
  // Keyed by the token's key: a jti is the client's to choose, unique per key.
  if (!(await firstUse(`dpop-admin:${request.jkt}`, payload.jti, proofWindowSeconds + clockToleranceSeconds * 2))) return 'the DPoP proof was already used';
  return undefined;
}

/** The DPoP header's proofs: several headers arrive joined by commas, which a compact JWT never holds. */
export function proofsOf(header: string | undefined): string[] {
  if (!header) return [];
  return header.split(',').map((p) => p.trim()).filter(Boolean);
}
