/**
 * Software statements (RFC 7591 §2.3): a JWT in which a party the operator
 * trusts vouches for a client's metadata. Verified with jose against the
 * operator's pinned keys for that issuer (never keys fetched from a URL the
 * statement names); the caller lets its metadata claims override the plain
 * JSON the client sent.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';

import { RegistrationError } from './errors.js';

/** Asymmetric only: a shared-secret (HS*) statement would let anyone holding the secret mint one. */
export const softwareStatementAlgorithms = ['ES256', 'ES384', 'PS256', 'PS384', 'RS256', 'RS384', 'EdDSA', 'Ed25519'];

const clockToleranceSeconds = 60;

/**
 * JWT claims about the statement itself, and metadata only the server sets:
 * a statement may describe a client, never hand it an id or a secret.
 */
const notMetadata = new Set([
  'iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti',
  'client_id', 'client_secret', 'client_id_issued_at', 'client_secret_expires_at',
  'registration_access_token', 'registration_client_uri', 'software_statement',
]);

export interface VerifiedStatement {
  issuer: string;
  softwareId: string | undefined;
  /** Client metadata the statement asserts; it takes precedence over the request's. */
  metadata: Record<string, unknown>;
}

export type SoftwareStatementVerifier = (statement: unknown) => Promise<VerifiedStatement>;

const invalid = (description: string) => new RegistrationError('invalid_software_statement', description);

export function createSoftwareStatementVerifier(trustedIssuers: Readonly<Record<string, JSONWebKeySet>>): SoftwareStatementVerifier {
  const keySets = new Map(Object.entries(trustedIssuers).map(([issuer, jwks]) => [issuer, createLocalJWKSet(jwks)]));

  return async function verifySoftwareStatement(statement) {
    if (keySets.size === 0) throw invalid('software statements are not accepted by this server');
    if (typeof statement !== 'string') throw invalid('software_statement must be a signed JWT');
    let claimed: JWTPayload;
    try {
      claimed = decodeJwt(statement);
    } catch {
      throw invalid('software_statement must be a signed JWT');
    }
    // The unverified `iss` only picks the key set; jwtVerify then checks it under those keys.
    const keys = typeof claimed.iss === 'string' ? keySets.get(claimed.iss) : undefined;
    if (!keys) throw new RegistrationError('unapproved_software_statement', 'the software statement issuer is not trusted by this server');

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(statement, keys, {
        issuer: claimed.iss!,
        algorithms: softwareStatementAlgorithms,
        requiredClaims: ['iat'],
        clockTolerance: clockToleranceSeconds,
      }));
    } catch {
      throw invalid('software_statement signature, algorithm or validity period is not acceptable');
    }
    // jose checks a future iat only together with maxTokenAge; statements are long-lived, so check it here.
    if (payload.iat! > Math.floor(Date.now() / 1000) + clockToleranceSeconds) throw invalid('software_statement is issued in the future');

    const metadata = Object.fromEntries(Object.entries(payload).filter(([claim]) => !notMetadata.has(claim)));
    return { issuer: payload.iss!, softwareId: typeof payload.software_id === 'string' ? payload.software_id : undefined, metadata };
  };
}
