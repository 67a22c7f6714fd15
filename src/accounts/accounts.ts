import { randomUUID } from 'node:crypto';

import type { Db } from '../db/index.js';
import { createPasswordHasher, type Argon2Params } from './passwords.js';
import { newAccountSchema, passwordSchema, type NewAccount } from './schemas.js';
import { createAccountStore, type AccountRow } from './store.js';

export interface Account {
  id: string;
  username: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type AuthenticationResult =
  | { ok: true; account: Account }
  | { ok: false; reason: 'unknown_account' | 'wrong_password' | 'disabled' };

export class AccountError extends Error {
  override name = 'AccountError';
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
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Standard claims (OIDC Core §5.1) released per scope; `sub` is the account id. */
export function standardClaims(account: Account): Record<string, unknown> {
  return {
    sub: account.id,
    preferred_username: account.username,
    name: account.name ?? undefined,
    given_name: account.givenName ?? undefined,
    family_name: account.familyName ?? undefined,
    updated_at: Math.floor(account.updatedAt.getTime() / 1000),
    email: account.email ?? undefined,
    email_verified: account.email ? account.emailVerified : undefined,
  };
}

export function createAccountService(db: Db, argon2: Argon2Params) {
  const store = createAccountStore(db);
  const passwords = createPasswordHasher(argon2);

  async function resolve(idOrLogin: string): Promise<AccountRow | undefined> {
    return (await store.findById(idOrLogin)) ?? (await store.findByLogin(idOrLogin));
  }

  return {
    async create(input: NewAccount): Promise<Account> {
      const parsed = newAccountSchema.parse(input);
      const existing = await store.findByLogin(parsed.username);
      if (existing) throw new AccountError(`an account named ${parsed.username} already exists`);
      if (parsed.email && (await store.findByLogin(parsed.email))) throw new AccountError('an account with that email already exists');
      const row = await store.insert({
        id: randomUUID(),
        username: parsed.username,
        email: parsed.email ?? null,
        emailVerified: parsed.emailVerified,
        name: parsed.name ?? null,
        givenName: parsed.givenName ?? null,
        familyName: parsed.familyName ?? null,
        passwordHash: await passwords.hash(parsed.password),
      });
      return toAccount(row);
    },

    /**
     * Checks a password. Unknown accounts cost the same argon2 time as known
     * ones; disabled accounts are checked too, so a disabled answer is only
     * given to someone who knows the password.
     */
    async authenticate(login: string, password: string): Promise<AuthenticationResult> {
      const row = await store.findByLogin(login);
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
    },

    async findById(id: string): Promise<Account | undefined> {
      const row = await store.findById(id);
      return row ? toAccount(row) : undefined;
    },

    /** Id, username or email: what an operator types on the command line. */
    async find(idOrLogin: string): Promise<Account | undefined> {
      const row = await resolve(idOrLogin);
      return row ? toAccount(row) : undefined;
    },

    async list(): Promise<Account[]> {
      return (await store.list()).map(toAccount);
    },

    async setDisabled(idOrLogin: string, disabled: boolean): Promise<Account> {
      const row = await resolve(idOrLogin);
      if (!row) throw new AccountError('no such account');
      await store.setDisabled(row.id, disabled);
      return { ...toAccount(row), disabled };
    },

    async setPassword(idOrLogin: string, password: string): Promise<Account> {
      const row = await resolve(idOrLogin);
      if (!row) throw new AccountError('no such account');
      await store.setPasswordHash(row.id, await passwords.hash(passwordSchema.parse(password)));
      return toAccount(row);
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
