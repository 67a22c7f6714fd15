/**
 * The console's backend-for-frontend sessions (issue 16, docs/console.md).
 * The browser gets a random 256-bit id; the database keeps its SHA-256
 * (invariant 1: a dump yields no usable session) and the operator's admin
 * access token sealed under the master secret, bound to that hash. A
 * session lives exactly as long as its token: past it the console signs in
 * again (silently while the Gatehouse sign-in session lasts), and writes
 * that the admin API finds stale ask for the second factor again.
 * The sealed tokens live minutes, so `keys rewrap` leaves them to expire.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import type { Expiring } from '../artifacts/cleanup.js';
import { sha256 } from '../crypto/digest.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db } from '../db/index.js';
import { createConsoleSessionStore } from './store.js';

export interface ConsoleSession {
  accountId: string;
  accessToken: string;
  authTime: Date;
  expiresAt: Date;
  /** The token the console's writes must echo (X-CSRF-Token), derived from the session id. */
  csrf: string;
}

export interface ConsoleSessions extends Expiring {
  start(input: { accountId: string; accessToken: string; authTime: Date; expiresAt: Date }): Promise<{ id: string; session: ConsoleSession }>;
  /** The live session the cookie value names, or undefined (unknown, expired, ended, malformed). */
  find(id: string): Promise<ConsoleSession | undefined>;
  end(id: string): Promise<void>;
  /** The sign-in in flight (state, nonce, PKCE verifier), sealed for a cookie the browser cannot read or forge. */
  sealPending(value: Record<string, string>): string;
  openPending(sealed: string | undefined): Record<string, string> | undefined;
  /** Constant-time check of a write's CSRF token against the session's. */
  csrfMatches(session: ConsoleSession, given: string | undefined): boolean;
}

const idPattern = /^[A-Za-z0-9_-]{43}$/;

export function createConsoleSessions(db: Db, secrets: SecretBox): ConsoleSessions {
  const store = createConsoleSessionStore(db);
  const csrfKey = secrets.deriveKey('console-csrf');
  const csrfOf = (id: string) => createHmac('sha256', csrfKey).update(id).digest('base64url');
  const context = (idHash: Buffer) => idHash.toString('hex');

  return {
    async start({ accountId, accessToken, authTime, expiresAt }) {
      const id = randomBytes(32).toString('base64url');
      const idHash = sha256(id);
      await store.insert(idHash, { account_id: accountId, token_sealed: secrets.seal('console-session', context(idHash), accessToken), auth_time: authTime, expires_at: expiresAt });
      return { id, session: { accountId, accessToken, authTime, expiresAt, csrf: csrfOf(id) } };
    },
    async find(id) {
      if (!idPattern.test(id)) return undefined;
      const idHash = sha256(id);
      const row = await store.findLive(idHash);
      if (!row) return undefined;
      return {
        accountId: row.account_id,
        accessToken: secrets.open('console-session', context(idHash), row.token_sealed),
        authTime: new Date(row.auth_time),
        expiresAt: new Date(row.expires_at),
        csrf: csrfOf(id),
      };
    },
    async end(id) {
      if (idPattern.test(id)) await store.delete(sha256(id));
    },
    sealPending: (value) => secrets.seal('console-session', 'pending-sign-in', JSON.stringify({ ...value, at: String(Date.now()) })),
    openPending(sealed) {
      if (!sealed || sealed.length > 2000) return undefined;
      try {
        const value = JSON.parse(secrets.open('console-session', 'pending-sign-in', sealed)) as Record<string, string>;
        // A sign-in that took longer than ten minutes starts again.
        return Date.now() - Number(value.at) < 600_000 ? value : undefined;
      } catch {
        return undefined;
      }
    },
    csrfMatches(session, given) {
      if (typeof given !== 'string') return false;
      const a = Buffer.from(given);
      const b = Buffer.from(session.csrf);
      return a.length === b.length && timingSafeEqual(a, b);
    },
    deleteExpired: (batchSize) => store.deleteExpired(batchSize),
  };
}
