import { randomBytes, X509Certificate } from 'node:crypto';

import { recordAs, type Actor, type Audit } from '../audit/events.js';
import { createNamedCache } from '../db/cache.js';
import type { Db, Queryable } from '../db/index.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { clientAccessSchema, type ClientAccess, type ClientAccessChange } from './access.js';
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
  /** RFC 9449 §5.2 `dpop_bound_access_tokens` as registered (GATEHOUSE_PUBLIC_CLIENTS_REQUIRE_DPOP may add it for public clients). */
  dpopBoundTokens: boolean;
  /** `fapi2` when this client follows the FAPI 2.0 profile on its own (GATEHOUSE_PROFILE=fapi2 puts every client under it). */
  securityProfile: string | null;
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
    dpopBoundTokens: m.dpop_bound_access_tokens === true,
    securityProfile: typeof m.security_profile === 'string' ? m.security_profile : null,
    disabled: row.disabled,
    source: row.source,
    registeredBy: row.registered_by_iat,
    registrationPolicy: row.registration_policy,
    introspects: row.introspects ?? [],
    defaultResource: row.default_resource ?? null,
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

/** A live client as the provider and the access checks read it. */
interface CachedClient {
  metadata: Record<string, unknown>;
  access: ClientAccess;
}

export interface ClientServiceDeps {
  /** Where every change is recorded (invariant 5). */
  audit: Audit;
  /** Whether a resource server with this audience is registered (access may name only those). */
  resourceExists?: (audience: string) => Promise<boolean>;
}

export function createClientService(db: Db, secrets: SecretBox, deps: ClientServiceDeps) {
  const store = createClientStore(db);
  const { audit } = deps;
  /**
   * The client cache: what the token endpoint reads on every request (row +
   * secret decryption), per client id. Every write below invalidates it on all
   * nodes; it caches only once the server starts it (the CLI reads through).
   */
  const cache = createNamedCache<CachedClient>(db, 'clients', { ttlMs: clientCacheTtlMs });
  const load = async (clientId: string): Promise<CachedClient | undefined> => {
    const row = await store.findById(clientId);
    if (!row || row.disabled) return undefined;
    const access = { introspects: row.introspects ?? [], defaultResource: row.default_resource ?? null };
    if (!row.secret_ciphertext) return { metadata: row.metadata, access };
    return { metadata: { ...row.metadata, client_secret: secrets.open('client-secret', row.client_id, row.secret_ciphertext) }, access };
  };

  async function removeRow(clientId: string): Promise<void> {
    const removed = await store.remove(clientId);
    await cache.invalidate(clientId);
    if (!removed) throw new ClientError('no such client');
  }

  return {
    /** Creates a client; the secret (if any) is returned once and stored only encrypted. */
    async create(actor: Actor, input: NewClient): Promise<{ client: ClientSummary; clientSecret: string | undefined }> {
      const parsed = newClientSchema.parse(input);
      const clientId = generateClientId();
      const clientSecret = parsed.type !== 'public' && secretAuthMethods.has(parsed.authMethod) ? generateClientSecret() : undefined;
      const row = await store.insert({
        client_id: clientId,
        metadata: metadataFor(clientId, parsed),
        secret_ciphertext: clientSecret ? secrets.seal('client-secret', clientId, clientSecret) : null,
        source: 'cli',
      });
      const client = summarise(row);
      recordAs(audit, actor, { type: 'client.created', subject: clientId, detail: { type: client.type, name: client.name, redirectUris: client.redirectUris } });
      return { client, clientSecret };
    },

    /**
     * The metadata oidc-provider needs to authenticate and serve a client,
     * with the secret decrypted in memory only. Disabled clients do not exist
     * as far as the protocol is concerned.
     */
    metadataForProvider(clientId: string): Promise<Record<string, unknown> | undefined> {
      // A copy: the library may decorate what it is given, and the cached entry must stay as read.
      const copy = (client: CachedClient | undefined) => client && { ...client.metadata };
      // Read on every token request: a cached client is answered without a chain of promises.
      const cached = cache.peek(clientId);
      if (cached) return Promise.resolve(copy(cached));
      return cache.get(clientId, () => load(clientId)).then(copy);
    },

    /** What the operator lets a live client do beyond its metadata; undefined for a disabled or unknown client. */
    accessOf(clientId: string): ClientAccess | undefined | Promise<ClientAccess | undefined> {
      const cached = cache.peek(clientId);
      if (cached) return cached.access;
      return cache.get(clientId, () => load(clientId)).then((client) => client?.access);
    },

    /**
     * Changes which resource servers' tokens a client may introspect and its
     * default resource; every audience named must be a registered resource server.
     */
    async setAccess(actor: Actor, clientId: string, change: ClientAccessChange): Promise<ClientSummary> {
      const parsed = clientAccessSchema.safeParse(change);
      if (!parsed.success) throw new ClientError(parsed.error.issues.map((i) => i.message).join('; '));
      const named = [...(parsed.data.introspects ?? []).filter((a) => a !== '*'), ...(parsed.data.defaultResource ? [parsed.data.defaultResource] : [])];
      for (const audience of named) {
        if (deps.resourceExists && !(await deps.resourceExists(audience))) throw new ClientError(`no resource server with audience ${audience} (add it with \`gatehouse resources add\`)`);
      }
      const row = await store.setAccess(clientId, parsed.data);
      if (!row) throw new ClientError('no such client');
      await cache.invalidate(clientId);
      recordAs(audit, actor, { type: 'client.access_changed', subject: clientId, clientId, detail: { introspects: row.introspects, defaultResource: row.default_resource } });
      return summarise(row);
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

    async remove(actor: Actor, clientId: string): Promise<void> {
      await removeRow(clientId);
      recordAs(audit, actor, { type: 'client.removed', subject: clientId });
    },

    /** RFC 7592 delete, which the registration service audits as `client.deleted`. */
    removeRegistered: (clientId: string) => removeRow(clientId),

    async setDisabled(actor: Actor, clientId: string, disabled: boolean): Promise<void> {
      const changed = await store.setDisabled(clientId, disabled);
      await cache.invalidate(clientId);
      if (!changed) throw new ClientError('no such client');
      recordAs(audit, actor, { type: disabled ? 'client.disabled' : 'client.enabled', subject: clientId });
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
