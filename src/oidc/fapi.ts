/**
 * The FAPI 2.0 Security Profile (OpenID FAPI 2.0 Security Profile, final),
 * for every client (GATEHOUSE_PROFILE=fapi2) or for the clients registered
 * with `security_profile: "fapi2"`. What the library does once it knows a
 * request is FAPI 2.0 (`features.fapi.profile`, read through
 * `ctx.oidc.isFapi('2.0')`): the client assertion `aud` must be the issuer
 * (lib/helpers/defaults.js assertJwtClientAuthClaimsAndHeader), the PAR
 * `redirect_uri` is required (lib/actions/authorization/response_parameters.js).
 * What Gatehouse adds, each a requirement of the profile for authorization
 * servers:
 *   - PAR required (`require_pushed_authorization_requests`);
 *   - sender-constrained access tokens: DPoP, or the client's certificate for
 *     an mTLS client (RFC 8705), required;
 *   - confidential clients authenticated by `private_key_jwt` or mTLS only;
 *   - PS256, ES256 and EdDSA only, for everything signed or verified;
 *   - authorization codes live at most 60 s;
 *   - no refresh-token rotation (the profile allows it only in extraordinary
 *     circumstances: a lost response must not lock the client out).
 * PKCE with S256 only is Gatehouse's rule for every client already, and `iss`
 * is in every authorization response (RFC 9207), so both hold here too.
 */
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

import type { Config } from '../config/index.js';

export const fapiAlgorithms: readonly string[] = ['PS256', 'ES256', 'EdDSA'];
export const fapiAuthMethods: readonly string[] = ['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'];
/** FAPI 2.0: authorization codes expire within 60 seconds. */
export const fapiMaxCodeTtlSeconds = 60;

/** Client metadata property that puts one client under the profile. */
export const securityProfileProperty = 'security_profile';

type Metadata = Record<string, unknown>;
type Profile = Config['profile'];

const mtlsMethods = new Set(['tls_client_auth', 'self_signed_tls_client_auth']);
const signingAlgProperties = [
  'id_token_signed_response_alg',
  'token_endpoint_auth_signing_alg',
  'userinfo_signed_response_alg',
  'introspection_signed_response_alg',
  'authorization_signed_response_alg',
  'request_object_signing_alg',
];

export function isFapiClient(profile: Profile, metadata: Metadata | undefined): boolean {
  return profile === 'fapi2' || metadata?.[securityProfileProperty] === 'fapi2';
}

/** The first rule of the profile the metadata breaks, or undefined. */
export function fapiViolation(metadata: Metadata): string | undefined {
  const method = String(metadata.token_endpoint_auth_method ?? 'client_secret_basic');
  if (!fapiAuthMethods.includes(method)) {
    return `token_endpoint_auth_method: ${method} is not allowed by the FAPI 2.0 profile (allowed: ${fapiAuthMethods.join(', ')})`;
  }
  for (const property of signingAlgProperties) {
    const alg = metadata[property];
    if (alg !== undefined && alg !== null && !fapiAlgorithms.includes(String(alg))) {
      return `${property}: ${String(alg)} is not allowed by the FAPI 2.0 profile (allowed: ${fapiAlgorithms.join(', ')})`;
    }
  }
  const responseTypes = Array.isArray(metadata.response_types) ? (metadata.response_types as unknown[]) : [];
  if (responseTypes.some((type) => type !== 'code')) return 'response_types: the FAPI 2.0 profile allows only code';
  return undefined;
}

/**
 * The metadata of a client under the profile as the library must read it,
 * or undefined when the client breaks the profile (the client then does not
 * exist as far as the protocol is concerned, and its requests fail as
 * `invalid_client`). A client that names neither binding gets the one that
 * fits how it authenticates: its certificate for an mTLS client, DPoP
 * otherwise.
 */
export function fapiClientMetadata(profile: Profile, metadata: Metadata): Metadata | undefined {
  if (!isFapiClient(profile, metadata)) return metadata;
  if (fapiViolation(metadata) !== undefined) return undefined;
  const bound = metadata.dpop_bound_access_tokens === true || metadata.tls_client_certificate_bound_access_tokens === true;
  const binding = bound ? {} : mtlsMethods.has(String(metadata.token_endpoint_auth_method)) ? { tls_client_certificate_bound_access_tokens: true } : { dpop_bound_access_tokens: true };
  return { ...metadata, ...binding, require_pushed_authorization_requests: true };
}

/** `extraClientMetadata.validator` for `security_profile`; registration answers invalid_client_metadata. */
export function validateSecurityProfile(profile: Profile, value: unknown, metadata: Metadata): void {
  if (value !== undefined && value !== 'fapi2') throw new errors.InvalidClientMetadata('security_profile must be "fapi2" when present');
  if (!isFapiClient(profile, metadata)) return;
  const violation = fapiViolation(metadata);
  if (violation) throw new errors.InvalidClientMetadata(violation);
}

const isFapiRequest = (ctx: KoaContextWithOIDC | undefined) => ctx?.oidc?.isFapi('2.0') === '2.0';

/** Everything signed or verified under the global profile uses only the profile's algorithms. */
export function allowedAlgorithms(profile: Profile, algorithms: string[]): string[] {
  return profile === 'fapi2' ? algorithms.filter((alg) => fapiAlgorithms.includes(alg)) : algorithms;
}

type RotateRefreshToken = Extract<NonNullable<Configuration['rotateRefreshToken']>, (...args: never[]) => unknown>;

/** The provider options the profile sets; spread into the configuration. */
export function fapiConfiguration(profile: Profile) {
  return {
    fapi: {
      enabled: true,
      profile: (_ctx: KoaContextWithOIDC, client?: { [key: string]: unknown }) => (isFapiClient(profile, client) ? ('2.0' as const) : undefined),
    },
    pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: profile === 'fapi2' },
    /**
     * Outside the profile, the library's own rule (lib/helpers/defaults.js
     * rotateRefreshToken, 9.13.3): rotate public clients' unbound tokens on
     * every use, others once 70 % of their lifetime has passed.
     */
    rotateRefreshToken: ((ctx) => {
      if (isFapiRequest(ctx)) return false;
      const { RefreshToken: token, Client: client } = ctx.oidc.entities;
      if (!token || !client) return false;
      if (token.totalLifetime() >= 365.25 * 24 * 60 * 60) return false;
      if (client.clientAuthMethod === 'none' && !token.isSenderConstrained()) return true;
      return token.ttlPercentagePassed() >= 70;
    }) as RotateRefreshToken,
    /** The library's FAPI 2.0 check (aud is the issuer) plus the profile's algorithms for the assertion itself. */
    assertJwtClientAuthClaimsAndHeader(ctx: KoaContextWithOIDC, claims: { aud?: unknown }, header: { alg?: unknown }) {
      if (!isFapiRequest(ctx)) return;
      if (claims.aud !== ctx.oidc.issuer) throw new errors.InvalidClientAuth('audience (aud) must equal the issuer identifier url');
      if (!fapiAlgorithms.includes(String(header.alg))) throw new errors.InvalidClientAuth(`client assertions must be signed with ${fapiAlgorithms.join(', ')}`);
    },
    /** Codes of a client under the profile never outlive 60 s, whatever GATEHOUSE_AUTHORIZATION_CODE_TTL says. */
    authorizationCodeTtl(base: number) {
      return (_ctx: KoaContextWithOIDC, _code: unknown, client: { [key: string]: unknown }) => (isFapiClient(profile, client) ? Math.min(base, fapiMaxCodeTtlSeconds) : base);
    },
  };
}
