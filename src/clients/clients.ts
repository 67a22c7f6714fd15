import { randomBytes, X509Certificate } from 'node:crypto';

import { createNamedCache } from '../db/cache.js';
import type { Db, Queryable } from '../db/index.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { newClientSchema, oidcScopes, secretAuthMethods, type ClientType, type NewClient } from './schemas.js';
import { createClientStore, type ClientRow } from './store.js';

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

/** Metadata for each client type, in RFC 7591 names, as oidc-provider reads it. */
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

/** The operator's scopes as the library reads them (see oidcScopes), and in full for Gatehouse. */
function scopeMetadata(scope: string | undefined): Record<string, string> {
  if (!scope) return {};
  const scopes = [...new Set(scope.split(' '))];
  const oidc = scopes.filter((s) => oidcScopes.has(s));
  return { allowed_scopes: scopes.join(' '), ...(oidc.length ? { scope: oidc.join(' ') } : {}) };
}

function metadataFor(clientId: string, input: ReturnType<typeof newClientSchema.parse>): Record<string, unknown> {
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

function summarise(row: ClientRow): ClientSummary {
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
function splitSecret(metadata: Record<string, unknown>): { stored: Record<string, unknown>; secret: string | undefined } {
  const { client_secret: secret, ...stored } = metadata;
  return { stored, secret: typeof secret === 'string' ? secret : undefined };
}

/**
 * How long a node may serve a client's metadata without re-reading it when an
 * invalidation NOTIFY was lost (its listener reconnecting); normally a change
 * reaches every node as soon as it commits.
 */
export const clientCacheTtlMs = 5_000;

export function createClientService(db: Db, secrets: SecretBox) {
  const store = createClientStore(db);
  /**
   * The client cache: what the token endpoint reads on every request (row +
   * secret decryption), per client id. Every write below invalidates it on all
   * nodes; it caches only once the server starts it (the CLI reads through).
   */
  const cache = createNamedCache<Record<string, unknown>>(db, 'clients', { ttlMs: clientCacheTtlMs });
  const load = async (clientId: string): Promise<Record<string, unknown> | undefined> => {
    const row = await store.findById(clientId);
    if (!row || row.disabled) return undefined;
    if (!row.secret_ciphertext) return row.metadata;
    return { ...row.metadata, client_secret: secrets.open('client-secret', row.client_id, row.secret_ciphertext) };
  };

  return {
    /** Creates a client; the secret (if any) is returned once and stored only encrypted. */
    async create(input: NewClient): Promise<{ client: ClientSummary; clientSecret: string | undefined }> {
      const parsed = newClientSchema.parse(input);
      const clientId = generateClientId();
      const clientSecret = parsed.type !== 'public' && secretAuthMethods.has(parsed.authMethod) ? generateClientSecret() : undefined;
      const row = await store.insert({
        client_id: clientId,
        metadata: metadataFor(clientId, parsed),
        secret_ciphertext: clientSecret ? secrets.seal('client-secret', clientId, clientSecret) : null,
        source: 'cli',
      });
      return { client: summarise(row), clientSecret };
    },

    /**
     * The metadata oidc-provider needs to authenticate and serve a client,
     * with the secret decrypted in memory only. Disabled clients do not exist
     * as far as the protocol is concerned.
     */
    metadataForProvider(clientId: string): Promise<Record<string, unknown> | undefined> {
      // A copy: the library may decorate what it is given, and the cached entry must stay as read.
      const copy = (metadata: Record<string, unknown> | undefined) => metadata && { ...metadata };
      // Read on every token request: a cached client is answered without a chain of promises.
      const cached = cache.peek(clientId);
      if (cached) return Promise.resolve(copy(cached));
      return cache.get(clientId, () => load(clientId)).then(copy);
    },

    /** The client cache, which the server starts (listening for invalidations) and stops. */
    cache,

    /** Stores a client that registered itself (RFC 7591), inside the caller's registration transaction. */
    async insertRegistered(tx: Queryable, client: RegisteredClient): Promise<ClientSummary> {
      const { stored, secret } = splitSecret(client.metadata);
      // A registered client without a resource list may target none (not all, as an operator-made one may).
      stored.resources ??= [];
      const row = await store.insert(
        {
          client_id: client.clientId,
          metadata: stored,
          secret_ciphertext: secret ? secrets.seal('client-secret', client.clientId, secret) : null,
          source: 'registration',
          registered_by_iat: client.registeredBy,
          registration_policy: client.policy,
        },
        tx,
      );
      return summarise(row);
    },

    /** The registration record of a client, locked for the caller's update transaction. */
    async lockRegistered(tx: Queryable, clientId: string): Promise<{ policy: string | null } | undefined> {
      const row = await store.findForUpdate(tx, clientId);
      return row?.source === 'registration' ? { policy: row.registration_policy } : undefined;
    },

    /** The policy a registered client answers to; undefined for unknown and operator-made clients. */
    async registrationOf(clientId: string): Promise<{ policy: string | null } | undefined> {
      const row = await store.findById(clientId);
      return row?.source === 'registration' ? { policy: row.registration_policy } : undefined;
    },

    /** Replaces a registered client's metadata (RFC 7592 update); says whether its secret changed. */
    async replaceRegistered(tx: Queryable, clientId: string, metadata: Record<string, unknown>): Promise<{ secretRotated: boolean }> {
      const current = await store.findForUpdate(tx, clientId);
      if (!current) throw new ClientError('no such client');
      const { stored, secret } = splitSecret(metadata);
      stored.resources ??= [];
      const previous = current.secret_ciphertext ? secrets.open('client-secret', clientId, current.secret_ciphertext) : undefined;
      const unchanged = secret === previous;
      await store.replaceMetadata(tx, clientId, stored, unchanged ? current.secret_ciphertext : secret ? secrets.seal('client-secret', clientId, secret) : null);
      await cache.invalidate(clientId, tx);
      return { secretRotated: secret !== undefined && previous !== undefined && !unchanged };
    },

    /** Live clients one initial access token has registered (the policy's per-token cap). */
    countRegisteredBy: (tx: Queryable, iatId: string) => store.countRegisteredBy(tx, iatId),

    /**
     * Re-seals every client secret still sealed under a previous master secret
     * (`gatehouse keys rewrap`); returns how many it re-sealed.
     */
    async rewrap(onProgress?: (done: number, total: number) => void): Promise<number> {
      const stale = (await store.listSealed()).filter((row) => secrets.keyIdOf(row.secret_ciphertext!) !== secrets.currentKeyId);
      let done = 0;
      for (const row of stale) {
        const secret = secrets.open('client-secret', row.client_id, row.secret_ciphertext!);
        if (await store.replaceCiphertext(row.client_id, row.secret_ciphertext!, secrets.seal('client-secret', row.client_id, secret))) {
          done += 1;
          await cache.invalidate(row.client_id);
        }
        onProgress?.(done, stale.length);
      }
      return done;
    },

    async list(): Promise<ClientSummary[]> {
      return (await store.list()).map(summarise);
    },

    async find(clientId: string): Promise<ClientSummary | undefined> {
      const row = await store.findById(clientId);
      return row ? summarise(row) : undefined;
    },

    async remove(clientId: string): Promise<void> {
      const removed = await store.remove(clientId);
      await cache.invalidate(clientId);
      if (!removed) throw new ClientError('no such client');
    },

    async setDisabled(clientId: string, disabled: boolean): Promise<void> {
      const changed = await store.setDisabled(clientId, disabled);
      await cache.invalidate(clientId);
      if (!changed) throw new ClientError('no such client');
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
