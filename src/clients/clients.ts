import { recordAs, type Actor, type Audit } from '../audit/events.js';
import { createNamedCache, type NamedCache } from '../db/cache.js';
import type { Db, Queryable } from '../db/index.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { newClientSchema, secretAuthMethods, type ClientType, type NewClient } from './schemas.js';
import { ClientError, generateClientId, generateClientSecret, metadataFor, splitSecret, summarise, type ClientSummary, type RegisteredClient } from './metadata.js';
import { createClientStore } from './store.js';

export { ClientError, generateClientId, generateClientSecret, type ClientSummary, type RegisteredClient };

/**
 * How long a node may serve a client's metadata without re-reading it when an
 * invalidation NOTIFY was lost (its listener reconnecting); normally a change
 * reaches every node as soon as it commits.
 */
export const clientCacheTtlMs = 5_000;

export interface ClientService {
  /** Creates a client; the secret (if any) is returned once and stored only encrypted. */
  create(actor: Actor, input: NewClient): Promise<{
    client: ClientSummary;
    clientSecret: string | undefined;
  }>;
  /**
  * The metadata oidc-provider needs to authenticate and serve a client,
  * with the secret decrypted in memory only. Disabled clients do not exist
  * as far as the protocol is concerned.
  */
  metadataForProvider(clientId: string): Promise<Record<string, unknown> | undefined>;
  /** The client cache, which the server starts (listening for invalidations) and stops. */
  cache: NamedCache<Record<string, unknown>>;
  /** Stores a client that registered itself (RFC 7591), inside the caller's registration transaction. */
  insertRegistered(tx: Queryable, client: RegisteredClient): Promise<ClientSummary>;
  /** The registration record of a client, locked for the caller's update transaction. */
  lockRegistered(tx: Queryable, clientId: string): Promise<{
    policy: string | null;
  } | undefined>;
  /** The policy a registered client answers to; undefined for unknown and operator-made clients. */
  registrationOf(clientId: string): Promise<{
    policy: string | null;
  } | undefined>;
  /** Replaces a registered client's metadata (RFC 7592 update); says whether its secret changed. */
  replaceRegistered(tx: Queryable, clientId: string, metadata: Record<string, unknown>): Promise<{
    secretRotated: boolean;
  }>;
  /** Live clients one initial access token has registered (the policy's per-token cap). */
  countRegisteredBy: (tx: Queryable, iatId: string) => Promise<number>;
  /**
  * Re-seals every client secret still sealed under a previous master secret
  * (`gatehouse keys rewrap`); returns how many it re-sealed.
  */
  rewrap(onProgress?: (done: number, total: number) => void): Promise<number>;
  list(): Promise<ClientSummary[]>;
  find(clientId: string): Promise<ClientSummary | undefined>;
  remove(actor: Actor, clientId: string): Promise<void>;
  /** RFC 7592 delete, which the registration service audits as `client.deleted`. */
  removeRegistered: (clientId: string) => Promise<void>;
  setDisabled(actor: Actor, clientId: string, disabled: boolean): Promise<void>;
}

export function createClientService(db: Db, secrets: SecretBox, audit: Audit): ClientService {
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

