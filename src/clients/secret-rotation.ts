/**
 * Client secret rotation with overlap (issue 14, DESIGN invariant 3): a new
 * secret is issued and shown once; the previous one keeps authenticating until
 * the time the operator chose (default 24 h), then stops. Each step is
 * audited: `client.secret_rotated`, `client.previous_secret_used` (first use
 * during the overlap: who has not switched yet), `client.secret_expired` and
 * `client.secret_revoked` (overlap ended early).
 *
 * The library compares only the current secret (node_modules/oidc-provider/
 * lib/models/client.js `compareClientSecret`); src/oidc/client-secrets.ts asks
 * `matchesPrevious` after that comparison failed, so a correct current secret
 * costs nothing extra.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import { recordAs, system, type Actor, type Audit } from '../audit/events.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { NamedCache } from '../db/cache.js';
import type { Db } from '../db/index.js';
import { ClientError, generateClientSecret } from './clients.js';
import { createClientSecretStore } from './secret-store.js';

export const defaultSecretOverlapSeconds = 24 * 3600;

export interface SecretMetadata {
  /** `current`, or the previous secret's id. */
  id: string;
  state: 'current' | 'previous';
  createdAt: Date;
  /** When it stops authenticating; null: until the next rotation (or the client's own expiry). */
  expiresAt: Date | null;
  /** Previous secrets only: when it last authenticated during the overlap. */
  lastUsedAt: Date | null;
}

export interface ClientSecretService {
  rotate(actor: Actor, clientId: string, options?: { overlapSeconds?: number; now?: Date }): Promise<{ clientSecret: string; previousExpiresAt: Date }>;
  list(clientId: string, now?: Date): Promise<SecretMetadata[]>;
  revokePrevious(actor: Actor, clientId: string, id: string): Promise<void>;
  matchesPrevious(clientId: string, candidate: string, now?: Date): Promise<boolean>;
  rewrap(onProgress?: (done: number, total: number) => void): Promise<number>;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

export function createClientSecretService(db: Db, secrets: SecretBox, audit: Audit, cache: Pick<NamedCache<unknown>, 'invalidate'>): ClientSecretService {
  const store = createClientSecretStore(db);

  async function expire(clientId: string, now: Date): Promise<void> {
    for (const row of await store.removeExpired(clientId, now)) {
      recordAs(audit, system, { type: 'client.secret_expired', subject: clientId, detail: { secretId: row.id, expiredAt: row.expires_at.toISOString() } });
    }
  }

  return {
    async rotate(actor, clientId, options = {}) {
      const now = options.now ?? new Date();
      const overlap = options.overlapSeconds ?? defaultSecretOverlapSeconds;
      if (!Number.isInteger(overlap) || overlap < 0 || overlap > 90 * 86_400) throw new ClientError('the overlap must be from 0 seconds to 90 days');
      const clientSecret = generateClientSecret();
      const previousExpiresAt = new Date(now.getTime() + overlap * 1000);
      const previousId = randomBytes(9).toString('base64url');
      await db.transaction(async (tx) => {
        const current = await store.lockCurrent(tx, clientId);
        if (!current) throw new ClientError('no such client');
        if (!current.secret_ciphertext) throw new ClientError('this client authenticates without a shared secret');
        // Sealed under the client's id, as the current one: the ciphertext moves as it is.
        if (overlap > 0) {
          await store.keepPrevious(tx, {
            id: previousId,
            client_id: clientId,
            ciphertext: current.secret_ciphertext,
            created_at: current.secret_created_at ?? current.created_at,
            expires_at: previousExpiresAt,
          });
        }
        await store.replaceCurrent(tx, clientId, secrets.seal('client-secret', clientId, clientSecret));
        await cache.invalidate(clientId, tx);
      });
      recordAs(audit, actor, {
        type: 'client.secret_rotated',
        subject: clientId,
        detail: { previousSecretId: overlap > 0 ? previousId : null, previousExpiresAt: previousExpiresAt.toISOString(), overlapSeconds: overlap },
      });
      return { clientSecret, previousExpiresAt };
    },

    async list(clientId, now = new Date()) {
      const current = await store.currentCreatedAt(clientId);
      if (!current) throw new ClientError('no such client');
      await expire(clientId, now);
      const result: SecretMetadata[] = current.has_secret
        ? [{ id: 'current', state: 'current', createdAt: current.secret_created_at ?? current.created_at, expiresAt: null, lastUsedAt: null }]
        : [];
      for (const row of await store.listLive(clientId, now)) {
        result.push({ id: row.id, state: 'previous', createdAt: row.created_at, expiresAt: row.expires_at, lastUsedAt: row.last_used_at });
      }
      return result;
    },

    async revokePrevious(actor, clientId, id) {
      if (!(await store.remove(clientId, id))) throw new ClientError('no such previous secret');
      recordAs(audit, actor, { type: 'client.secret_revoked', subject: clientId, detail: { secretId: id } });
    },

    async matchesPrevious(clientId, candidate, now = new Date()) {
      await expire(clientId, now);
      const wanted = digest(candidate);
      for (const row of await store.listLive(clientId, now)) {
        // Equal-length digests: timingSafeEqual never sees the secrets' lengths.
        if (timingSafeEqual(digest(secrets.open('client-secret', clientId, row.ciphertext)), wanted)) {
          if (await store.markUsed(row.id, now)) {
            recordAs(audit, { kind: 'client', clientId }, { type: 'client.previous_secret_used', subject: clientId, detail: { secretId: row.id, expiresAt: row.expires_at.toISOString() } });
          }
          return true;
        }
      }
      return false;
    },

    async rewrap(onProgress) {
      const stale = (await store.listSealed()).filter((row) => secrets.keyIdOf(row.ciphertext) !== secrets.currentKeyId);
      let done = 0;
      for (const row of stale) {
        const value = secrets.open('client-secret', row.client_id, row.ciphertext);
        if (await store.replaceCiphertext(row.id, row.ciphertext, secrets.seal('client-secret', row.client_id, value))) done += 1;
        onProgress?.(done, stale.length);
      }
      return done;
    },
  };
}
