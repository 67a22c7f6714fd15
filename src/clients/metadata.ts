/**
 * What a client is, apart from storage: ids and secrets as Gatehouse
 * generates them, the summary callers see, and the metadata oidc-provider
 * reads for each client type.
 */
import { randomBytes, X509Certificate } from 'node:crypto';

import { type newClientSchema, oidcScopes, type ClientType } from './schemas.js';
import { adminScopes } from '../resources/admin-audience.js';
import type { ClientRow } from './store.js';

const adminScopeSet: ReadonlySet<string> = new Set(adminScopes);

/**
 * 128 random bits, the same for operator-created and registered clients. An id
 * starting with `-` would read as an option on the command line
 * (`gatehouse clients show -x…`), so those are drawn again.
 */
export function generateClientId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}
/** 256 random bits; Gatehouse always generates secrets, a client never chooses one (RFC 7592 §2.2). */
export const generateClientSecret = () => randomBytes(32).toString('base64url');

export interface ClientSummary {
  clientId: string;
  name: string;
  type: ClientType;
  grantTypes: string[];
  redirectUris: string[];
  authMethod: string;
  /** Scopes the client may be granted; empty: any its resource servers offer. */
  scopes: string[];
  firstParty: boolean;
  /** RFC 9449 §5.2 `dpop_bound_access_tokens` as registered (GATEHOUSE_PUBLIC_CLIENTS_REQUIRE_DPOP may add it for public clients). */
  dpopBoundTokens: boolean;
  /** `fapi2` when this client follows the FAPI 2.0 profile on its own (GATEHOUSE_PROFILE=fapi2 puts every client under it). */
  securityProfile: string | null;
  /** Back-Channel Logout 1.0: where logout tokens go (null: none registered), and whether they carry `sid`. */
  backchannelLogoutUri: string | null;
  backchannelLogoutSessionRequired: boolean;
  disabled: boolean;
  source: ClientRow['source'];
  /** Dynamically registered clients: the initial access token that registered them (null: open registration). */
  registeredBy: string | null;
  /** Dynamically registered clients: the registration policy they answer to (null: the baseline). */
  registrationPolicy: string | null;
  /** Operator-set: audiences whose tokens the client may introspect (`*`: all). */
  introspects: string[];
  /** Operator-set: the resource server of token requests that name none. */
  defaultResource: string | null;
  /** When the secret stops authenticating (`client_secret_expires_at`); null: never, or no secret. */
  secretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** Bumped by every UPDATE of the row (migration 0014's trigger): the admin API's ETag. */
  version: number;
}

/** What storing a registered client needs beyond its metadata. */
export interface RegisteredClient {
  clientId: string;
  /** Validated metadata as oidc-provider hands it to the adapter, client_secret included. */
  metadata: Record<string, unknown>;
  registeredBy: string | null;
  policy: string | null;
}

export class ClientError extends Error {
  override name = 'ClientError';
}

/** Metadata for each client type, in RFC 7591 names, as oidc-provider reads it. */
/** RFC 8705 metadata: the registered certificate subject, or the self-signed certificate as a JWK with x5c. */
function mtlsMetadata(input: ReturnType<typeof newClientSchema.parse>): Record<string, unknown> {
  const metadata: Record<string, unknown> = input.boundTokens ? { tls_client_certificate_bound_access_tokens: true } : {};
  if (input.dpopBoundTokens) metadata.dpop_bound_access_tokens = true;
  if (input.backchannelLogoutUri) {
    metadata.backchannel_logout_uri = input.backchannelLogoutUri;
    metadata.backchannel_logout_session_required = input.backchannelLogoutSessionRequired;
  }
  if (input.securityProfile) metadata.security_profile = input.securityProfile;
  if (input.jwks) metadata.jwks = input.jwks;
  if (input.tlsSubjectDn) metadata.tls_client_auth_subject_dn = input.tlsSubjectDn;
  if (input.tlsSan) metadata[`tls_client_auth_san_${input.tlsSan.type}`] = input.tlsSan.value;
  if (input.certificatePem) {
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(input.certificatePem);
    } catch {
      throw new ClientError('the certificate is not a PEM X.509 certificate');
    }
    const jwk = certificate.publicKey.export({ format: 'jwk' });
    metadata.jwks = { keys: [{ ...jwk, x5c: [certificate.raw.toString('base64')] }] };
  }
  return metadata;
}

/** The operator's scopes as the library reads them (see oidcScopes), and in full for Gatehouse. */
export function scopeMetadata(scope: string | undefined): Record<string, string> {
  if (!scope) return {};
  const scopes = [...new Set(scope.split(' '))];
  // The admin API's scopes are the provider's own too (src/oidc/configuration.ts `scopes`), so the library checks them against `scope`.
  const oidc = scopes.filter((s) => oidcScopes.has(s) || adminScopeSet.has(s));
  return { allowed_scopes: scopes.join(' '), ...(oidc.length ? { scope: oidc.join(' ') } : {}) };
}

export const deviceCodeGrantType = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * The grants of a client that signs users in: the code flow when it has
 * redirect URIs, the device grant (RFC 8628) when the operator registered it
 * for one; the library refuses a grant a client's `grant_types` does not list
 * (lib/actions/authorization/client.js checkClientGrantType), so this list is
 * where "registered for the device flow" is decided.
 */
function userGrants(input: { redirectUris: string[]; deviceFlow: boolean }) {
  const code = input.redirectUris.length > 0;
  return {
    grant_types: [...(code ? ['authorization_code'] : []), ...(input.deviceFlow ? [deviceCodeGrantType] : []), 'refresh_token'],
    response_types: code ? ['code'] : [],
  };
}

export function metadataFor(clientId: string, input: ReturnType<typeof newClientSchema.parse>): Record<string, unknown> {
  const common = {
    client_id: clientId,
    client_name: input.name,
    first_party: input.firstParty,
    id_token_signed_response_alg: input.idTokenSigningAlg,
    ...scopeMetadata(input.scope),
    ...mtlsMetadata(input),
  };
  switch (input.type) {
    case 'service':
      return { ...common, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: input.authMethod };
    case 'confidential':
      return {
        ...common,
        application_type: 'web',
        ...userGrants(input),
        redirect_uris: input.redirectUris,
        post_logout_redirect_uris: input.postLogoutRedirectUris,
        token_endpoint_auth_method: input.authMethod,
      };
    case 'public': {
      // A device-only client (no redirect URIs) is an installed application too.
      const native = input.redirectUris.length === 0 || input.redirectUris.some((uri) => !uri.startsWith('https:'));
      return {
        ...common,
        application_type: native ? 'native' : 'web',
        ...userGrants(input),
        redirect_uris: input.redirectUris,
        post_logout_redirect_uris: input.postLogoutRedirectUris,
        token_endpoint_auth_method: 'none',
      };
    }
  }
}

function typeOf(metadata: Record<string, unknown>): ClientType {
  if (metadata.token_endpoint_auth_method === 'none') return 'public';
  const grants = (metadata.grant_types as string[] | undefined) ?? [];
  return grants.length === 1 && grants[0] === 'client_credentials' ? 'service' : 'confidential';
}

export function summarise(row: ClientRow): ClientSummary {
  const m = row.metadata;
  return {
    clientId: row.client_id,
    name: String(m.client_name ?? ''),
    type: typeOf(m),
    grantTypes: (m.grant_types as string[] | undefined) ?? [],
    redirectUris: (m.redirect_uris as string[] | undefined) ?? [],
    authMethod: String(m.token_endpoint_auth_method ?? 'client_secret_basic'),
    scopes: String(m.allowed_scopes ?? m.scope ?? '').split(' ').filter(Boolean),
    firstParty: m.first_party === true,
    dpopBoundTokens: m.dpop_bound_access_tokens === true,
    securityProfile: typeof m.security_profile === 'string' ? m.security_profile : null,
    backchannelLogoutUri: typeof m.backchannel_logout_uri === 'string' ? m.backchannel_logout_uri : null,
    backchannelLogoutSessionRequired: m.backchannel_logout_session_required === true,
    disabled: row.disabled,
    source: row.source,
    registeredBy: row.registered_by_iat,
    registrationPolicy: row.registration_policy,
    introspects: row.introspects ?? [],
    defaultResource: row.default_resource ?? null,
    secretExpiresAt: typeof m.client_secret_expires_at === 'number' && m.client_secret_expires_at > 0 ? new Date(m.client_secret_expires_at * 1000) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: Number(row.version),
  };
}

/** The secret leaves the metadata before it is stored, and goes into its own column sealed. */
export function splitSecret(metadata: Record<string, unknown>): { stored: Record<string, unknown>; secret: string | undefined } {
  const { client_secret: secret, ...stored } = metadata;
  return { stored, secret: typeof secret === 'string' ? secret : undefined };
}
