/**
 * Replay detection for proof JWTs (DPoP proofs, client assertions): a `jti`
 * is accepted once per issuer of the proof within its acceptance window, on
 * every node, because the record lives in the shared database (invariant 2).
 */
import { sha256 } from '../crypto/digest.js';
import type { Db } from '../db/index.js';
import { createReplayStore } from './store.js';

/** The most a record is kept: longer than any acceptance window the library uses (5 minutes). */
const maxLifetimeSeconds = 15 * 60;

export interface ReplayService {
  /** True the first time (issuer, jti) is presented; false for every later presentation within `lifetimeSeconds`. */
  firstUse(issuer: string, jti: string, lifetimeSeconds: number): Promise<boolean>;
  /** Deletes expired records in one batch; returns how many (the cleanup schedule calls it). */
  deleteExpired(batchSize: number): Promise<number>;
  /** How many records are held (expired ones not yet swept included). */
  count(): Promise<number>;
}

export function createReplayService(db: Db): ReplayService {
  const store = createReplayStore(db);
  return {
    firstUse(issuer, jti, lifetimeSeconds) {
      // A client id never contains NUL, so the first NUL splits the pair unambiguously whatever the jti holds.
      const lifetime = Math.min(Math.max(Math.ceil(lifetimeSeconds), 1), maxLifetimeSeconds);
      return store.claim(sha256(`${issuer}\u0000${jti}`), lifetime);
    },
    deleteExpired: (batchSize) => store.deleteExpired(batchSize),
    count: () => store.count(),
  };
}
