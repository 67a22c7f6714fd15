/**
 * First run (issue 16 §4): while no administrator exists, a start-up prints a
 * one-time link, and whoever opens it creates the first administrator with a
 * password and a TOTP second factor in one form. No stop / CLI / start.
 *
 * The link's token is 32 random bytes; only its SHA-256 is stored, and it
 * works once, for an hour, and only until an administrator exists (the
 * store's spend() checks that in the same statement). The person completing
 * it becomes the actor of everything that follows.
 */
import { randomBytes } from 'node:crypto';

import { recordAs, system, type Audit } from '../audit/events.js';
import { AccountError, type Account, type AccountService } from '../accounts/accounts.js';
import { newAccountSchema } from '../accounts/schemas.js';
import { sha256 } from '../crypto/digest.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db } from '../db/index.js';
import type { EnrolmentDisplay, MfaService } from '../mfa/mfa.js';
import { matchingStep } from '../mfa/totp.js';
import { createSetupStore } from './store.js';

/** An hour: long enough to read the log and open a browser, short enough that a leaked log line soon stops mattering. */
export const setupLinkLifetimeSeconds = 3600;

export interface SetupLink {
  /** The value for `/setup?token=`; shown once, never stored. */
  token: string;
  expiresAt: Date;
}

export interface OpenedSetup {
  linkId: string;
  enrolment: EnrolmentDisplay;
}

export interface FirstAdministrator {
  username: string;
  email?: string | undefined;
  password: string;
  /** The current code from the authenticator app that scanned the page's QR code. */
  code: string;
}

export type SetupResult =
  | { ok: true; account: Account; recoveryCodes: string[] }
  | { ok: false; reason: 'invalid_code' | 'taken' | 'invalid'; message: string }
  | { ok: false; reason: 'gone'; message: string };

export interface SetupService {
  /** True while no account holds the administrator marker. */
  needed(): Promise<boolean>;
  /** A fresh link, or undefined when an administrator already exists (nothing is issued then). */
  issueLink(): Promise<SetupLink | undefined>;
  /** The link's page: undefined when the link is unknown, used, expired, or no longer needed. */
  open(token: string): Promise<OpenedSetup | undefined>;
  /** Creates the administrator and turns on its second factor; the link is spent. */
  complete(token: string, input: FirstAdministrator): Promise<SetupResult>;
  /** Deletes expired links in one batch (the cleanup schedule calls it). */
  deleteExpired(batchSize: number): Promise<number>;
}

export interface SetupDeps {
  db: Db;
  secrets: SecretBox;
  audit: Audit;
  accounts: AccountService;
  mfa: MfaService;
}

const seedContext = (linkId: string) => `setup-link:${linkId}`;
const gone = { ok: false, reason: 'gone', message: 'This setup link has been used, has expired, or an administrator already exists.' } as const;

export function createSetupService({ db, secrets, audit, accounts, mfa }: SetupDeps): SetupService {
  const store = createSetupStore(db);
  const hashOf = (token: string) => sha256(`setup-link:${token}`);

  async function usable(token: string) {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    if (await store.adminExists()) return undefined;
    return store.findUsable(hashOf(token));
  }

  return {
    needed: async () => !(await store.adminExists()),
    deleteExpired: (batchSize) => store.deleteExpired(batchSize),

    async issueLink() {
      if (await store.adminExists()) return undefined;
      const token = randomBytes(32).toString('base64url');
      const id = randomBytes(8).toString('hex');
      const expiresAt = new Date(Date.now() + setupLinkLifetimeSeconds * 1000);
      await store.insert({ id, tokenHash: hashOf(token), expiresAt });
      recordAs(audit, system, { type: 'setup.link_issued', detail: { link: id, expires_at: expiresAt.toISOString() } });
      return { token, expiresAt };
    },

    async open(token) {
      const link = await usable(token);
      if (!link) return undefined;
      // One seed per link, so a reload (or a second tab) shows the QR code the app already scanned.
      const sealed = link.seed_ciphertext ?? (await store.setSeedOnce(link.id, secrets.seal('totp-seed', seedContext(link.id), mfa.newSeed())));
      const seed = secrets.open('totp-seed', seedContext(link.id), sealed);
      return { linkId: link.id, enrolment: await mfa.describeEnrolment('administrator', seed) };
    },

    async complete(token, input) {
      const link = await usable(token);
      if (!link?.seed_ciphertext) return gone;
      const parsed = newAccountSchema.safeParse({ username: input.username, email: input.email || undefined, password: input.password });
      if (!parsed.success) return { ok: false, reason: 'invalid', message: parsed.error.issues[0]?.message ?? 'Check the form.' };
      const refusal = accounts.passwordRefusal(parsed.data.password, [parsed.data.username, parsed.data.email]);
      if (refusal) return { ok: false, reason: 'invalid', message: refusal.charAt(0).toUpperCase() + refusal.slice(1) + '.' };
      const seed = secrets.open('totp-seed', seedContext(link.id), link.seed_ciphertext);
      // The code first: a wrong code costs nothing and leaves the link usable.
      if ((await matchingStep(seed, input.code)) === undefined) {
        return { ok: false, reason: 'invalid_code', message: 'That code is not the one your authenticator app shows now. Check the app and try again.' };
      }
      const login = parsed.data.username;
      if ((await accounts.find(login)) || (parsed.data.email && (await accounts.find(parsed.data.email)))) {
        return { ok: false, reason: 'taken', message: 'An account with that username or email already exists. Choose another.' };
      }
      if (!(await db.transaction((tx) => store.spend(link.id, tx)))) return gone;
      let account: Account;
      try {
        account = await accounts.create(system, { ...parsed.data, emailVerified: false });
      } catch (error) {
        if (error instanceof AccountError) return { ok: false, reason: 'taken', message: 'An account with that username or email already exists. Get a new link with `gatehouse admin setup-link`.' };
        throw error;
      }
      const actor = { kind: 'user', userId: account.id } as const;
      const enrolled = await mfa.confirmEnrolment(actor, account.id, seed, input.code);
      if (!enrolled.ok) throw new Error(`first-run enrolment failed after the code was checked: ${enrolled.reason}`);
      const admin = await accounts.setAdmin(system, account.id, true);
      recordAs(audit, actor, { type: 'setup.completed', subject: account.id, detail: { link: link.id, username: account.username } });
      return { ok: true, account: admin, recoveryCodes: enrolled.recoveryCodes };
    },
  };
}
