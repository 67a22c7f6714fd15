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

import type { Db } from '../db/index.js';
import { addressBucket } from '../http/client-ip.js';
import { createLockoutStore, type Reserved } from './lockout-store.js';

export interface LockoutSettings {
  maxFailures: number;
  maxFailuresPerIp: number;
  windowSeconds: number;
}

/** Who an attempt is about: a known account, or a login name that matches none. */
export type LockoutSubject = { accountId: string } | { unknownLogin: string };

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
  | { allowed: false; retryAfterSeconds: number };

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
  /** A sign-in completed with every factor: the account starts afresh (its address does not). */
  reset(accountId: string): Promise<void>;
  /** Operator unlock: the account's counter, and those of its login names in case they were tried before it existed. */
  unlock(accountId: string, loginNames: readonly string[]): Promise<boolean>;
  status(accountId: string): Promise<LockoutStatus>;
}

export function createLockout(db: Db, settings: LockoutSettings, bucketKey: Buffer): Lockout {
  const store = createLockoutStore(db);
  const { maxFailures, maxFailuresPerIp, windowSeconds } = settings;

  const accountBucket = (accountId: string) => `account:${accountId}`;
  // A name that matches no account is often a password typed into the wrong
  // field, so it is never stored: only an HMAC under a key derived from the
  // master secret (a plain hash of a password-like string could be cracked).
  const unknownLoginBucket = (login: string) => `login:${createHmac('sha256', bucketKey).update(login.trim().toLowerCase()).digest('base64url')}`;
  const bucketOf = (subject: LockoutSubject) => ('accountId' in subject ? accountBucket(subject.accountId) : unknownLoginBucket(subject.unknownLogin));

  async function refused(bucket: string): Promise<Attempt> {
    return { allowed: false, retryAfterSeconds: Math.max(1, await store.secondsLeft(bucket, windowSeconds)) };
  }

  return {
    /**
     * Counts an attempt for `subject` from `ip` before its credential is
     * checked. Refused when either bucket is full; the same answer whether
     * the account exists or not, and whichever bucket refused.
     */
    async attempt(subject: LockoutSubject, ip: string): Promise<Attempt> {
      // An IPv6 client usually holds a whole /64, so that is what an address means here.
      const ipBucket = `ip:${addressBucket(ip)}`;
      const byIp = await store.reserve(ipBucket, maxFailuresPerIp, windowSeconds);
      if (!byIp) return refused(ipBucket);
      const subjectBucket = bucketOf(subject);
      const bySubject = await store.reserve(subjectBucket, maxFailures, windowSeconds);
      if (!bySubject) {
        // Nothing was checked, so the address owes nothing for it.
        await store.release(ipBucket, byIp.window);
        return refused(subjectBucket);
      }
      const reserved: Array<[string, Reserved]> = [[ipBucket, byIp], [subjectBucket, bySubject]];
      return {
        allowed: true,
        async succeeded() {
          for (const [bucket, r] of reserved) await store.release(bucket, r.window);
        },
        failed: () => ({ locked: bySubject.failures >= maxFailures, addressLocked: byIp.failures >= maxFailuresPerIp }),
      };
    },

    /** A sign-in completed with every factor: the account starts afresh (its address does not). */
    async reset(accountId: string): Promise<void> {
      await store.clear([accountBucket(accountId)]);
      // Housekeeping rides on successful sign-ins rather than a timer of its own.
      await store.deleteExpired(windowSeconds);
    },

    /** Operator unlock: the account's counter, and those of its login names in case they were tried before it existed. */
    async unlock(accountId: string, loginNames: readonly string[]): Promise<boolean> {
      const removed = await store.clear([accountBucket(accountId), ...loginNames.map(unknownLoginBucket)]);
      return removed > 0;
    },

    async status(accountId: string): Promise<LockoutStatus> {
      const row = await store.find(accountBucket(accountId), windowSeconds);
      if (!row) return { failures: 0, locked: false, resetsAt: undefined };
      return { failures: row.failures, locked: row.failures >= maxFailures, resetsAt: row.endsAt };
    },
  };
}

