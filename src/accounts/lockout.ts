/**
 * Login lockout: failed password and second-factor attempts are counted per
 * account and per client IP, in the database (DESIGN invariant 2: any node
 * sees every attempt), and an account or address over its limit is refused
 * until its window ends.
 *
 * An attempt is counted *before* the credential is checked and handed back
 * when it succeeds. Counting afterwards would let fifty parallel guesses all
 * pass the "under the limit?" test before the first one is recorded; counting
 * first means at most `limit` guesses are ever checked per window, however
 * many arrive at once. The cost is that an IP with more than its limit of
 * *concurrent* sign-ins in flight sees the excess refused for a moment.
 *
 * Only a completed sign-in (every factor) resets an account's counter: if the
 * password step reset it, anyone who knows the password could alternate
 * password and wrong TOTP codes forever.
 */
import { createHmac } from 'node:crypto';

import type { Audit } from '../audit/events.js';
import type { Db } from '../db/index.js';
import { addressBucket } from './address-bucket.js';
import { createLockoutStore, type Reserved } from './lockout-store.js';

export interface LockoutSettings {
  maxFailures: number;
  maxFailuresPerIp: number;
  windowSeconds: number;
}

/**
 * Who an attempt is about: an account (a second-factor code), or the login
 * name typed on the password page and the account it names, if any.
 */
export type LockoutSubject = { accountId: string } | { login: string; accountId: string | undefined };

export type Attempt =
  | {
      allowed: true;
      /** The credential was right: give the counted attempt back. */
      succeeded(): Promise<void>;
      /**
       * The credential was wrong: the attempt stays counted. `locked` says this
       * failure used the subject's last attempt, `addressLocked` its address's.
       */
      failed(): { locked: boolean; addressLocked: boolean };
    }
  /**
   * The account is locked but the name typed is not: the attempt is counted
   * against the name and answered as a wrong credential, without checking it,
   * so a locked account's other names answer as any unknown name would.
   */
  | { allowed: false; retryAfterSeconds: number; accountLocked: boolean };

export interface LockoutStatus {
  failures: number;
  locked: boolean;
  /** When the current window ends (the lock, if any, with it). */
  resetsAt: Date | undefined;
}

export interface Lockout {
  /**
  * Counts an attempt for `subject` from `ip` before its credential is
  * checked. Refused when either bucket is full; the same answer whether
  * the account exists or not, and whichever bucket refused.
  */
  attempt(subject: LockoutSubject, ip: string): Promise<Attempt>;
  /** A sign-in completed with every factor: the account and the names it was signed in by start afresh (its address does not). */
  reset(accountId: string, loginNames?: readonly string[]): Promise<void>;
  /** Operator unlock: the account's counter, and those of its login names in case they were tried before it existed. */
  unlock(accountId: string, loginNames: readonly string[]): Promise<boolean>;
  status(accountId: string): Promise<LockoutStatus>;
}

export function createLockout(db: Db, settings: LockoutSettings, bucketKey: Buffer): Lockout {
  const store = createLockoutStore(db);
  const { maxFailures, maxFailuresPerIp, windowSeconds } = settings;

  /** Second-factor failures: only someone who knew the password can have made them. */
  const accountBucket = (accountId: string) => `account:${accountId}`;
  /** Wrong passwords for the account, whichever of its names was typed. */
  const passwordBucket = (accountId: string) => `password:${accountId}`;
  // A login name is often a password typed into the wrong field, so it is
  // never stored: only an HMAC under a key derived from the master secret (a
  // plain hash of a password-like string could be cracked).
  const loginBucket = (login: string) => `login:${createHmac('sha256', bucketKey).update(login.trim().toLowerCase()).digest('base64url')}`;
  const bucketsOf = (accountId: string, loginNames: readonly string[]) => [accountBucket(accountId), passwordBucket(accountId), ...loginNames.map(loginBucket)];

  async function refused(bucket: string): Promise<Attempt> {
    return { allowed: false, accountLocked: false, retryAfterSeconds: Math.max(1, await store.secondsLeft(bucket, windowSeconds)) };
  }

  async function isFull(bucket: string): Promise<boolean> {
    return ((await store.find(bucket, windowSeconds))?.failures ?? 0) >= maxFailures;
  }

  return {
    /**
     * Counts an attempt for `subject` from `ip` before its credential is
     * checked. Refused when a bucket is full; the same answer whether the
     * account exists or not, and whichever bucket refused.
     *
     * On the password page every typed name has a counter of its own, known
     * or not, and the account one more for wrong passwords through any of its
     * names. When that one is full but the typed name's is not, the attempt
     * is not checked and is answered as a wrong password (`accountLocked`):
     * otherwise locking `carol` would make `carol@example.com` answer
     * "locked" where an unknown address answers "wrong", telling the two
     * apart. Second-factor failures do lock every name at once: only someone
     * who knew the password can have made them.
     */
    async attempt(subject: LockoutSubject, ip: string): Promise<Attempt> {
      // An IPv6 client usually holds a whole /64, so that is what an address means here.
      const ipBucket = `ip:${addressBucket(ip)}`;
      const byIp = await store.reserve(ipBucket, maxFailuresPerIp, windowSeconds);
      if (!byIp) return refused(ipBucket);
      const reserved: Array<[string, Reserved]> = [[ipBucket, byIp]];
      const releaseAll = async () => {
        for (const [bucket, r] of reserved) await store.release(bucket, r.window);
      };
      // Refused before anything was checked: the buckets already counted owe nothing for it.
      const refuse = async (bucket: string) => {
        await releaseAll();
        return refused(bucket);
      };
      const addressLocked = () => byIp.failures >= maxFailuresPerIp;

      if (!('login' in subject)) {
        const byAccount = await store.reserve(accountBucket(subject.accountId), maxFailures, windowSeconds);
        if (!byAccount) return refuse(accountBucket(subject.accountId));
        reserved.push([accountBucket(subject.accountId), byAccount]);
        return { allowed: true, succeeded: releaseAll, failed: () => ({ locked: byAccount.failures >= maxFailures, addressLocked: addressLocked() }) };
      }

      const nameBucket = loginBucket(subject.login);
      const byName = await store.reserve(nameBucket, maxFailures, windowSeconds);
      if (!byName) return refuse(nameBucket);
      reserved.push([nameBucket, byName]);
      if (subject.accountId === undefined) {
        return { allowed: true, succeeded: releaseAll, failed: () => ({ locked: byName.failures >= maxFailures, addressLocked: addressLocked() }) };
      }
      if (await isFull(accountBucket(subject.accountId))) return refuse(accountBucket(subject.accountId));
      const byPassword = await store.reserve(passwordBucket(subject.accountId), maxFailures, windowSeconds);
      // The typed name and the address keep this attempt: it is answered as a failure.
      if (!byPassword) return { allowed: false, accountLocked: true, retryAfterSeconds: 0 };
      reserved.push([passwordBucket(subject.accountId), byPassword]);
      return {
        allowed: true,
        succeeded: releaseAll,
        failed: () => ({ locked: byPassword.failures >= maxFailures || byName.failures >= maxFailures, addressLocked: addressLocked() }),
      };
    },

    /** A sign-in completed with every factor: the account and its login names start afresh (its address does not). */
    async reset(accountId: string, loginNames: readonly string[] = []): Promise<void> {
      await store.clear(bucketsOf(accountId, loginNames));
      // Housekeeping rides on successful sign-ins rather than a timer of its own.
      await store.deleteExpired(windowSeconds);
    },

    /** Operator unlock: the account's counters, and those of its login names (tried before it existed, too). */
    async unlock(accountId: string, loginNames: readonly string[]): Promise<boolean> {
      const removed = await store.clear(bucketsOf(accountId, loginNames));
      return removed > 0;
    },

    /** Failures of both kinds in their current windows; locked when either is full. */
    async status(accountId: string): Promise<LockoutStatus> {
      const rows = (await Promise.all([store.find(accountBucket(accountId), windowSeconds), store.find(passwordBucket(accountId), windowSeconds)])).filter((r) => r !== undefined);
      if (rows.length === 0) return { failures: 0, locked: false, resetsAt: undefined };
      const locked = rows.filter((r) => r.failures >= maxFailures);
      const ends = (locked.length ? locked : rows).map((r) => r.endsAt.getTime());
      return { failures: rows.reduce((n, r) => n + r.failures, 0), locked: locked.length > 0, resetsAt: new Date(Math.max(...ends)) };
    },
  };
}

/** `login.locked` for each lock a failed attempt just set (the address's carries no subject). */
export function recordLocks(audit: Audit, lockedNow: { account: boolean; address: boolean }, facts: { subject: string | undefined; factor: string; clientId: string | undefined; actor?: string }): void {
  const { subject, factor, clientId, actor } = facts;
  if (lockedNow.account) audit.record({ type: 'login.locked', outcome: 'failure', actor, subject, clientId, detail: { scope: 'account', factor } });
  if (lockedNow.address) audit.record({ type: 'login.locked', outcome: 'failure', clientId, detail: { scope: 'address', factor } });
}
