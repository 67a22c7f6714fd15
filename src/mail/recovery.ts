/**
 * Password recovery by email (issue 19 §3). A request names a username or
 * an address and is always answered the same, at once: the lookup, the rate
 * limits and the message happen after the answer (`request` returns before
 * any of it), so neither the page nor its timing tells whether an account
 * exists. The link's token is 256 random bits, kept only as its SHA-256,
 * single-use, short-lived, replaced by any newer link, and dead once the
 * account's address changes or the account is disabled.
 *
 * The link is one factor (the mailbox). An account with an authenticator
 * app must also give a current code or a recovery code, through the
 * lockout, so a read mailbox alone does not take the account. An account
 * whose only second factor is a passkey cannot be recovered here: its
 * owner signs in with the passkey alone (passwordless) and changes the
 * password on the account page, or asks an operator.
 *
 * A completed reset sets the password through the accounts service, which
 * ends every session and token of the account (src/sessions/) and, through
 * the audit event, sends the "password reset" notice (notices.ts).
 */
import { randomBytes } from 'node:crypto';

import type { AccountService } from '../accounts/accounts.js';
import { passwordSchema } from '../accounts/schemas.js';
import { recordAs, type Audit } from '../audit/events.js';
import { sha256 } from '../crypto/digest.js';
import type { LimiterFactory } from '../db/counters.js';
import type { Db } from '../db/index.js';
import type { MfaService } from '../mfa/mfa.js';
import type { MailService } from './mail.js';

export interface RecoverySettings {
  issuer: string;
  ttlSeconds: number;
  perAccount: { count: number; windowSeconds: number };
  perIp: { count: number; windowSeconds: number };
}

/** What the reset page needs to know about an open link. */
export interface OpenedLink {
  accountId: string;
  username: string;
  /** `totp`: the form asks for a code; `passkey_only`: this page cannot finish the reset. */
  secondFactor: 'none' | 'totp' | 'passkey_only';
}

export type ResetResult =
  | { ok: true; username: string }
  | { ok: false; reason: 'gone' | 'passkey_only' }
  | { ok: false; reason: 'password' | 'second_factor'; message: string }
  | { ok: false; reason: 'locked'; retryAfterSeconds: number };

export interface PasswordRecovery {
  readonly enabled: boolean;
  /**
   * Starts a reset for `login` in the background, once `after` settles (the page passes the end of
   * its response, so not even the event loop's share of the work lands inside the answer's timing).
   */
  request(login: string, origin: { ip: string }, after?: Promise<unknown>): void;
  /** Resolves when every background request has finished (tests, shutdown). */
  idle(): Promise<void>;
  open(token: string): Promise<OpenedLink | undefined>;
  complete(token: string, input: { password: string; code?: string | undefined }, origin: { ip: string }): Promise<ResetResult>;
}

export interface RecoveryDeps {
  db: Db;
  mail: MailService;
  accounts: AccountService;
  mfa: Pick<MfaService, 'hasTotp' | 'hasFactor' | 'verifyTotp' | 'useRecoveryCode'>;
  counters: LimiterFactory;
  audit: Audit;
  settings: RecoverySettings;
}

/** The token in a link: 32 random bytes, base64url. */
export const linkTokenPattern = /^[A-Za-z0-9_-]{43}$/;
export const newLinkToken = () => randomBytes(32).toString('base64url');

export function createPasswordRecovery(deps: RecoveryDeps): PasswordRecovery {
  const { db, mail, accounts, mfa, audit, settings } = deps;
  const perAccount = deps.counters.limiter('password_reset_account', settings.perAccount.count, settings.perAccount.windowSeconds);
  const perIp = deps.counters.limiter('password_reset_ip', settings.perIp.count, settings.perIp.windowSeconds);
  const inFlight = new Set<Promise<void>>();
  /** A limiter that refuses, or whose store fails, sends nothing (fail closed). */
  const allowed = (consume: Promise<unknown>) => consume.then(() => true, () => false);

  async function start(login: string, ip: string): Promise<void> {
    if (!(await allowed(perIp.consume(ip)))) {
      audit.record({ type: 'password_reset.requested', outcome: 'failure', detail: { reason: 'rate_limited', scope: 'address' } });
      return;
    }
    const account = await accounts.find(login);
    // Unknown names are counted too (by the name), so an unknown name and a known one cost the same work.
    if (!(await allowed(perAccount.consume(account?.id ?? `name:${login.toLowerCase()}`)))) {
      audit.record({ type: 'password_reset.requested', outcome: 'failure', subject: account?.id, detail: { reason: 'rate_limited', scope: 'account' } });
      return;
    }
    if (!account || account.disabled || !account.email) {
      audit.record({ type: 'password_reset.requested', outcome: 'failure', subject: account?.id, detail: { reason: !account ? 'unknown_account' : account.disabled ? 'disabled' : 'no_email' } });
      return;
    }
    const token = newLinkToken();
    const link = `${settings.issuer}/recovery/reset?token=${token}`;
    const email = account.email;
    await db.transaction(async (tx) => {
      await mail.store.insertLink(tx, { tokenHash: sha256(token), purpose: 'password_reset', accountId: account.id, email, ttlSeconds: settings.ttlSeconds });
      await mail.queue(tx, 'password_reset', account, { link, minutes: Math.round(settings.ttlSeconds / 60) });
    });
    await mail.kick();
    recordAs(audit, { kind: 'user', userId: account.id }, { type: 'password_reset.requested', subject: account.id, detail: { sent: true } });
  }

  async function secondFactorOf(accountId: string): Promise<OpenedLink['secondFactor']> {
    if (await mfa.hasTotp(accountId)) return 'totp';
    return (await mfa.hasFactor(accountId)) ? 'passkey_only' : 'none';
  }

  return {
    enabled: mail.enabled,

    request(login, origin, after = Promise.resolve()) {
      if (!mail.enabled) return;
      const job = after
        .then(() => start(login.trim(), origin.ip))
        .catch((error: unknown) => {
          audit.record({ type: 'password_reset.requested', outcome: 'failure', detail: { reason: 'error', error: error instanceof Error ? error.message.slice(0, 200) : 'unknown' } });
        })
        .finally(() => inFlight.delete(job));
      inFlight.add(job);
    },

    async idle() {
      while (inFlight.size) await Promise.all([...inFlight]);
    },

    async open(token) {
      if (!linkTokenPattern.test(token)) return undefined;
      const link = await mail.store.findLink(sha256(token), 'password_reset');
      if (!link) return undefined;
      const account = await accounts.findById(link.account_id);
      if (!account) return undefined;
      return { accountId: account.id, username: account.username, secondFactor: await secondFactorOf(account.id) };
    },

    async complete(token, input, origin) {
      const opened = await this.open(token);
      if (!opened) return { ok: false, reason: 'gone' };
      if (opened.secondFactor === 'passkey_only') return { ok: false, reason: 'passkey_only' };
      const password = passwordSchema.safeParse(input.password);
      if (!password.success) return { ok: false, reason: 'password', message: password.error.issues[0]?.message ?? 'Choose another password.' };
      // The password rules (src/accounts/password-rules.ts) judge before the link is spent, so a refused password costs nothing.
      const account = await accounts.findById(opened.accountId);
      const refusal = account && accounts.passwordRefusal(password.data, [account.username, account.email, account.name, account.givenName, account.familyName]);
      if (refusal) return { ok: false, reason: 'password', message: refusal };
      if (opened.secondFactor === 'totp') {
        const code = (input.code ?? '').trim();
        if (!code) return { ok: false, reason: 'second_factor', message: 'Enter the code your authenticator app shows, or a recovery code.' };
        const result = /^\d{6}$/.test(code) ? await mfa.verifyTotp(opened.accountId, code, origin) : await mfa.useRecoveryCode(opened.accountId, code, origin);
        if (!result.ok && result.reason === 'locked') return { ok: false, reason: 'locked', retryAfterSeconds: result.retryAfterSeconds };
        if (!result.ok) return { ok: false, reason: 'second_factor', message: 'That code did not work. Try the current code, or a recovery code.' };
      }
      // Spent before the password is set: of two requests with one link, only one gets past here.
      const spent = await db.transaction((tx) => mail.store.spendLink(tx, sha256(token), 'password_reset', opened.accountId));
      if (!spent) return { ok: false, reason: 'gone' };
      const actor = { kind: 'user' as const, userId: opened.accountId };
      await accounts.setPassword(actor, opened.accountId, password.data, { via: 'password_reset' });
      // Whoever was locked out by guesses at the old password is let back in with the new one.
      await accounts.unlock(actor, opened.accountId);
      recordAs(audit, actor, { type: 'password_reset.completed', subject: opened.accountId, detail: { secondFactor: opened.secondFactor } });
      return { ok: true, username: opened.username };
    },
  };
}
