/**
 * What a signed-in user may do to their own account, for the /account page
 * (issue 19 §2): every method takes the account id the page's session proved
 * and acts only on that account's objects, with the user as the actor, so the
 * services audit it as the user's own change. A `notifier` (the email
 * helper's security notices) is told of each change after it is made; a
 * failure to notify never undoes or fails the change.
 */
import { PasswordRefusedError, type Account, type AccountService, type SignInOrigin } from './accounts.js';
import type { Actor } from '../audit/events.js';
import { createAuditStore, type AuditRow } from '../audit/store.js';
import type { Db } from '../db/index.js';
import type { MfaService, MfaStatus } from '../mfa/mfa.js';
import type { Passkey, PasskeyService } from '../passkeys/passkeys.js';
import type { GrantView, SessionService, SessionView } from '../sessions/sessions.js';

/** A change a user should hear about from somewhere other than the page (RFC-less, OWASP ASVS V2.2.3). */
export type AccountNotice =
  | { kind: 'password_changed'; accountId: string }
  | { kind: 'factor_removed'; accountId: string; factor: 'totp' | 'passkey' }
  | { kind: 'recovery_codes_replaced'; accountId: string }
  | { kind: 'signed_out_everywhere'; accountId: string };

/** The hook the mail service plugs into; none by default. */
export interface AccountNotifier {
  notify(notice: AccountNotice): Promise<void>;
}

export interface AccountOverview {
  account: Account;
  totp: MfaStatus;
  passkeys: Passkey[];
  sessions: SessionView[];
  grants: GrantView[];
}

export type PasswordChange =
  | { ok: true }
  /** `message`: for the page, says what to fix. */
  | { ok: false; reason: 'wrong_password' | 'refused' | 'locked'; message: string; retryAfterSeconds?: number };

/** The account's own security events the page lists; never another account's, never the detail blobs as stored. */
export interface SecurityEvent {
  at: Date;
  type: string;
  outcome: string | null;
  ip: string | null;
  clientId: string | null;
}

const securityTypes = ['login.', 'mfa.', 'passkey.', 'account.', 'sessions.', 'grant.'];

export interface SelfService {
  overview(accountId: string): Promise<AccountOverview | undefined>;
  /** The current password, through the lockout like a sign-in; then every session and token of the account ends. */
  changePassword(accountId: string, current: string, next: string, origin: SignInOrigin): Promise<PasswordChange>;
  signOutSession(accountId: string, sessionId: string): Promise<boolean>;
  signOutEverywhere(accountId: string): Promise<void>;
  revokeGrant(accountId: string, grantId: string): Promise<boolean>;
  renamePasskey(accountId: string, passkeyId: string, name: string): Promise<boolean>;
  removePasskey(accountId: string, passkeyId: string): Promise<boolean>;
  removeTotp(accountId: string): Promise<boolean>;
  /** Shown once by the caller; undefined when the account has no TOTP. */
  replaceRecoveryCodes(accountId: string): Promise<string[] | undefined>;
  recentActivity(accountId: string, limit?: number): Promise<SecurityEvent[]>;
}

export interface SelfServiceDeps {
  db: Db;
  accounts: AccountService;
  mfa: MfaService;
  passkeys: PasskeyService;
  sessions: SessionService;
  notifier?: AccountNotifier | undefined;
  /** Where a failed notification is reported (the logger). */
  onNotifyError?: (error: unknown, notice: AccountNotice) => void;
}

export function createSelfService(deps: SelfServiceDeps): SelfService {
  const { accounts, mfa, passkeys, sessions } = deps;
  const audit = createAuditStore(deps.db);
  const user = (accountId: string): Actor => ({ kind: 'user', userId: accountId });

  async function tell(notice: AccountNotice): Promise<void> {
    await deps.notifier?.notify(notice).catch((error: unknown) => deps.onNotifyError?.(error, notice));
  }

  return {
    async overview(accountId) {
      const account = await accounts.findById(accountId);
      if (!account || account.disabled) return undefined;
      const [totp, keys, live, grants] = await Promise.all([mfa.status(accountId), passkeys.list(accountId), sessions.listSessions(accountId), sessions.listGrants(accountId)]);
      return { account, totp, passkeys: keys, sessions: live, grants };
    },

    async changePassword(accountId, current, next, origin) {
      const account = await accounts.findById(accountId);
      if (!account) return { ok: false, reason: 'wrong_password', message: 'Your current password is incorrect.' };
      // The rules first: a refused new password costs no lockout attempt and no argon2 time.
      const refusal = accounts.passwordRefusal(next, [account.username, account.email, account.name, account.givenName, account.familyName]);
      if (refusal) return { ok: false, reason: 'refused', message: `The new ${refusal}.` };
      const checked = await accounts.signIn(account.username, current, origin);
      if (!checked.ok) {
        if (checked.reason === 'locked') return { ok: false, reason: 'locked', message: 'Too many failed attempts. Try again later.', retryAfterSeconds: checked.retryAfterSeconds };
        return { ok: false, reason: 'wrong_password', message: 'Your current password is incorrect.' };
      }
      try {
        // setPassword ends every session and token of the account (src/sessions signOutEverywhere, reason password_changed).
        await accounts.setPassword(user(accountId), accountId, next);
      } catch (error) {
        if (error instanceof PasswordRefusedError) return { ok: false, reason: 'refused', message: `The new ${error.message}.` };
        throw error;
      }
      await tell({ kind: 'password_changed', accountId });
      return { ok: true };
    },

    signOutSession: (accountId, sessionId) => sessions.revokeSession(user(accountId), accountId, sessionId),

    async signOutEverywhere(accountId) {
      await sessions.signOutEverywhere(user(accountId), accountId, 'sign_out_everywhere');
      await tell({ kind: 'signed_out_everywhere', accountId });
    },

    revokeGrant: (accountId, grantId) => sessions.revokeGrant(user(accountId), accountId, grantId),

    renamePasskey: (accountId, passkeyId, name) => passkeys.rename(user(accountId), accountId, passkeyId, name),

    async removePasskey(accountId, passkeyId) {
      const removed = await passkeys.remove(user(accountId), accountId, passkeyId);
      if (removed) await tell({ kind: 'factor_removed', accountId, factor: 'passkey' });
      return removed;
    },

    async removeTotp(accountId) {
      const removed = await mfa.reset(user(accountId), accountId);
      if (removed) await tell({ kind: 'factor_removed', accountId, factor: 'totp' });
      return removed;
    },

    async replaceRecoveryCodes(accountId) {
      const codes = await mfa.regenerateRecoveryCodes(user(accountId), accountId);
      if (codes) await tell({ kind: 'recovery_codes_replaced', accountId });
      return codes;
    },

    async recentActivity(accountId, limit = 20) {
      // The filter matches actor or subject; only rows about this account are kept (an operator acting on it included).
      const rows: AuditRow[] = (await audit.search({ actor: accountId, limit: limit * 4 })).reverse();
      return rows
        .filter((r) => r.subject === accountId && securityTypes.some((t) => r.type.startsWith(t)))
        .slice(0, limit)
        .map((r) => ({ at: r.occurredAt, type: r.type, outcome: r.outcome, ip: r.ip, clientId: r.clientId }));
    },
  };
}
