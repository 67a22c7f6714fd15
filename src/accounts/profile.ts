/**
 * Changes to an account's profile fields and administrator marker, alone or
 * together under a version (the admin API's PATCH with If-Match, issue 14
 * §4): one transaction, so a PATCH that changes both either applies whole or
 * is stale, never half.
 */
import { recordAs, type Actor, type Audit } from '../audit/events.js';
import type { Db, Queryable } from '../db/index.js';
import type { AccountStore, AccountRow } from './store.js';

/** Profile fields an operator may change; null clears one. */
export interface ProfileChanges {
  email?: string | null;
  emailVerified?: boolean;
  name?: string | null;
  givenName?: string | null;
  familyName?: string | null;
}

/** What one versioned update may change: profile fields, the administrator marker, or both. */
export interface AccountChange {
  profile?: ProfileChanges;
  admin?: boolean;
}

export class AccountError extends Error {
  override name = 'AccountError';
}

interface Deps {
  db: Db;
  store: AccountStore;
  audit: Audit;
}

export function createProfileOperations({ db, store, audit }: Deps) {
  /** The row after `changes`, or undefined when `expectedVersion` no longer matches; throws for a taken email. */
  async function writeProfile(tx: Queryable, row: AccountRow, changes: ProfileChanges, expectedVersion: number | null): Promise<AccountRow | undefined> {
    const email = changes.email === undefined ? row.email : changes.email;
    if (email && email.toLowerCase() !== row.email?.toLowerCase()) {
      const other = await store.findByLogin(email, tx);
      if (other && other.id !== row.id) throw new AccountError('an account with that email already exists');
    }
    return store.setProfile(
      row.id,
      {
        email,
        emailVerified: changes.emailVerified ?? (email === row.email ? row.email_verified : false),
        name: changes.name === undefined ? row.name : changes.name,
        givenName: changes.givenName === undefined ? row.given_name : changes.givenName,
        familyName: changes.familyName === undefined ? row.family_name : changes.familyName,
      },
      expectedVersion,
      tx,
    );
  }

  function recordChange(actor: Actor, id: string, change: AccountChange): void {
    if (change.profile) recordAs(audit, actor, { type: 'account.updated', subject: id, detail: { fields: Object.keys(change.profile).sort() } });
    if (change.admin !== undefined) {
      recordAs(audit, actor, { type: change.admin ? 'account.admin_granted' : 'account.admin_revoked', subject: id, detail: { role: 'administrator', adminPermission: true } });
    }
  }

  /**
   * Applies `change` to the account `id` if its version is still
   * `expectedVersion` (null: whatever it is). 'stale' when another write
   * committed first; undefined when there is no such account. Whatever is
   * given is written and audited (the caller leaves out what does not change).
   */
  async function apply(actor: Actor, id: string, input: AccountChange, expectedVersion: number | null): Promise<AccountRow | 'stale' | undefined> {
    const outcome = await db.transaction(async (tx) => {
      const row = await store.findById(id, tx);
      if (!row) return undefined;
      if (expectedVersion !== null && Number(row.version) !== expectedVersion) return 'stale' as const;
      const change = input;
      let current = row;
      let version = expectedVersion;
      if (change.profile) {
        const written = await writeProfile(tx, row, change.profile, version);
        if (!written) return 'stale' as const;
        current = written;
        version = version === null ? null : Number(written.version);
      }
      if (change.admin !== undefined) {
        if (!(await store.setAdmin(id, change.admin, version, tx))) return 'stale' as const;
        current = (await store.findById(id, tx))!;
      }
      return { row: current, change };
    });
    if (outcome === undefined || outcome === 'stale') return outcome;
    recordChange(actor, id, outcome.change);
    return outcome.row;
  }

  return { apply };
}
