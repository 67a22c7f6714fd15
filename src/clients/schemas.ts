import { z } from 'zod';

import { isLoopbackHost } from '../config/index.js';

/**
 * Redirect URIs: https; http only on loopback (RFC 8252 §7.3); private-use
 * schemes with a dot (RFC 8252 §7.1) for native apps; never a fragment
 * (RFC 6749 §3.1.2) or a wildcard.
 */
export const redirectUriSchema = z
  .string()
  .max(2000)
  .refine((value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return false;
    }
    if (url.hash || value.includes('#') || value.includes('*')) return false;
    if (url.protocol === 'https:') return true;
    if (url.protocol === 'http:') return isLoopbackHost(url.hostname);
    return /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol);
  }, 'redirect URIs must be https, loopback http or a private-use scheme such as com.example.app:/cb, without fragment or wildcard');

/**
 * OpenID Connect Back-Channel Logout 1.0 §2.2: an absolute http(s) URL, no
 * fragment; https except on loopback, where relying parties under test live.
 */
export const backchannelLogoutUriSchema = z
  .string()
  .max(2000)
  .refine((value) => {
    if (value.includes('#')) return false;
    try {
      const url = new URL(value);
      return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
    } catch {
      return false;
    }
  }, 'the back-channel logout URI must be an https URL (http only on loopback) without a fragment');

/** A public JWK: a private member in a client's registered keys is a mistake that must not be stored. */
const publicJwkSchema = z
  .looseObject({ kty: z.enum(['EC', 'RSA', 'OKP']) })
  .refine((jwk) => !['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in jwk), 'keys must be public keys (a private member was found)');
/**
 * The OpenID Connect scopes the provider itself defines (src/oidc/configuration.ts).
 * The library's `scope` client metadata may name only these; an API's scopes
 * (`invoices:read`) belong to its resource server, so an operator's list is
 * split: these go to `scope`, the rest to `allowed_scopes`, which narrows what
 * a resource server grants this client (src/oidc/resources.ts).
 */
export const oidcScopes: ReadonlySet<string> = new Set(['openid', 'offline_access', 'profile', 'email', 'roles']);

export const clientTypes = ['confidential', 'public', 'service'] as const;
export const clientAuthMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'] as const;
/** Methods that authenticate with a shared secret Gatehouse generates (the others use the TLS certificate). */
export const secretAuthMethods: ReadonlySet<string> = new Set(['client_secret_basic', 'client_secret_post']);
export type ClientType = (typeof clientTypes)[number];

export const newClientSchema = z
  .object({
    type: z.enum(clientTypes),
    name: z.string().trim().min(1).max(200),
    redirectUris: z.array(redirectUriSchema).max(20).default([]),
    postLogoutRedirectUris: z.array(redirectUriSchema).max(20).default([]),
    firstParty: z.boolean().default(false),
    scope: z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'scope must be space-separated scope tokens').max(1000).optional(),
    authMethod: z.enum(clientAuthMethods).default('client_secret_basic'),
    idTokenSigningAlg: z.enum(['ES256', 'RS256', 'PS256', 'EdDSA']).default('ES256'),
    /** tls_client_auth (RFC 8705 §2.1.2): the registered subject DN, or one SAN. */
    tlsSubjectDn: z.string().trim().min(3).max(1000).optional(),
    tlsSan: z.object({ type: z.enum(['dns', 'uri', 'ip', 'email']), value: z.string().trim().min(1).max(1000) }).optional(),
    /** self_signed_tls_client_auth (RFC 8705 §2.2): the client's certificate, PEM. */
    certificatePem: z.string().max(20_000).optional(),
    /** RFC 8705 §3: access tokens carry cnf.x5t#S256 of the client's certificate. */
    boundTokens: z.boolean().default(false),
    /** private_key_jwt (RFC 7523): the client's public keys, as a JWK Set. */
    jwks: z.object({ keys: z.array(publicJwkSchema).min(1).max(10) }).optional(),
    /** RFC 9449 §5.2: access tokens carry cnf.jkt, and a token request without a DPoP proof is refused. */
    dpopBoundTokens: z.boolean().default(false),
    /** Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed, and whether they must carry `sid`. */
    backchannelLogoutUri: backchannelLogoutUriSchema.optional(),
    backchannelLogoutSessionRequired: z.boolean().default(false),
    /** `fapi2`: this client follows the FAPI 2.0 Security Profile (src/oidc/fapi.ts). */
    securityProfile: z.enum(['fapi2']).optional(),
    /** RFC 8628: the client may use the device authorization grant (a TV, a CLI); without redirect URIs it may use only that. */
    deviceFlow: z.boolean().default(false),
  })
  .superRefine((value, ctx) => {
    if (value.authMethod === 'tls_client_auth' && (value.tlsSubjectDn === undefined) === (value.tlsSan === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tlsSubjectDn'], message: 'tls_client_auth needs exactly one of a subject DN or a subject alternative name' });
    }
    if (value.authMethod !== 'tls_client_auth' && (value.tlsSubjectDn !== undefined || value.tlsSan !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tlsSubjectDn'], message: 'a certificate subject is only used with tls_client_auth' });
    }
    if ((value.authMethod === 'self_signed_tls_client_auth') !== (value.certificatePem !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['certificatePem'], message: 'self_signed_tls_client_auth needs the client certificate, and only it does' });
    }
    if ((value.authMethod === 'private_key_jwt') !== (value.jwks !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'private_key_jwt needs the client\'s public keys (a JWK Set), and only it does' });
    }
    if (value.boundTokens && value.dpopBoundTokens) {
      ctx.addIssue({ code: 'custom', path: ['dpopBoundTokens'], message: 'bind tokens to the certificate or to a DPoP key, not both' });
    }
    if (value.securityProfile === 'fapi2' && (value.type === 'public' || !['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'].includes(value.authMethod))) {
      ctx.addIssue({ code: 'custom', path: ['securityProfile'], message: 'a FAPI 2.0 client is confidential and authenticates with private_key_jwt, tls_client_auth or self_signed_tls_client_auth' });
    }
    if (value.securityProfile === 'fapi2' && value.idTokenSigningAlg === 'RS256') {
      ctx.addIssue({ code: 'custom', path: ['idTokenSigningAlg'], message: 'a FAPI 2.0 client signs with PS256, ES256 or EdDSA' });
    }
    if (value.type === 'service' && value.backchannelLogoutUri !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['backchannelLogoutUri'], message: 'a service (client credentials) client has no user sessions to be logged out of' });
    }
    if (value.backchannelLogoutSessionRequired && value.backchannelLogoutUri === undefined) {
      ctx.addIssue({ code: 'custom', path: ['backchannelLogoutSessionRequired'], message: 'requiring a sid needs a back-channel logout URI' });
    }
    if (value.type === 'service' && value.deviceFlow) {
      ctx.addIssue({ code: 'custom', path: ['deviceFlow'], message: 'a service (client credentials) client has no user to sign in on another device' });
    }
    if (value.deviceFlow && value.securityProfile === 'fapi2') {
      ctx.addIssue({ code: 'custom', path: ['deviceFlow'], message: 'the FAPI 2.0 Security Profile has no device authorization grant' });
    }
    if (value.type !== 'service' && !value.deviceFlow && value.redirectUris.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: `a ${value.type} client needs at least one redirect URI` });
    }
    if (value.type === 'service' && value.redirectUris.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'a service (client credentials) client has no redirect URIs' });
    }
  });

export type NewClient = z.input<typeof newClientSchema>;

/**
 * What an operator may change on a client after creating it (the admin API's
 * PATCH): its name, redirect URIs, first-party marker and scopes. The type,
 * authentication method and certificate binding are what the client *is*:
 * changing them means a new client (and a new secret), so they are read-only.
 */
export const clientChangeSchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    redirectUris: z.array(redirectUriSchema).max(20).optional(),
    postLogoutRedirectUris: z.array(redirectUriSchema).max(20).optional(),
    firstParty: z.boolean().optional(),
    /** null: no scope list (any its resource servers offer). */
    scope: newClientSchema.shape.scope.unwrap().nullable().optional(),
  })
  .strict();

export type ClientChange = z.input<typeof clientChangeSchema>;
