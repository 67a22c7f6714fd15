import { recordAs, system, type Actor, type Audit } from '../audit/events.js';
import { createNamedCache, type NamedCache } from '../db/cache.js';
import type { Db, Queryable } from '../db/index.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { clientAccessSchema, type ClientAccess, type ClientAccessChange } from './access.js';
import { ClientError, generateClientId, generateClientSecret, metadataFor, splitSecret, summarise, type ClientSummary, type RegisteredClient } from './metadata.js';
import { changedMetadata } from './change.js';
import { newClientSchema, secretAuthMethods, type ClientChange, type NewClient } from './schemas.js';
import { createClientStore } from './store.js';

export { ClientError, generateClientId, generateClientSecret, type ClientSummary, type RegisteredClient };

/**
 * How long a node may serve a client's metadata without re-reading it when an
 * invalidation NOTIFY was lost (its listener reconnecting); normally a change
 * reaches every node as soon as it commits.
 */
export const clientCacheTtlMs = 5_000;

/** A live client as the provider and the access checks read it. */
export interface CachedClient {
  metadata: Record<string, unknown>;
  access: ClientAccess;
}

/** The client service's contract: what the server, the CLI, the registration glue and the admin API call. */
export interface ClientService {
  /** Creates a client; the secret (if any) is returned once and stored only encrypted. */
  create(actor: Actor, input: NewClient): Promise<{ client: ClientSummary; clientSecret: string | undefined }>;
  /** Seeds (or brings up to date) a built-in client with a fixed id and no secret; audited when it changes. */
  ensureBuiltIn(actor: Actor, clientId: string, input: NewClient, metadata?: Record<string, unknown>): Promise<void>;
  /** Metadata oidc-provider needs for a live client, secret decrypted in memory only; undefined for disabled or unknown clients. */
  metadataForProvider(clientId: string): Promise<Record<string, unknown> | undefined>;
  /** What the operator lets a live client do beyond its metadata; undefined for a disabled or unknown client. */
  accessOf(clientId: string): ClientAccess | undefined | Promise<ClientAccess | undefined>;
  /** Changes which audiences' tokens a client may introspect and its default resource. */
  setAccess(actor: Actor, clientId: string, change: ClientAccessChange): Promise<ClientSummary>;
  /**
   * Changes an operator-made client's metadata if it is still at `expectedVersion`
   * (compare-and-set in one UPDATE): `stale` when someone changed it since.
   */
  update(actor: Actor, clientId: string, change: ClientChange, expectedVersion: number): Promise<ClientSummary | 'stale'>;
  /** Requires DPoP-bound access tokens (RFC 9449 §5.2) of the client, or stops requiring it; refused for a certificate-bound client. */
  setDpopBinding(actor: Actor, clientId: string, required: boolean): Promise<ClientSummary>;
  /** The client cache, which the server starts (listening for invalidations) and stops. */
  cache: NamedCache<CachedClient>;
  /** Stores a client that registered itself (RFC 7591), inside the caller's registration transaction. */
  insertRegistered(tx: Queryable, client: RegisteredClient): Promise<ClientSummary>;
  /** The registration record of a client, locked for the caller's update transaction. */
  lockRegistered(tx: Queryable, clientId: string): Promise<{ policy: string | null } | undefined>;
  /** The policy a registered client answers to; undefined for unknown and operator-made clients. */
  registrationOf(clientId: string): Promise<{ policy: string | null } | undefined>;
  /** Replaces a registered client's metadata (RFC 7592 update); says whether its secret changed. */
  replaceRegistered(tx: Queryable, clientId: string, metadata: Record<string, unknown>): Promise<{ secretRotated: boolean }>;
  /** Live clients one initial access token has registered (the policy's per-token cap). */
  countRegisteredBy(tx: Queryable, iatId: string): Promise<number>;
  /** Re-seals every client secret still under a previous master secret; returns how many. */
  rewrap(onProgress?: (done: number, total: number) => void): Promise<number>;
  list(): Promise<ClientSummary[]>;
  find(clientId: string): Promise<ClientSummary | undefined>;
  remove(actor: Actor, clientId: string): Promise<void>;
  /** RFC 7592 delete, which the registration service audits as `client.deleted`. */
  removeRegistered(clientId: string): Promise<void>;
  setDisabled(actor: Actor, clientId: string, disabled: boolean): Promise<void>;
}

export interface ClientServiceDeps {
  /** Where every change is recorded (invariant 5). */
  audit: Audit;
  /** Whether a resource server with this audience is registered (access may name only those). */
  resourceExists?: (audience: string) => Promise<boolean>;
  /** Ends every grant and token of a client that is disabled or deleted (src/sessions/). */
  revokeTokens?: (actor: Actor, clientId: string) => Promise<void>;
}

export function createClientService(db: Db, secrets: SecretBox, deps: ClientServiceDeps): ClientService {
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

  async function removeRow(clientId: string, actor: Actor = system): Promise<void> {
    const removed = await store.remove(clientId);
    await cache.invalidate(clientId);
    if (!removed) throw new ClientError('no such client');
    await deps.revokeTokens?.(actor, clientId);
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

    async ensureBuiltIn(actor: Actor, clientId: string, input: NewClient, extra: Record<string, unknown> = {}): Promise<void> {
      const parsed = newClientSchema.parse(input);
      const outcome = await store.upsertBuiltIn(clientId, { ...metadataFor(clientId, parsed), ...extra });
      if (outcome === 'unchanged') return;
      await cache.invalidate(clientId);
      recordAs(audit, actor, { type: outcome === 'created' ? 'client.created' : 'client.updated', subject: clientId, detail: { type: parsed.type, name: parsed.name, builtIn: true } });
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

    async update(actor: Actor, clientId: string, change: ClientChange, expectedVersion: number): Promise<ClientSummary | 'stale'> {
      const current = await store.findById(clientId);
      if (!current) throw new ClientError('no such client');
      if (Number(current.version) !== expectedVersion) return 'stale';
      const metadata = changedMetadata(current, change);
      if (Object.keys(change).length === 0) return summarise(current);
      const row = await store.updateMetadataIfVersion(clientId, metadata, expectedVersion);
      if (!row) {
        // Lost the race: someone's UPDATE committed between the read and this one (or the client went).
        if (!(await store.findById(clientId))) throw new ClientError('no such client');
        return 'stale';
      }
      await cache.invalidate(clientId);
      recordAs(audit, actor, { type: 'client.updated', subject: clientId, clientId, detail: { fields: Object.keys(change).sort() } });
      return summarise(row);
    },

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
      await removeRow(clientId, actor);
      recordAs(audit, actor, { type: 'client.removed', subject: clientId });
    },

    /** RFC 7592 delete, which the registration service audits as `client.deleted`. */
    removeRegistered: (clientId: string) => removeRow(clientId),

    /**
     * Requires DPoP (RFC 9449 §5.2 `dpop_bound_access_tokens`) of one client, or
     * stops requiring it. A certificate-bound client is sender-constrained
     * already, and the library enforces one mechanism per client.
     */
    async setDpopBinding(actor: Actor, clientId: string, required: boolean): Promise<ClientSummary> {
      const current = await store.findById(clientId);
      if (!current) throw new ClientError('no such client');
      if (required && current.metadata.tls_client_certificate_bound_access_tokens === true) throw new ClientError('the client\'s tokens are bound to its certificate; bind them to the certificate or to a DPoP key, not both');
      const row = await store.setDpopBinding(clientId, required);
      await cache.invalidate(clientId);
      if (!row) throw new ClientError('no such client');
      recordAs(audit, actor, { type: 'client.sender_constraint_changed', subject: clientId, clientId, detail: { dpopBoundTokens: required } });
      return summarise(row);
    },

    async setDisabled(actor: Actor, clientId: string, disabled: boolean): Promise<void> {
      const changed = await store.setDisabled(clientId, disabled);
      await cache.invalidate(clientId);
      if (!changed) throw new ClientError('no such client');
      recordAs(audit, actor, { type: disabled ? 'client.disabled' : 'client.enabled', subject: clientId });
      if (disabled) await deps.revokeTokens?.(actor, clientId);
    },
  };
}
