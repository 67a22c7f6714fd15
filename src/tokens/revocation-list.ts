/**
 * The revocation list of JWT access tokens (RFC 9068). oidc-provider does not
 * store a JWT access token (lib/models/formats/jwt.js getValueAndPayload
 * returns no payload, so lib/models/base_model.js save() never upserts it), so
 * there is nothing to delete when one is revoked: its `jti` is listed here
 * until the token expires, and introspection answers `active: false` for a
 * listed jti on every node (DESIGN invariant 2).
 *
 * The table is the truth; each node keeps a named cache of answers (revoked or
 * not) per jti, invalidated through NOTIFY when a revocation commits, so an
 * introspection of a token that was never revoked, the common case, costs no
 * query after the first. Only ids of tokens whose signature verified reach
 * this cache, so nobody can fill it with made-up ids.
 */
import { actorLabel, noAudit, type Actor, type Audit } from '../audit/events.js';
import { createNamedCache, type NamedCache } from '../db/cache.js';
import type { Db } from '../db/index.js';
import { createRevokedTokenStore } from './store.js';

/** Longest a node answers from its cache when an invalidation NOTIFY was lost (its listener reconnecting). */
export const revocationCacheTtlMs = 5_000;
const sweepBatch = 100;

export interface RevokedToken {
  jti: string;
  /** The client the token was issued to. */
  clientId: string;
  /** When the token expires: the entry is kept until then. */
  expiresAt: Date;
}

export interface AccessTokenRevocations {
  /** Lists a token as revoked on every node; records `token.revoked` with the actor. */
  revoke(actor: Actor, token: RevokedToken): Promise<void>;
  /** Whether the token is listed (a boolean at once when the answer is cached). */
  isRevoked(jti: string): boolean | Promise<boolean>;
  /** The per-jti cache, which the server starts (listening for invalidations) and stops. */
  readonly cache: NamedCache<boolean>;
}

export function createAccessTokenRevocations(db: Db, audit: Audit = noAudit): AccessTokenRevocations {
  const store = createRevokedTokenStore(db);
  const cache = createNamedCache<boolean>(db, 'revoked_access_tokens', { ttlMs: revocationCacheTtlMs });
  return {
    cache,
    async revoke(actor, token) {
      const listed = await store.insert(token.jti, token.clientId, token.expiresAt);
      await cache.invalidate(token.jti);
      if (listed) {
        audit.record({ type: 'token.revoked', outcome: 'success', actor: actorLabel(actor), clientId: token.clientId, detail: { tokenType: 'jwt_access_token', jti: token.jti } });
        await store.deleteExpired(sweepBatch);
      }
    },
    isRevoked(jti) {
      const cached = cache.peek(jti);
      if (cached !== undefined) return cached;
      return cache.get(jti, () => store.isRevoked(jti)).then((revoked) => revoked === true);
    },
  };
}
