/**
 * Upstream identity providers as operators manage them (CLI, admin API):
 * created from a preset or a definition, changed, enabled, removed. The
 * client secret is sealed under the master secret with the upstream's id as
 * context (invariant 1) and never leaves the service: what callers see says
 * only whether one is set. Every change is audited with its actor.
 */
import { randomUUID } from 'node:crypto';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

import { recordAs, type Actor, type Audit } from '../audit/events.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db } from '../db/index.js';
import { claimMappingSchema, newUpstreamSchema, resolveDefinition, upstreamChangesSchema, UpstreamInputError, type ClaimMapping, type LinkingPolicy, type NewUpstream, type OAuthEndpoints, type SecondFactorPolicy, type UpstreamChanges, type UpstreamClientAuth } from './schemas.js';
import { createUpstreamStore, type UpstreamFields, type UpstreamRow } from './store.js';
import type { UpstreamTarget } from './upstream-client.js';

/** An upstream as callers see it: everything but the secret. */
export interface Upstream {
  id: string;
  name: string;
  displayName: string;
  protocol: 'oidc' | 'oauth2';
  issuer: string;
  endpoints: OAuthEndpoints | undefined;
  clientId: string;
  hasClientSecret: boolean;
  clientAuth: UpstreamClientAuth;
  scopes: string[];
  claims: ClaimMapping;
  linking: LinkingPolicy;
  secondFactor: SecondFactorPolicy;
  domains: string[];
  endUpstreamSession: boolean;
  enabled: boolean;
  /** private_key_jwt: the public key the upstream verifies Gatehouse's client assertions with. */
  publicJwk: JWK | undefined;
  createdAt: Date;
  updatedAt: Date;
}

export class UpstreamNotFoundError extends Error {
  override name = 'UpstreamNotFoundError';
}

export class UpstreamConflictError extends Error {
  override name = 'UpstreamConflictError';
}

export { UpstreamInputError };

export interface UpstreamService {
  create(actor: Actor, input: NewUpstream): Promise<Upstream>;
  update(actor: Actor, idOrName: string, changes: UpstreamChanges): Promise<Upstream>;
  remove(actor: Actor, idOrName: string): Promise<void>;
  find(idOrName: string): Promise<Upstream | undefined>;
  list(): Promise<Upstream[]>;
  /** The enabled upstream claiming this email's domain (home-realm discovery). */
  forEmail(email: string): Promise<Upstream | undefined>;
  /** The upstream with its secret opened, for the relying-party client only. */
  target(id: string): Promise<{ upstream: Upstream; target: UpstreamTarget } | undefined>;
  /** The public keys of every private_key_jwt upstream, served at /federation/jwks. */
  jwks(): Promise<{ keys: JWK[] }>;
  /** Re-seals secrets still under a previous master secret (`gatehouse keys rewrap`). */
  rewrap(onProgress: (done: number, total: number) => void): Promise<number>;
}

function toUpstream(row: UpstreamRow): Upstream {
  return {
    id: row.id,
    name: row.name,
    displayName: row.display_name,
    protocol: row.protocol,
    issuer: row.issuer,
    endpoints: row.endpoints ?? undefined,
    clientId: row.client_id,
    hasClientSecret: row.client_secret_ciphertext !== null,
    clientAuth: row.client_auth,
    scopes: row.scopes,
    claims: row.claim_mapping,
    linking: row.linking,
    secondFactor: row.second_factor,
    domains: row.domains,
    endUpstreamSession: row.end_upstream_session,
    enabled: row.enabled,
    publicJwk: (row.signing_public_jwk as JWK | null) ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function createUpstreamService(db: Db, secrets: SecretBox, audit: Audit, options: { allowHttpLoopback: boolean }): UpstreamService {
  const store = createUpstreamStore(db);
  const seal = (id: string, secret: string) => secrets.seal('upstream-client-secret', id, secret);

  async function resolve(idOrName: string): Promise<UpstreamRow | undefined> {
    return (await store.findById(idOrName)) ?? (await store.findByName(idOrName));
  }

  function checkReachable(urls: Array<string | undefined>): void {
    if (options.allowHttpLoopback) return;
    if (urls.some((url) => url?.startsWith('http:'))) throw new UpstreamInputError('upstreams are reached over https (http on loopback needs GATEHOUSE_FEDERATION_ALLOW_HTTP_LOOPBACK=true, development only)');
  }

  function checkAuth(clientAuth: UpstreamClientAuth, hasSecret: boolean): void {
    if (clientAuth !== 'none' && clientAuth !== 'private_key_jwt' && !hasSecret) throw new UpstreamInputError(`client authentication ${clientAuth} needs a client secret`);
  }

  /** A key pair for private_key_jwt, made once per upstream: the private half sealed, the public half served. */
  async function withSigningKey(row: UpstreamRow): Promise<UpstreamRow> {
    if (row.client_auth !== 'private_key_jwt' || row.signing_key_ciphertext) return row;
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const sealed = secrets.seal('upstream-signing-key', row.id, JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'ES256' }));
    return (await store.setSigningKey(row.id, sealed, { ...publicJwk, kid, alg: 'ES256', use: 'sig' })) ?? row;
  }

  return {
    async create(actor, input) {
      const parsed = newUpstreamSchema.parse(input);
      const definition = resolveDefinition(parsed);
      checkReachable([definition.issuer, ...Object.values(definition.endpoints ?? {})]);
      checkAuth(definition.clientAuth, parsed.clientSecret !== undefined);
      if (await store.findByName(parsed.name)) throw new UpstreamConflictError(`an upstream named ${parsed.name} already exists`);
      const id = randomUUID();
      const row = await store.insert({
        id,
        name: parsed.name,
        display_name: definition.displayName,
        protocol: definition.protocol,
        issuer: definition.issuer,
        endpoints: definition.endpoints ?? null,
        client_id: parsed.clientId,
        client_secret_ciphertext: parsed.clientSecret ? seal(id, parsed.clientSecret) : null,
        client_auth: definition.clientAuth,
        scopes: definition.scopes,
        claim_mapping: definition.claims,
        linking: parsed.linking,
        second_factor: parsed.secondFactor,
        domains: parsed.domains,
        end_upstream_session: parsed.endUpstreamSession,
        enabled: parsed.enabled,
      }).then(withSigningKey);
      recordAs(audit, actor, { type: 'upstream.created', subject: id, detail: { name: row.name, issuer: row.issuer, linking: row.linking, secondFactor: row.second_factor } });
      return toUpstream(row);
    },

    async update(actor, idOrName, changes) {
      const parsed = upstreamChangesSchema.parse(changes);
      const row = await resolve(idOrName);
      if (!row) throw new UpstreamNotFoundError('no such upstream');
      const next: UpstreamFields = {
        ...row,
        display_name: parsed.displayName ?? row.display_name,
        client_id: parsed.clientId ?? row.client_id,
        client_secret_ciphertext: parsed.clientSecret ? seal(row.id, parsed.clientSecret) : row.client_secret_ciphertext,
        client_auth: parsed.clientAuth ?? row.client_auth,
        scopes: parsed.scopes ?? row.scopes,
        claim_mapping: parsed.claims ? claimMappingSchema.parse({ ...row.claim_mapping, ...parsed.claims }) : row.claim_mapping,
        linking: parsed.linking ?? row.linking,
        second_factor: parsed.secondFactor ?? row.second_factor,
        domains: parsed.domains ?? row.domains,
        end_upstream_session: parsed.endUpstreamSession ?? row.end_upstream_session,
        enabled: parsed.enabled ?? row.enabled,
      };
      checkAuth(next.client_auth, next.client_secret_ciphertext !== null);
      const stored = await store.update(next);
      if (!stored) throw new UpstreamNotFoundError('no such upstream');
      const updated = await withSigningKey(stored);
      // The field names only: a secret's value never reaches the trail.
      recordAs(audit, actor, { type: 'upstream.updated', subject: row.id, detail: { name: row.name, fields: Object.keys(parsed).sort() } });
      return toUpstream(updated);
    },

    async remove(actor, idOrName) {
      const row = await resolve(idOrName);
      if (!row || !(await store.remove(row.id))) throw new UpstreamNotFoundError('no such upstream');
      recordAs(audit, actor, { type: 'upstream.removed', subject: row.id, detail: { name: row.name, issuer: row.issuer } });
    },

    async find(idOrName) {
      const row = await resolve(idOrName);
      return row ? toUpstream(row) : undefined;
    },

    async list() {
      return (await store.list()).map(toUpstream);
    },

    async forEmail(email) {
      const at = email.lastIndexOf('@');
      if (at < 1) return undefined;
      const row = await store.findByDomain(email.slice(at + 1).toLowerCase());
      return row ? toUpstream(row) : undefined;
    },

    async target(id) {
      const row = await store.findById(id);
      if (!row) return undefined;
      const upstream = toUpstream(row);
      return {
        upstream,
        target: {
          id: row.id,
          protocol: row.protocol,
          issuer: row.issuer,
          endpoints: upstream.endpoints,
          clientId: row.client_id,
          clientSecret: row.client_secret_ciphertext ? secrets.open('upstream-client-secret', row.id, row.client_secret_ciphertext) : undefined,
          clientAuth: row.client_auth,
          signingKey: row.signing_key_ciphertext ? (JSON.parse(secrets.open('upstream-signing-key', row.id, row.signing_key_ciphertext)) as JWK) : undefined,
          scopes: row.scopes,
          updatedAt: row.updated_at,
        },
      };
    },

    async jwks() {
      return { keys: (await store.publicJwks()) as JWK[] };
    },

    async rewrap(onProgress) {
      const stale = (ciphertext: string) => secrets.keyIdOf(ciphertext) !== secrets.currentKeyId;
      const rows = (await store.allSealed()).filter((r) => stale(r.client_secret_ciphertext));
      const keys = (await store.allSealedKeys()).filter((r) => stale(r.signing_key_ciphertext));
      const total = rows.length + keys.length;
      let done = 0;
      for (const row of rows) {
        await store.setSealed(row.id, seal(row.id, secrets.open('upstream-client-secret', row.id, row.client_secret_ciphertext)));
        onProgress((done += 1), total);
      }
      for (const row of keys) {
        await store.setSealedKey(row.id, secrets.seal('upstream-signing-key', row.id, secrets.open('upstream-signing-key', row.id, row.signing_key_ciphertext)));
        onProgress((done += 1), total);
      }
      return done;
    },
  };
}
