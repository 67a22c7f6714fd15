/**
 * Reading the trail for the admin API and the CLI: search (newest first, paged by seq)
 * and chain verification, over the same store and chain keys the CLI uses.
 */
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db } from '../db/index.js';
import { createAuditStore, type AuditFilter, type AuditRow, type AuditStore } from './store.js';
import { verifyAuditChain, type ChainReport } from './verify.js';

export interface AuditReader {
  /** Matching rows, newest first. */
  search(filter: AuditFilter): Promise<AuditRow[]>;
  verify(): Promise<ChainReport>;
}

/** What the CLI's `audit search` and `audit tail` read as well. */
export interface AuditHistory extends AuditReader {
  /** Matching rows in chain order, oldest first. */
  searchInOrder(filter: AuditFilter): Promise<AuditRow[]>;
  /** The newest row's position, for following the trail. */
  head(): ReturnType<AuditStore['head']>;
}

export function createAuditReader(db: Db, secrets: Pick<SecretBox, 'deriveKeys'>): AuditHistory {
  const store = createAuditStore(db);
  return {
    async search(filter) {
      return (await store.search(filter)).reverse();
    },
    searchInOrder: (filter) => store.search(filter),
    head: () => store.head(),
    verify: () => verifyAuditChain(store, secrets.deriveKeys('audit-chain')),
  };
}
export type { AuditFilter, AuditRow };
