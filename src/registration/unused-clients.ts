/**
 * Expiry of unused registrations: open (or token-based) registration for agents
 * creates clients nobody removes. A policy with `expireUnusedAfterSeconds` has
 * its clients removed by the cleanup job once they have gone that long without
 * obtaining a token (a client that never did is counted from its registration);
 * a use is recorded when the token endpoint issues a token. Removal goes
 * through the client service, so caches on every node drop the client and its
 * tokens are revoked as for any removed client; each is audited.
 */
import { recordAs, system, type Audit } from '../audit/events.js';
import type { ClientService } from '../clients/clients.js';
import type { Db } from '../db/index.js';
import { createUsageStore, type UsageStore } from './usage-store.js';

export interface UnusedClientSweep {
  /** A registered client obtained a token. */
  touch(clientId: string): Promise<void>;
  /** Removes up to `batchSize` expired registrations; the cleanup job calls it until fewer come back. */
  deleteExpired(batchSize: number): Promise<number>;
  /** The store, for the registration service's per-software cap. */
  readonly usage: UsageStore;
}

/** The store keeps at most one write a minute per client; the node skips the query itself within that minute. */
const touchIntervalMs = 60_000;
/** Bound on the clients remembered between touches; past it the memory starts over (a few extra writes, no wrong answer). */
const maxRemembered = 10_000;

export function createUnusedClientSweep(db: Db, clients: Pick<ClientService, 'removeRegistered'>, audit: Audit, now: () => number = Date.now): UnusedClientSweep {
  const usage = createUsageStore(db);
  // Every token issued is a use; without this the token endpoint paid one INSERT … SELECT per request (bench: 39 % of raw).
  const lastTouched = new Map<string, number>();
  return {
    usage,
    async touch(clientId) {
      const at = now();
      const last = lastTouched.get(clientId);
      if (last !== undefined && at - last < touchIntervalMs) return;
      if (lastTouched.size >= maxRemembered) lastTouched.clear();
      lastTouched.set(clientId, at);
      await usage.touch(clientId);
    },
    async deleteExpired(batchSize) {
      const ids = await usage.expired(batchSize);
      let removed = 0;
      for (const clientId of ids) {
        try {
          await clients.removeRegistered(clientId);
        } catch {
          // Removed meanwhile (RFC 7592 delete, an operator): nothing left to expire.
          continue;
        }
        removed += 1;
        recordAs(audit, system, { type: 'client.expired', subject: clientId, clientId, detail: { reason: 'unused' } });
      }
      return removed;
    },
  };
}
