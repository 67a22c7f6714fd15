/**
 * Reading the trail for the admin API: search (newest first, paged by seq)
 * and chain verification, over the same store and chain keys the CLI uses.
 */
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db } from '../db/index.js';
import { createAuditStore, type AuditFilter, type AuditRow } from './store.js';
import { verifyAuditChain, type ChainReport } from './verify.js';

export interface AuditReader {
  /** Matching rows, newest first. */
  search(filter: AuditFilter): Promise<AuditRow[]>;
  verify(): Promise<ChainReport>;
}

export function createAuditReader(db: Db, secrets: Pick<SecretBox, 'deriveKeys'>): AuditReader {
  const store = createAuditStore(db);
  return {
    async search(filter) {
      return (await store.search(filter)).reverse();
    },
    verify: () => verifyAuditChain(store, secrets.deriveKeys('audit-chain')),
  };
}
