/**
 * What a client is, apart from storage: ids and secrets as Gatehouse
 * generates them, the summary callers see, and the metadata oidc-provider
 * reads for each client type.
 */
import { randomBytes, X509Certificate } from 'node:crypto';

import { newClientSchema, type ClientType } from './schemas.js';
import type { ClientRow } from './store.js';

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
  firstParty: boolean;
  disabled: boolean;
  source: ClientRow['source'];
  /** Dynamically registered clients: the initial access token that registered them (null: open registration). */
  registeredBy: string | null;
  /** Dynamically registered clients: the registration policy they answer to (null: the baseline). */
  registrationPolicy: string | null;
  /** When the secret stops authenticating (`client_secret_expires_at`); null: never, or no secret. */
  secretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
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

/** RFC 8705 metadata: the registered certificate subject, or the self-signed certificate as a JWK with x5c. */
function mtlsMetadata(input: ReturnType<typeof newClientSchema.parse>): Record<string, unknown> {
  const metadata: Record<string, unknown> = input.boundTokens ? { tls_client_certificate_bound_access_tokens: true } : {};
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

/** Metadata for each client type, in RFC 7591 names, as oidc-provider reads it. */
export function metadataFor(clientId: string, input: ReturnType<typeof newClientSchema.parse>): Record<string, unknown> {
  const common = {
    client_id: clientId,
    client_name: input.name,
    first_party: input.firstParty,
    id_token_signed_response_alg: input.idTokenSigningAlg,
    ...(input.scope ? { scope: input.scope } : {}),
    ...mtlsMetadata(input),
  };
  switch (input.type) {
    case 'service':
      return { ...common, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: input.authMethod };
    case 'confidential':
      return {
        ...common,
        application_type: 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: input.redirectUris,
        post_logout_redirect_uris: input.postLogoutRedirectUris,
        token_endpoint_auth_method: input.authMethod,
      };
    case 'public': {
      const native = input.redirectUris.some((uri) => !uri.startsWith('https:'));
      return {
        ...common,
        application_type: native ? 'native' : 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
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
    firstParty: m.first_party === true,
    disabled: row.disabled,
    source: row.source,
    registeredBy: row.registered_by_iat,
    registrationPolicy: row.registration_policy,
    secretExpiresAt: typeof m.client_secret_expires_at === 'number' && m.client_secret_expires_at > 0 ? new Date(m.client_secret_expires_at * 1000) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The secret leaves the metadata before it is stored, and goes into its own column sealed. */
export function splitSecret(metadata: Record<string, unknown>): { stored: Record<string, unknown>; secret: string | undefined } {
  const { client_secret: secret, ...stored } = metadata;
  return { stored, secret: typeof secret === 'string' ? secret : undefined };
}

