/**
 * Checks a DPoP proof (RFC 9449 §4.3 and §7) for a DPoP-bound access token,
 * with jose for everything cryptographic. What the API checks, in order:
 *   - exactly one `DPoP` header, a JWT with `typ: dpop+jwt`, an asymmetric
 *     `alg` the API accepts and a public `jwk` in its header, whose signature
 *     verifies with that key;
 *   - `iat` within the acceptance window (neither older nor in the future);
 *   - `htm` equal to the request method, `htu` equal to the request URL
 *     without query and fragment;
 *   - `ath` equal to the base64url SHA-256 of the access token;
 *   - the key's JWK thumbprint (RFC 7638) equal to the token's `cnf.jkt`;
 *   - `jti` not seen before within the window (RFC 9449 §11.1).
 */
import { createHash } from 'node:crypto';

import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';

export const dpopAlgorithms = ['ES256', 'PS256', 'EdDSA'];

export interface ProofRequest {
  method: string;
  /** The URL the client called, as the client saw it (the API's public origin behind a proxy). */
  url: URL;
  /** The value(s) of the DPoP header. */
  proofs: string[];
  accessToken: string;
  /** The token's cnf.jkt. */
  jkt: string;
}

/** Seen proof ids, each kept as long as its proof could be accepted; one process (a cluster would share it, as Gatehouse does). */
export function createJtiCache(windowSeconds: number, maxEntries = 100_000) {
  const seen = new Map<string, number>();
  return {
    /** True the first time; false for a replay. Expired entries go first; at the cap, the oldest go. */
    firstUse(jti: string, now = Date.now()): boolean {
      for (const [key, expires] of seen) {
        if (expires > now && seen.size < maxEntries) break;
        seen.delete(key);
      }
      if (seen.has(jti)) return false;
      seen.set(jti, now + windowSeconds * 1000);
      return true;
    },
  };
}

export type JtiCache = ReturnType<typeof createJtiCache>;

/** Returns why the proof is refused (an `invalid_dpop_proof` description), or undefined when it holds. */
export async function dpopProblem(request: ProofRequest, jtis: JtiCache, windowSeconds: number): Promise<string | undefined> {
  if (request.proofs.length !== 1) return 'exactly one DPoP proof is required';
  let payload: Record<string, unknown>;
  let jwk: JWK;
  try {
    const verified = await jwtVerify(request.proofs[0]!, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: dpopAlgorithms, maxTokenAge: windowSeconds, clockTolerance: 5 });
    payload = verified.payload;
    jwk = verified.protectedHeader.jwk!;
  } catch {
    return 'the DPoP proof is not a valid, recent proof JWT';
  }
  const htu = new URL(request.url);
  htu.search = '';
  htu.hash = '';
  if (payload.htm !== request.method) return 'htm does not match the request method';
  if (typeof payload.htu !== 'string' || !URL.canParse(payload.htu) || stripped(payload.htu) !== htu.href) return 'htu does not match the request URL';
  if (payload.ath !== createHash('sha256').update(request.accessToken).digest('base64url')) return 'ath does not match the access token';
  if ((await calculateJwkThumbprint(jwk)) !== request.jkt) return 'the proof is signed with another key than the token is bound to';
  if (typeof payload.jti !== 'string' || !payload.jti || !jtis.firstUse(payload.jti)) return 'the DPoP proof was already used';
  return undefined;
}

function stripped(url: string): string {
  const parsed = new URL(url);
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
}
