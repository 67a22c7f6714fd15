import { randomUUID } from 'node:crypto';

import type { z } from 'zod';

import { recordAs, type Actor, type Audit, type EventOrigin } from '../audit/events.js';
import type { Db } from '../db/index.js';
import { recordLocks, type Lockout, type LockoutStatus } from './lockout.js';
import { passwordRefusal } from './password-rules.js';
import { AccountError, createProfileOperations, type AccountChange, type ProfileChanges } from './profile.js';
import { createPasswordHasher, type Argon2Params } from './passwords.js';
import { newAccountSchema, passwordSchema, type NewAccount } from './schemas.js';
import { createAccountStore, type AccountRow } from './store.js';

export { AccountError, type AccountChange, type ProfileChanges };

export interface Account {
  id: string;
  username: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  disabled: boolean;
  /** May use the admin API with a user token (the marker until RBAC lands). */
  admin: boolean;
  createdAt: Date;
  updatedAt: Date;
  /** Moves on with every write to the account, whichever path makes it (migration 0023): the admin API's ETag. */
  version: number;
}

export type AuthenticationResult =
  | { ok: true; account: Account }
  | { ok: false; reason: 'unknown_account' | 'wrong_password' | 'disabled' };

/** A sign-in attempt through the lockout: also refused outright while the account or address is locked. */
export type SignInResult =
  | { ok: true; account: Account }
  /** `accountId` (when the name matched an account) is for the audit log, never for the page. */
  | { ok: false; reason: 'locked'; retryAfterSeconds: number; accountId: string | undefined }
  /** `lockedNow`: this failure used the account's (or address's) last attempt. */
  | { ok: false; reason: 'unknown_account' | 'wrong_password' | 'disabled'; lockedNow: { account: boolean; address: boolean }; accountId: string | undefined };

/** Not an argon2 hash: argon2.verify refuses it, so no password signs such an account in. */
const noPassword = '!no-password';

/** A new password the rules refuse (src/accounts/password-rules.ts); the message says why, for the person who chose it. */
export class PasswordRefusedError extends AccountError {
  override name = 'PasswordRefusedError';
}

function toAccount(row: AccountRow): Account {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    emailVerified: row.email_verified,
    name: row.name,
    givenName: row.given_name,
    familyName: row.family_name,
    disabled: row.disabled,
    admin: row.admin,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: Number(row.version),
  };
}

/** A sign-in step: the address the lockout counts, and the client the interaction serves. */
export interface SignInOrigin extends EventOrigin {
  ip: string;
}

export interface AccountService {
  /** `detail` joins the `account.created` event (`via: 'signup'`, `via: 'invitation'`). */
  create(actor: Actor, input: NewAccount, detail?: Record<string, unknown>): Promise<Account>;
  /**
   * An account with no password (created just in time for a user an upstream
   * identity provider vouches for, src/federation/): the password page can
   * never sign it in, since the stored value is not an argon2 hash.
   */
  createWithoutPassword(actor: Actor, input: Omit<NewAccount, 'password'>, detail?: Record<string, unknown>): Promise<Account>;
  /** Assigns or removes the administrator role (`gatehouse users set-admin`, PATCH /admin/v1/users/{id}). */
  setAdmin(actor: Actor, idOrLogin: string, admin: boolean): Promise<Account>;
  /** Replaces the profile fields named in `changes`; email changes must not collide with another account. */
  updateProfile(actor: Actor, id: string, changes: ProfileChanges): Promise<Account>;
  /**
   * Profile fields and the administrator marker at once, if the account's
   * version is still `expectedVersion` (compare-and-set: PATCH
   * /admin/v1/users/{id} with If-Match); 'stale' when another write came first.
   */
  update(actor: Actor, id: string, change: AccountChange, expectedVersion: number): Promise<Account | 'stale'>;
  /** Checks a password, outside the lockout (operator tools and tests). */
  authenticate(login: string, password: string): Promise<AuthenticationResult>;
  /**
  * The sign-in page's password check: counted by the lockout before
  * argon2 runs, so a locked account or address costs no hashing and
  * parallel guesses cannot overrun the limit. A right password gives its
  * attempt back but does not reset the account's count: that waits for
  * the sign-in to complete (see lockout.ts). Failures are audited (the
  * login name is not: it is often a password typed into the wrong field).
  */
  signIn(login: string, password: string, origin: SignInOrigin): Promise<SignInResult>;
  /**
  * Ends a sign-in with every factor proven: the account's failure count
  * starts afresh (only here, see lockout.ts) and `login.success` is
  * recorded. Undefined when the account was disabled (or removed) while its
  * second factor was being entered.
  */
  completeSignIn(accountId: string, facts: { acr: string; amr: string[] }, origin?: EventOrigin): Promise<Account | undefined>;
  findById(id: string): Promise<Account | undefined>;
  /** Id, username or email: what an operator types on the command line. */
  find(idOrLogin: string): Promise<Account | undefined>;
  list(): Promise<Account[]>;
  setDisabled(actor: Actor, idOrLogin: string, disabled: boolean): Promise<Account>;
  /** Why the rules refuse `password` for this account (or a new one with these identifiers); undefined when they allow it. */
  passwordRefusal(password: string, identifiers: ReadonlyArray<string | null | undefined>): string | undefined;
  /** `detail` joins the audit event (`via: 'password_reset'` picks the reset notice, src/mail/notices.ts). */
  setPassword(actor: Actor, idOrLogin: string, password: string, detail?: Record<string, unknown>): Promise<Account>;
  /** Where the account stands in the lockout: failures in the current window and whether it is locked. */
  lockoutStatus: (accountId: string) => Promise<LockoutStatus>;
  /** Clears the account's lockout; returns whether there was anything to clear (only that is audited). */
  unlock(actor: Actor, idOrLogin: string): Promise<{
    account: Account;
    cleared: boolean;
  }>;
}

/** Ends an account's sessions and tokens (src/sessions/) when it is disabled or its password changes. */
export type SignOut = (actor: Actor, accountId: string, reason: 'account_disabled' | 'password_changed') => Promise<unknown>;

/** GATEHOUSE_PASSWORD_MIN_LENGTH. */
export interface PasswordPolicy {
  minLength: number;
}

export function createAccountService(db: Db, argon2: Argon2Params, lockout: Lockout, audit: Audit, signOut: SignOut = async () => undefined, policy: PasswordPolicy = { minLength: 12 }): AccountService {
  const store = createAccountStore(db);
  const passwords = createPasswordHasher(argon2);
  const profiles = createProfileOperations({ db, store, audit });

  const identifiersOf = (row: Pick<AccountRow, 'username' | 'email' | 'name' | 'given_name' | 'family_name'>) => [row.username, row.email, row.name, row.given_name, row.family_name];

  function allowedPassword(password: string, identifiers: ReadonlyArray<string | null | undefined>): string {
    const refusal = passwordRefusal(password, { minLength: policy.minLength, identifiers });
    if (refusal) throw new PasswordRefusedError(refusal);
    return password;
  }

  async function resolve(idOrLogin: string): Promise<AccountRow | undefined> {
    return (await store.findById(idOrLogin)) ?? (await store.findByLogin(idOrLogin));
  }

  /**
   * Unknown accounts cost the same argon2 time as known ones; disabled
   * accounts are checked too, so a disabled answer is only given to someone
   * who knows the password.
   */
  async function checkPassword(row: AccountRow | undefined, password: string): Promise<AuthenticationResult> {
    if (!row) {
      await passwords.burnTime(password);
      return { ok: false, reason: 'unknown_account' };
    }
    if (!(await passwords.verify(row.password_hash, password))) return { ok: false, reason: 'wrong_password' };
    if (row.disabled) return { ok: false, reason: 'disabled' };
    if (passwords.needsRehash(row.password_hash)) {
      await store.setPasswordHash(row.id, await passwords.hash(password));
    }
    return { ok: true, account: toAccount(row) };
  }

  /** One place that checks a new account's names are free, stores it and audits it. */
  async function insertAccount(actor: Actor, parsed: Omit<z.output<typeof newAccountSchema>, 'password'>, passwordHash: string, detail: Record<string, unknown>): Promise<Account> {
    if (await store.findByLogin(parsed.username)) throw new AccountError(`an account named ${parsed.username} already exists`);
    if (parsed.email && (await store.findByLogin(parsed.email))) throw new AccountError('an account with that email already exists');
    const row = await store.insert({
      id: randomUUID(),
      username: parsed.username,
      email: parsed.email ?? null,
      emailVerified: parsed.emailVerified,
      name: parsed.name ?? null,
      givenName: parsed.givenName ?? null,
      familyName: parsed.familyName ?? null,
      passwordHash,
    });
    recordAs(audit, actor, { type: 'account.created', subject: row.id, detail: { ...detail, username: row.username } });
    return toAccount(row);
  }

  return {
    async create(actor: Actor, input: NewAccount, detail: Record<string, unknown> = {}): Promise<Account> {
      const parsed = newAccountSchema.parse(input);
      return insertAccount(actor, parsed, await passwords.hash(allowedPassword(parsed.password, [parsed.username, parsed.email, parsed.name, parsed.givenName, parsed.familyName])), detail);
    },

    async createWithoutPassword(actor: Actor, input: Omit<NewAccount, 'password'>, detail: Record<string, unknown> = {}): Promise<Account> {
      return insertAccount(actor, newAccountSchema.omit({ password: true }).parse(input), noPassword, { ...detail, password: false });
    },

    async authenticate(login: string, password: string): Promise<AuthenticationResult> {
      return checkPassword(await store.findByLogin(login), password);
    },

    async signIn(login: string, password: string, origin: SignInOrigin): Promise<SignInResult> {
      const row = await store.findByLogin(login);
      const failure = (reason: string, accountId: string | undefined) =>
        audit.record({ type: 'login.failure', outcome: 'failure', subject: accountId, clientId: origin.clientId, detail: { factor: 'password', reason } });
      const attempt = await lockout.attempt({ login, accountId: row?.id }, origin.ip);
      if (!attempt.allowed && !attempt.accountLocked) {
        failure('locked', row?.id);
        return { ok: false, reason: 'locked', retryAfterSeconds: attempt.retryAfterSeconds, accountId: row?.id };
      }
      if (!attempt.allowed) {
        // Another name of a locked account: answered as a wrong password, after the same argon2 time.
        await passwords.burnTime(password);
        failure('locked', row?.id);
        return { ok: false, reason: 'wrong_password', lockedNow: { account: false, address: false }, accountId: row?.id };
      }
      const result = await checkPassword(row, password);
      if (result.ok) {
        await attempt.succeeded();
        return result;
      }
      // A disabled account is answered as a wrong password, right password or not (no oracle for
      // who knows it), and counted like one: there is nothing to protect by giving the attempt back.
      const { locked, addressLocked } = attempt.failed();
      failure(result.reason, row?.id);
      recordLocks(audit, { account: locked, address: addressLocked }, { subject: row?.id, factor: 'password', clientId: origin.clientId });
      return { ...result, lockedNow: { account: locked, address: addressLocked }, accountId: row?.id };
    },

    async completeSignIn(accountId: string, facts: { acr: string; amr: string[] }, origin: EventOrigin = {}): Promise<Account | undefined> {
      const row = await store.findById(accountId);
      if (!row || row.disabled) return undefined;
      await lockout.reset(accountId, [row.username, ...(row.email ? [row.email] : [])]);
      audit.record({ type: 'login.success', outcome: 'success', actor: accountId, subject: accountId, clientId: origin.clientId, detail: { acr: facts.acr, amr: facts.amr } });
      return toAccount(row);
    },

    async findById(id: string): Promise<Account | undefined> {
      const row = await store.findById(id);
      return row ? toAccount(row) : undefined;
    },

    async find(idOrLogin: string): Promise<Account | undefined> {
      const row = await resolve(idOrLogin);
      return row ? toAccount(row) : undefined;
    },

    async list(): Promise<Account[]> {
      return (await store.list()).map(toAccount);
    },

    async setDisabled(actor: Actor, idOrLogin: string, disabled: boolean): Promise<Account> {
      const row = await resolve(idOrLogin);
      if (!row) throw new AccountError('no such account');
      await store.setDisabled(row.id, disabled);
      recordAs(audit, actor, { type: disabled ? 'account.disabled' : 'account.enabled', subject: row.id });
      if (disabled) await signOut(actor, row.id, 'account_disabled');
      return { ...toAccount(row), disabled };
    },

    async setPassword(actor: Actor, idOrLogin: string, password: string, detail?: Record<string, unknown>): Promise<Account> {
      const row = await resolve(idOrLogin);
      if (!row) throw new AccountError('no such account');
      await store.setPasswordHash(row.id, await passwords.hash(allowedPassword(passwordSchema.parse(password), identifiersOf(row))));
      recordAs(audit, actor, { type: 'account.password_changed', subject: row.id, ...(detail ? { detail } : {}) });
      await signOut(actor, row.id, 'password_changed');
      return toAccount(row);
    },

    passwordRefusal: (password, identifiers) => passwordRefusal(password, { minLength: policy.minLength, identifiers }),

    async setAdmin(actor: Actor, idOrLogin: string, admin: boolean): Promise<Account> {
      const row = await resolve(idOrLogin);
      const updated = row && (await profiles.apply(actor, row.id, { admin }, null));
      if (!updated || updated === 'stale') throw new AccountError('no such account');
      return toAccount(updated);
    },

    async updateProfile(actor: Actor, id: string, changes: ProfileChanges): Promise<Account> {
      const updated = await profiles.apply(actor, id, { profile: changes }, null);
      if (!updated || updated === 'stale') throw new AccountError('no such account');
      return toAccount(updated);
    },

    async update(actor: Actor, id: string, change: AccountChange, expectedVersion: number): Promise<Account | 'stale'> {
      const updated = await profiles.apply(actor, id, change, expectedVersion);
      if (!updated) throw new AccountError('no such account');
      return updated === 'stale' ? updated : toAccount(updated);
    },

    lockoutStatus: (accountId: string) => lockout.status(accountId),

    async unlock(actor: Actor, idOrLogin: string): Promise<{ account: Account; cleared: boolean }> {
      const row = await resolve(idOrLogin);
      if (!row) throw new AccountError('no such account');
      const cleared = await lockout.unlock(row.id, [row.username, ...(row.email ? [row.email] : [])]);
      if (cleared) recordAs(audit, actor, { type: 'account.unlocked', subject: row.id });
      return { account: toAccount(row), cleared };
    },
  };
}
